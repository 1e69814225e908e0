// A small origin for proxy tests only: it records what reached it (headers, body size, whether the body was
// complete) and has routes for the failure modes the proxy must survive (ranges, hop-by-hop headers, dying
// mid-response, never answering, refusing 100-continue). The sample Immich stays the faithful API stand-in.
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  bodyBytes: number;
  /** True once the whole body arrived; false if the request was aborted part-way. */
  complete: boolean;
  sha256?: string;
}

export interface TestOrigin {
  readonly port: number;
  readonly url: string;
  readonly seen: SeenRequest[];
  /** Emits 'request' (SeenRequest) on arrival, 'settled' when its body ended or was aborted, 'ws-closed'. */
  readonly events: EventEmitter;
  close(): Promise<void>;
}

/** Deterministic content for range tests: byte i is (i * 7 + 3) mod 256. */
export const RANGE_BODY = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 0xff));

function sendJson(res: http.ServerResponse, status: number, body: unknown, extra: http.OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...extra, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function serveRange(req: http.IncomingMessage, res: http.ServerResponse): void {
  const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (!match) {
    res.writeHead(200, { 'accept-ranges': 'bytes', 'content-length': RANGE_BODY.length, etag: '"r1"' });
    return void res.end(RANGE_BODY);
  }
  const start = Number(match[1]);
  const end = match[2] ? Math.min(Number(match[2]), RANGE_BODY.length - 1) : RANGE_BODY.length - 1;
  if (start > end) {
    res.writeHead(416, { 'content-range': `bytes */${RANGE_BODY.length}` });
    return void res.end();
  }
  res.writeHead(206, { 'accept-ranges': 'bytes', 'content-range': `bytes ${start}-${end}/${RANGE_BODY.length}`, 'content-length': end - start + 1, etag: '"r1"' });
  res.end(RANGE_BODY.subarray(start, end + 1));
}

function handle(req: http.IncomingMessage, res: http.ServerResponse, record: SeenRequest, pending: Set<http.ServerResponse>): void {
  const url = new URL(req.url ?? '/', 'http://origin');
  switch (url.pathname) {
    case '/range':
      return serveRange(req, res);
    case '/hop':
      // Hop-by-hop headers, one of them only named in Connection: none may reach the client.
      res.writeHead(200, [
        'Connection',
        'X-Hop-Secret',
        'X-Hop-Secret',
        'leak',
        'Keep-Alive',
        'timeout=99',
        'Proxy-Authenticate',
        'Basic',
        'Set-Cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
        'X-End-To-End',
        'kept',
        'Content-Length',
        '2',
      ]);
      return void res.end('ok');
    case '/die': {
      // Promises a long body, sends part of it, then dies.
      res.writeHead(200, { 'content-length': 1_000_000 });
      res.write(Buffer.alloc(10_000, 1));
      setImmediate(() => res.socket?.destroy());
      return;
    }
    case '/die-chunked': {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      setImmediate(() => res.socket?.destroy());
      return;
    }
    case '/dribble': {
      // A slow but moving answer: one small chunk every `every` ms, `count` times.
      const every = Number(url.searchParams.get('every') ?? '100');
      const count = Number(url.searchParams.get('count') ?? '10');
      res.writeHead(200, { 'content-type': 'text/plain' });
      let sent = 0;
      const timer = setInterval(() => {
        res.write('.');
        if (++sent === count) {
          clearInterval(timer);
          res.end();
        }
      }, every);
      res.on('close', () => clearInterval(timer));
      return;
    }
    case '/stall':
      // Starts a chunked answer, then goes silent with the connection open.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('started');
      pending.add(res);
      return;
    case '/hang':
      pending.add(res);
      return;
    case '/status': {
      const status = Number(url.searchParams.get('code') ?? '200');
      res.writeHead(status, { 'content-length': 0 });
      return void res.end();
    }
    default:
      sendJson(res, 200, { method: req.method, url: req.url, headers: req.headers, bodyBytes: record.bodyBytes, sha256: record.sha256 });
  }
}

export async function startTestOrigin(): Promise<TestOrigin> {
  const seen: SeenRequest[] = [];
  const events = new EventEmitter();
  const pending = new Set<http.ServerResponse>();
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const record: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0, complete: false };
    seen.push(record);
    events.emit('request', record);
    const hash = crypto.createHash('sha256');
    req.on('data', (chunk: Buffer) => {
      record.bodyBytes += chunk.length;
      hash.update(chunk);
    });
    let settled = false;
    const settle = (complete: boolean) => {
      if (settled) return;
      settled = true;
      record.complete = complete;
      if (complete) record.sha256 = hash.digest('hex');
      events.emit('settled', record);
    };
    req.on('end', () => {
      settle(true);
      handle(req, res, record, pending);
    });
    req.on('close', () => settle(req.complete));
    req.on('error', () => settle(false));
  };
  const server = http.createServer({ requestTimeout: 0 }, onRequest);
  // The origin, not the proxy, decides whether a body is welcome.
  server.on('checkContinue', (req, res) => {
    if (req.url === '/reject-continue') {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0, complete: false });
      res.writeHead(403, { 'content-length': 0, connection: 'close' });
      return void res.end();
    }
    res.writeContinue();
    onRequest(req, res);
  });
  const sockets = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0, complete: true });
    if (req.url?.startsWith('/refuse-upgrade')) {
      return void socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\nno ws\n');
    }
    sockets.handleUpgrade(req, socket, head, (ws) => {
      ws.on('close', () => events.emit('ws-closed'));
      ws.on('message', (data, isBinary) => {
        if (String(data) === 'close-please') return ws.close(4001, 'asked');
        ws.send(data, { binary: isBinary });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    events,
    async close() {
      for (const res of pending) res.destroy();
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
