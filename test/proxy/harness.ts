// A gateway-shaped harness for the proxy layer alone: the real listener, a host dispatcher with one
// pass-through host whose handler calls forward()/forwardUpgrade(), and a direct origin. The gate sits on
// exactly this seam in the real gateway, so everything proven here holds behind it.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createAddressMatcher } from '../../src/http/client-address.js';
import { createHostDispatcher, type HostHandler } from '../../src/hosts/dispatch.js';
import { createListener } from '../../src/listener/server.js';
import { createDirectOrigin } from '../../src/origin/direct.js';
import type { Origin } from '../../src/origin/origin.js';
import { forward, forwardUpgrade, type ForwardOptions } from '../../src/proxy/forward.js';

export const HOST = 'photos.localhost';

export interface HarnessOptions {
  originUrl: string;
  trustedProxies?: string[];
  headersTimeoutMs?: number;
  idleTimeoutMs?: number;
  originIdleTimeoutMs?: number;
  maxBodyBytes?: number;
  /** Address to listen on (default 127.0.0.1; use 0.0.0.0 to accept from 127.0.0.2 too). */
  listenAddress?: string;
  filterCookie?: ForwardOptions['filterCookie'];
  dropRequestHeaders?: ForwardOptions['dropRequestHeaders'];
  responseHeaders?: ForwardOptions['responseHeaders'];
  answerFilter?: ForwardOptions['answerFilter'];
  /** Runs in the handler before forwarding, like a gate renewing its cookie with res.setHeader. */
  beforeForward?: (res: http.ServerResponse) => void;
}

export interface Harness {
  readonly port: number;
  /** The direct origin the proxy forwards to (its pool counts stale-connection retries). */
  readonly origin: Origin;
  readonly server: http.Server;
  readonly errors: unknown[];
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const origin = createDirectOrigin(new URL(options.originUrl));
  const forwardOptions: ForwardOptions = {
    origin,
    surface: 'private',
    idleTimeoutMs: options.originIdleTimeoutMs ?? 60_000,
    maxBodyBytes: options.maxBodyBytes,
    filterCookie: options.filterCookie,
    dropRequestHeaders: options.dropRequestHeaders,
    responseHeaders: options.responseHeaders,
    answerFilter: options.answerFilter,
  };
  const beforeForward = options.beforeForward;
  const passThrough: HostHandler = {
    handle: (req, res, ctx) => {
      beforeForward?.(res);
      forward(req, res, ctx, forwardOptions);
    },
    upgrade: (req, socket, head, ctx) => forwardUpgrade(req, socket, head, ctx, forwardOptions),
  };
  const errors: unknown[] = [];
  const server = createListener({
    handlerFor: createHostDispatcher(new Map([[HOST, passThrough]])),
    isTrustedProxy: createAddressMatcher(options.trustedProxies ?? []),
    scheme: 'http',
    headersTimeoutMs: options.headersTimeoutMs ?? 20_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    onError: (error) => errors.push(error),
  });
  await new Promise<void>((resolve) => server.listen(0, options.listenAddress ?? '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    origin,
    server,
    errors,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // The listener's closeAllConnections() also ends upgraded (WebSocket) sockets.
        server.closeAllConnections();
      });
      await origin.close();
    },
  };
}

export interface RawResult {
  /** Everything the server sent until it closed the connection (latin1). */
  text: string;
  /** How the connection ended. */
  ended: 'end' | 'reset';
}

/** What a function step of rawExchange can do: look at the answer so far, or wait for it to match. */
export interface RawPeer {
  text(): string;
  until(predicate: (text: string) => boolean): Promise<void>;
}

/**
 * Sends bytes on a fresh socket and collects the answer until the server closes. `parts` are written in
 * order; a function part is awaited (e.g. to wait for "100 Continue" before sending a body).
 */
export function rawExchange(
  port: number,
  parts: Array<string | Buffer | ((peer: RawPeer) => Promise<void>)>,
  options: { localAddress?: string; halfClose?: boolean } = {},
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
    const chunks: Buffer[] = [];
    const text = () => Buffer.concat(chunks).toString('latin1');
    const waiters = new Set<() => void>();
    const peer: RawPeer = {
      text,
      until: (predicate) =>
        new Promise((done, fail) => {
          const check = () => {
            if (predicate(text())) return (waiters.delete(check), done());
            if (socket.destroyed) return (waiters.delete(check), fail(new Error(`connection closed; received: ${JSON.stringify(text())}`)));
          };
          waiters.add(check);
          check();
        }),
    };
    let reset = false;
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      for (const check of [...waiters]) check();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') reset = true;
      else reject(error);
    });
    socket.on('close', () => {
      for (const check of [...waiters]) check();
      resolve({ text: text(), ended: reset ? 'reset' : 'end' });
    });
    socket.on('connect', async () => {
      try {
        for (const part of parts) {
          if (typeof part === 'function') await part(peer);
          else if (!socket.destroyed) socket.write(part);
        }
        // Half-close: "that was everything I am going to send", while still reading the answer.
        if (options.halfClose && !socket.destroyed) socket.end();
      } catch (error) {
        socket.destroy();
        reject(error);
      }
    });
  });
}

/** Status code of the first response in a raw answer, or 0 if there is none. */
export function statusOf(text: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return match ? Number(match[1]) : 0;
}

export interface Fetched {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** One request through the harness with Node's client; Host defaults to the pass-through host. */
export function request(port: number, options: http.RequestOptions & { body?: string | Buffer } = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const { body, ...rest } = options;
    const req = http.request({ host: '127.0.0.1', port, agent: false, ...rest, headers: { host: HOST, ...rest.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
