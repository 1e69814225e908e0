// How an HTTP/1.1-style answer goes out over HTTP/2 (src/listener/http2.ts): the head a handler builds with
// setHeader, appendHeader and writeHead (lists, objects, repeats, connection-specific fields) arrives as node's
// compatibility layer would send it, a body written at once ends the stream with its DATA frame (no empty
// frame after it),
// and trailers still work when set before the head and fail loudly after it. A listener with a test handler
// behind a TLS port of its own, read with node:http2's client and with raw frames.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import { after, before, test } from 'node:test';
import { acceptSecureSocket, createListener } from '../../src/listener/server.js';
import { createGatewayTlsServer, loadGatewayCertificate } from '../../src/tunnel/tls-listener.js';
import { connectH2, h2request } from './harness.js';
import { FLAG, FRAME, headerBlock, frame, openRawH2, requestFields } from './frames.js';

const HOST = 'answers.localhost';
const LIMITS = { maxConcurrentStreams: 100, maxHeaderListSize: 16 * 1024, resetsPerWindow: 500, controlFramesPerWindow: 100, windowMs: 10_000 };

/** node's HTTP/2 answers have setTrailer; the typings of the shared handler's response do not. */
const setTrailer = (res: http.ServerResponse, name: string, value: string) => (res as unknown as { setTrailer(n: string, v: string): void }).setTrailer(name, value);

/** What each path answers; `failures` collects what a handler threw (the trailers-after-head case). */
const failures: string[] = [];
const routes: Record<string, (res: http.ServerResponse) => void> = {
  // As the relay does behind the HTTPS port: a field set first (HSTS), then the origin's list appended.
  '/appended': (res) => {
    res.setHeader('strict-transport-security', 'max-age=60');
    for (const [name, value] of [
      ['Content-Type', 'text/plain'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
    ] as const)
      res.appendHeader(name, value);
    res.writeHead(200, 'OK');
    // As the relay writes an answer that came in one read: one chunk, then the end in the same turn.
    res.write('hello world');
    res.end();
  },
  // A list replaces earlier fields of its names, keeps its own repeats and loses connection-specific ones.
  '/list': (res) => {
    res.setHeader('content-type', 'application/octet-stream');
    res.setHeader('x-kept', 'yes');
    res.writeHead(200, 'OK', ['Content-Type', 'text/plain', 'Vary', 'a', 'Vary', 'b', 'Connection', 'close', 'Transfer-Encoding', 'chunked']);
    res.end('list');
  },
  '/object': (res) => {
    res.setHeader('x-earlier', '1');
    res.writeHead(201, { 'X-Later': '2', 'Content-Length': 6, 'Keep-Alive': 'timeout=5' });
    res.end('object');
  },
  '/empty': (res) => void res.writeHead(204).end(),
  '/implicit': (res) => {
    res.statusCode = 202;
    res.setHeader('content-type', 'text/plain');
    res.end('implicit');
  },
  '/trailers': (res) => {
    setTrailer(res, 'x-checksum', 'abc');
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('with trailers');
  },
  '/trailers-late': (res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    try {
      setTrailer(res, 'x-checksum', 'abc');
    } catch (error) {
      failures.push((error as Error).message);
    }
    res.end('late');
  },
};

let dir: string;
let tlsServer: tls.Server;
let port: number;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-h2-head-'));
  const certificate = await loadGatewayCertificate({ dataDir: dir, hostnames: [HOST] });
  const listener = createListener({
    handlerFor: (name) =>
      name === HOST
        ? {
            handle: (req, res) => {
              const route = routes[req.url!];
              if (route) route(res);
              else res.writeHead(404).end();
            },
            upgrade: (_req, socket) => socket.destroy(),
          }
        : undefined,
    isTrustedProxy: () => false,
    scheme: 'https',
    headersTimeoutMs: 10_000,
    idleTimeoutMs: 10_000,
    http2: LIMITS,
  });
  tlsServer = createGatewayTlsServer({ certificate, httpAlpn: ['h2', 'http/1.1'], onTunnelSocket: (s) => s.destroy(), onHttpSocket: (s) => acceptSecureSocket(listener, s) });
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  port = (tlsServer.address() as { port: number }).port;
});
after(async () => {
  await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function get(pathname: string) {
  const session = await connectH2(port, HOST);
  try {
    return await h2request(session, pathname);
  } finally {
    session.close();
  }
}

test('fields set before the head and appended ones all arrive, repeats included', async () => {
  const reply = await get('/appended');
  assert.equal(reply.status, 200);
  assert.equal(reply.text, 'hello world');
  assert.equal(reply.headers['strict-transport-security'], 'max-age=60');
  assert.equal(reply.headers['content-type'], 'text/plain');
  assert.deepEqual(reply.headers['set-cookie'], ['a=1', 'b=2']);
  assert.ok(reply.headers.date, 'a Date field, as node sends by default');
});

test('a header list replaces earlier fields of its names, keeps its repeats, and loses connection-specific fields', async () => {
  const reply = await get('/list');
  assert.equal(reply.status, 200);
  assert.equal(reply.headers['content-type'], 'text/plain');
  assert.equal(reply.headers['x-kept'], 'yes');
  assert.equal(reply.headers.vary, 'a, b');
  assert.equal(reply.headers.connection, undefined);
  assert.equal(reply.headers['transfer-encoding'], undefined);
  assert.equal(reply.text, 'list');
});

test('a header object adds to earlier fields; the status and a Content-Length number go out', async () => {
  const reply = await get('/object');
  assert.equal(reply.status, 201);
  assert.equal(reply.headers['x-earlier'], '1');
  assert.equal(reply.headers['x-later'], '2');
  assert.equal(reply.headers['content-length'], '6');
  assert.equal(reply.headers['keep-alive'], undefined);
  assert.equal(reply.text, 'object');
});

test('an implicit head (statusCode and setHeader, then end) and a bodiless 204 are answered', async () => {
  const implicit = await get('/implicit');
  assert.equal(implicit.status, 202);
  assert.equal(implicit.headers['content-type'], 'text/plain');
  assert.equal(implicit.text, 'implicit');
  const empty = await get('/empty');
  assert.equal(empty.status, 204);
  assert.equal(empty.body.length, 0);
});

test('an answer written in one chunk and ended at once ends its stream with that DATA frame: no empty frame follows', async () => {
  const raw = await openRawH2(port, HOST);
  try {
    raw.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, headerBlock(requestFields(`${HOST}:${port}`, '/appended'))));
    const end = await raw.waitFor((f) => f.stream === 1 && (f.flags & FLAG.END_STREAM) !== 0);
    assert.ok(end, 'the stream ended');
    const ofStream = raw.frames.filter((f) => f.stream === 1).map((f) => f.type);
    assert.equal(ofStream[0], FRAME.HEADERS);
    assert.equal(end.type, FRAME.DATA);
    assert.ok(end.payload.length > 0, `the END_STREAM frame carries body bytes (frames: ${ofStream.join(',')})`);
    const headers = raw.frames.find((f) => f.stream === 1 && f.type === FRAME.HEADERS)!;
    assert.equal(headers.flags & FLAG.END_STREAM, 0);
  } finally {
    raw.close();
  }
});

test('a bodiless answer ends its stream with its HEADERS frame', async () => {
  const raw = await openRawH2(port, HOST);
  try {
    raw.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, headerBlock(requestFields(`${HOST}:${port}`, '/empty'))));
    const end = await raw.waitFor((f) => f.stream === 1 && (f.flags & FLAG.END_STREAM) !== 0);
    assert.equal(end?.type, FRAME.HEADERS);
  } finally {
    raw.close();
  }
});

test('trailers set before the head are sent; set after it, they fail instead of vanishing', async () => {
  const session = await connectH2(port, HOST);
  try {
    const trailers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const stream = session.request({ ':path': '/trailers', ':authority': `${HOST}:${port}` });
      stream.on('trailers', (fields) => resolve(fields));
      stream.on('data', () => undefined);
      stream.on('end', () => reject(new Error('no trailers before the end')));
      stream.on('error', reject);
    });
    assert.equal(trailers['x-checksum'], 'abc');
  } finally {
    session.close();
  }
  const late = await get('/trailers-late');
  assert.equal(late.text, 'late');
  assert.deepEqual(failures, ['HTTP/2 trailers must be set before the head is sent']);
});
