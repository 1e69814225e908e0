// The HTTP listener: accepts connections (per-address caps, see connections.ts), bounds how long a client may
// take to send a request head (deadlines.ts), takes each request's share of its client's request rate before
// anything else (request-rate.ts; HTTP/2 streams and upgrades too), makes sure the request target is a plain
// path, identifies the client, then hands the request to the host's handler. TLS termination and the tunnel's
// ALPN hand-off attach here (acceptSecureSocket): HTTP/1.1 sockets go to the node:http server, "h2" ones to its
// HTTP/2 twin (http2.ts), and both call the one request handler below.
import http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';
import type tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { AddressMatcher } from '../http/client-address.js';
import { identifyClient } from '../http/client-address.js';
import type { RequestContext } from '../http/context.js';
import { clientBucket } from '../http/client-bucket.js';
import { refuse, refuseUpgrade, refuseUpgradeOverRate } from '../http/refuse.js';
import { parseHostHeader, type HostHandler } from '../hosts/dispatch.js';
import { closeWithStatus, enforceReceiveDeadlines, receiveRule } from './deadlines.js';
import { createHttp2Server, type Http2Limits, type Http2Refusal } from './http2.js';
import type { RequestRateLimiter } from './request-rate.js';

/** Bytes a stream buffers before pushing back; shared with the origin side (see origin/direct.ts). */
export const STREAM_HIGH_WATER_MARK = 128 * 1024;

export interface ListenerOptions {
  /** Finds the handler for a host name. */
  handlerFor: (hostName: string) => HostHandler | undefined;
  isTrustedProxy: AddressMatcher;
  /** Scheme of this listener's own sockets. */
  scheme: 'http' | 'https';
  /** Hard cap on receiving a request head (and what is left of a body after its answer); see deadlines.ts. */
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  /**
   * Admission of raw connections accepted by this server itself (the plain port): false means refused, socket
   * destroyed. Sockets handed in by the TLS port were admitted there, before their handshake.
   */
  admit?: (socket: net.Socket) => boolean;
  onError?: (error: unknown, req: http.IncomingMessage) => void;
  /** HTTP/2 for sockets that negotiated "h2" (the HTTPS port only); absent: HTTP/1.1 only. */
  http2?: Http2Limits;
  /** An HTTP/2 session closed for going over one of its budgets. */
  onHttp2Refused?: (why: Http2Refusal, socket: net.Socket) => void;
  /**
   * The per-client request rate (request-rate.ts), taken once per request, HTTP/2 stream and upgrade before any
   * other work; absent: no limit. One limiter may serve both ports (one budget per client).
   */
  requestRate?: RequestRateLimiter;
  /** A request refused for going over the request rate (bucket: the client's address or /64). */
  onRateLimited?: (bucket: string) => void;
}

const HTTP2_TWIN = new WeakMap<http.Server, http2.Http2Server>();

/** The HTTP/2 server that serves this listener's "h2" sockets, if it has one. */
export function http2ServerOf(server: http.Server): http2.Http2Server | undefined {
  return HTTP2_TWIN.get(server);
}

/** Hands a TLS socket of the HTTPS port to the listener: HTTP/2 if it negotiated "h2" (and h2 is on), else HTTP/1.1. */
export function acceptSecureSocket(server: http.Server, socket: tls.TLSSocket): void {
  const twin = HTTP2_TWIN.get(server);
  if (socket.alpnProtocol === 'h2') {
    if (twin) twin.emit('connection', socket);
    else socket.destroy();
    return;
  }
  server.emit('connection', socket);
}

/** Only origin-form targets ("/path?query") are served; absolute-form and "*" are refused outright. */
function isOriginForm(url: string | undefined): url is string {
  return typeof url === 'string' && url.startsWith('/') && url.length <= 8192;
}

/** RFC 9112 section 3.2: a request with more than one Host is refused (Node would silently keep the first). */
function hostCount(raw: string[]): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') count++;
  }
  return count;
}

function contextFor(req: http.IncomingMessage, options: ListenerOptions): { ctx: RequestContext; handler: HostHandler } | null {
  if (hostCount(req.rawHeaders) > 1) return null;
  const host = parseHostHeader(req.headers.host);
  if (!host) return null;
  const handler = options.handlerFor(host.name);
  if (!handler) return null;
  return { ctx: { client: identifyClient(req, options.isTrustedProxy, options.scheme), host: host.name, rawHost: host.raw }, handler };
}

/**
 * Spends one request of the client's rate budget, then `proceed`s or refuses (429 with Retry-After, the same
 * answer whatever the host). The client is who trusted proxies say it is, so a proxy's clients each have a budget.
 */
function withinRequestRate(req: http.IncomingMessage, options: ListenerOptions, refuseOverRate: (retryAfterSeconds: number) => void, proceed: () => void): void {
  const limiter = options.requestRate;
  if (!limiter) return proceed();
  const bucket = clientBucket(identifyClient(req, options.isTrustedProxy, options.scheme).ip || '?');
  limiter.take(bucket).then(
    (wait) => {
      if (wait === null) return proceed();
      options.onRateLimited?.(bucket);
      refuseOverRate(wait);
    },
    (error: unknown) => {
      // The in-memory limiter does not fail; should it, the request is not let through unchecked.
      options.onError?.(error, req);
      refuseOverRate(1);
    },
  );
}

export function createListener(options: ListenerOptions): http.Server {
  const server = http.createServer({
    // Head deadlines are deadlines.ts's job on both ports (Node's checker would only run on this one, and
    // half-closes); no bound on the whole request (multi-hour uploads are fine).
    headersTimeout: 0,
    requestTimeout: 0,
    keepAliveTimeout: 5_000,
    maxHeaderSize: 32 * 1024,
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    // Above the 64 KiB a socket read delivers, so bulk bodies do not pause and resume the socket per chunk.
    highWaterMark: STREAM_HIGH_WATER_MARK,
  });
  // Socket idle timeout: a stalled client is dropped, a slow but moving one is not.
  server.timeout = options.idleTimeoutMs;
  const admit = options.admit;
  if (admit) server.on('connection', (socket: net.Socket) => void admit(socket));
  enforceReceiveDeadlines(server, receiveRule(options.headersTimeoutMs));

  // Answers per connection, oldest first; finished ones are dropped as the next arrives (no listener per request).
  const answers = new WeakMap<Duplex, http.ServerResponse[]>();
  const pending = (res: http.ServerResponse) => !res.writableFinished && !res.destroyed;
  const track = (socket: Duplex, res: http.ServerResponse) => {
    let list = answers.get(socket);
    if (!list) answers.set(socket, (list = []));
    while (list.length > 0 && !pending(list[0]!)) list.shift();
    list.push(res);
  };
  const admitRequest = (req: http.IncomingMessage, res: http.ServerResponse, proceed: () => void) =>
    withinRequestRate(req, options, (retryAfterSeconds) => refuse(req, res, { kind: 'rate-limited', retryAfterSeconds, subject: 'requests' }, 'none'), proceed);
  const handleRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!isOriginForm(req.url)) return refuse(req, res, { kind: 'bad-request', reason: 'Only origin-form request targets are accepted.' }, 'none');
    // Node hands over "Transfer-Encoding: gzip" (and friends) before failing on the body: only plain chunked
    // framing is ever forwarded, so nothing else may start a request to the origin.
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && te.toLowerCase() !== 'chunked') return refuse(req, res, { kind: 'bad-request', reason: 'Only chunked transfer coding is accepted.' }, 'none');
    const found = contextFor(req, options);
    if (!found) return refuse(req, res, { kind: 'misdirected' }, 'none');
    try {
      found.handler.handle(req, res, found.ctx);
    } catch (error) {
      options.onError?.(error, req);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' }).end('Internal error\n');
      else res.destroy();
    }
  };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    track(req.socket, res);
    admitRequest(req, res, () => handleRequest(req, res));
  };
  server.on('request', onRequest);
  // With this listener Node no longer answers "100 Continue" by itself: the handler decides (gate first).
  server.on('checkContinue', onRequest);
  const sessions = new Set<http2.ServerHttp2Session>();
  if (options.http2) {
    const twin = createHttp2Server({
      limits: options.http2,
      receiveRule: receiveRule(options.headersTimeoutMs),
      idleTimeoutMs: options.idleTimeoutMs,
      onRequest: handleRequest,
      admit: admitRequest,
      onRefused: options.onHttp2Refused,
    });
    twin.on('session', (session: http2.ServerHttp2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
    });
    HTTP2_TWIN.set(server, twin);
  }
  // Upgraded sockets leave node:http's connection tracking: remember them so closeAllConnections() (what a
  // shutdown calls) ends open WebSockets too instead of waiting for them forever. HTTP/2 sessions likewise.
  const upgraded = new Set<Duplex>();
  const closeAllConnections = server.closeAllConnections.bind(server);
  server.closeAllConnections = () => {
    closeAllConnections();
    for (const socket of upgraded) socket.destroy();
    for (const session of sessions) session.destroy();
  };
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    socket.on('error', () => socket.destroy());
    withinRequestRate(
      req,
      options,
      (retryAfterSeconds) => refuseUpgradeOverRate(socket, retryAfterSeconds),
      () => upgrade(req, socket, head),
    );
  });
  const upgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!isOriginForm(req.url)) return refuseUpgrade(socket, 404);
    const found = contextFor(req, options);
    if (!found) return refuseUpgrade(socket, 421);
    try {
      found.handler.upgrade(req, socket, head, found.ctx);
    } catch (error) {
      options.onError?.(error, req);
      socket.destroy();
    }
  };
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // An answer already on the wire (a pipelined request broke behind it): a status line written now would land
    // inside its body, so only cutting the connection is honest (node's own default handler does the same).
    const inFlight = answers.get(socket)?.find(pending);
    if (!socket.writable || error.code === 'ECONNRESET' || inFlight?.headersSent) return void socket.destroy();
    const status =
      error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    closeWithStatus(socket, status);
  });
  return server;
}
