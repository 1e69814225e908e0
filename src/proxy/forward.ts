// Streams a request to the origin and its answer back: every method, bodies piped with backpressure,
// nothing buffered, hop-by-hop headers dropped, X-Forwarded-* set from what the listener established,
// Porthole's own cookie never leaves the gateway. Failures before the answer starts become a refusal page;
// failures after it abort the client connection so a truncated body is never mistaken for a complete one.
//
// This is the hot path of every gated request. Per-request state lives on the request objects themselves
// and the event handlers are shared functions, so forwarding a request allocates no closures.
import http from 'node:http';
import { corkingPipe } from './cork-pipe.js';
import type { Origin } from '../origin/origin.js';
import { classifyOriginError, refuse, type RefusalSurface } from '../http/refuse.js';
import type { RequestContext } from '../http/context.js';
import { buildOriginHeaders, buildResponseHeaders } from './headers.js';
import { leanForward, type OriginPool } from './lean-client.js';
import { originRequest } from './origin-request.js';

export { buildOriginHeaders } from './headers.js';
export { forwardUpgrade } from './upgrade.js';

export interface ForwardOptions {
  origin: Origin;
  surface: RefusalSurface;
  /** Request headers (lower-case) to drop on top of the hop-by-hop ones. */
  dropRequestHeaders?: ReadonlySet<string>;
  /** Rewrites or removes the Cookie header (e.g. strips Porthole's session cookie). */
  filterCookie?: (cookie: string) => string | undefined;
  /** Optional cap on request bodies; undefined means unlimited. */
  maxBodyBytes?: number;
  /** Idle (not total) timeout towards the origin, in ms. */
  idleTimeoutMs: number;
  /** Extra response headers (e.g. X-Robots-Tag on the share host), as lower-case name to value. */
  responseHeaders?: http.OutgoingHttpHeaders;
}

/** What the shared handlers need to find from the origin request. */
interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  options: ForwardOptions;
  /** The origin's response has started (headers sent or about to be). */
  answered: boolean;
  /** The origin sent "100 Continue" and we relayed it. */
  continued: boolean;
  /** Request body bytes seen, only counted when a cap applies. */
  received: number;
}

const EXCHANGE = Symbol('porthole.exchange');
type ProxyRequest = http.ClientRequest & { [EXCHANGE]: Exchange };
type ClientResponse = http.ServerResponse & { [EXCHANGE]?: Exchange; proxyReq?: ProxyRequest };

function originTimeout(this: ProxyRequest): void {
  this.destroy(Object.assign(new Error('origin idle timeout'), { code: 'ETIMEDOUT' }));
}

function onContinue(this: ProxyRequest): void {
  const exchange = this[EXCHANGE];
  exchange.continued = true;
  exchange.res.writeContinue();
}

function onResponse(this: ProxyRequest, proxyRes: http.IncomingMessage): void {
  const exchange = this[EXCHANGE];
  const { req, res, options } = exchange;
  exchange.answered = true;
  // The client waited for "100 Continue" that never came: its body is unsent, so this connection is done.
  const closeAfter = !exchange.continued && req.headers.expect !== undefined && !req.complete;
  const headers = buildResponseHeaders(proxyRes, options.responseHeaders, closeAfter);
  if (res.getHeaderNames().length === 0) {
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, headers);
  } else {
    // A handler already set headers (e.g. a renewed session cookie): append, so repeated names such as
    // Set-Cookie are all kept instead of replacing each other.
    for (let i = 0; i < headers.length; i += 2) res.appendHeader(headers[i]!, headers[i + 1]!);
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage);
  }
  (proxyRes as http.IncomingMessage & { [EXCHANGE]?: Exchange })[EXCHANGE] = exchange;
  proxyRes.on('error', onOriginBodyBroken);
  proxyRes.on('close', onOriginBodyClosed);
  // This path serves the tunnel (and upgrades' fallbacks); its 16 KiB HTTP/2 pieces are batched per tick.
  corkingPipe(proxyRes, res);
}

/** The origin's body failed part-way: the client must see an aborted message, not a short success. */
function onOriginBodyBroken(this: http.IncomingMessage & { [EXCHANGE]: Exchange }): void {
  this[EXCHANGE].res.destroy();
}

function onOriginBodyClosed(this: http.IncomingMessage & { [EXCHANGE]: Exchange }): void {
  if (!this.complete) this[EXCHANGE].res.destroy();
}

function onOriginError(this: ProxyRequest, error: NodeJS.ErrnoException): void {
  const { req, res, options, answered } = this[EXCHANGE];
  if (answered || res.headersSent) return void res.destroy();
  if (req.destroyed || res.destroyed) return;
  // Idle while the origin was ready for more body: the client stalled, not Immich. Drop it like the
  // listener's own idle timeout would, rather than blaming the origin.
  if (error.code === 'ETIMEDOUT' && !req.complete && !this.writableNeedDrain) return void res.destroy();
  refuse(req, res, { kind: 'origin-unreachable', cause: classifyOriginError(error), origin: options.origin.describe(), code: error.code }, options.surface);
}

/** The client went away (or its body broke): the origin must not see a finished request. */
function onClientClosed(this: ClientResponse): void {
  const proxyReq = this.proxyReq;
  if (proxyReq && (!this.writableFinished || !proxyReq[EXCHANGE].req.complete)) proxyReq.destroy();
}

function onClientBodyError(this: http.IncomingMessage & { [EXCHANGE]: Exchange }): void {
  (this[EXCHANGE].res as ClientResponse).proxyReq?.destroy();
}

function onCappedData(this: http.IncomingMessage & { [EXCHANGE]: Exchange }, chunk: Buffer): void {
  const exchange = this[EXCHANGE];
  const limit = exchange.options.maxBodyBytes!;
  exchange.received += chunk.length;
  if (exchange.received <= limit) return;
  const proxyReq = (exchange.res as ClientResponse).proxyReq!;
  this.unpipe(proxyReq);
  this.off('data', onCappedData);
  proxyReq.destroy();
  if (!exchange.answered) refuse(this, exchange.res, { kind: 'too-large', limitBytes: limit }, exchange.options.surface);
  else exchange.res.destroy();
}

export function forward(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, options: ForwardOptions): void {
  const unavailable = options.origin.unavailable();
  if (unavailable) return refuse(req, res, { kind: 'tunnel-offline', since: unavailable.since }, options.surface);

  const declared = req.headers['content-length'];
  const hasBody = declared !== undefined ? declared !== '0' : req.headers['transfer-encoding'] !== undefined;
  if (options.maxBodyBytes !== undefined && declared !== undefined && Number(declared) > options.maxBodyBytes) {
    // Refused before a byte of the body is read; refuse() closes the connection so it is never read.
    return refuse(req, res, { kind: 'too-large', limitBytes: options.maxBodyBytes }, options.surface);
  }

  // The direct origin has a lean client (src/proxy/lean-client.ts); the tunnel keeps node:http below.
  const pool = (options.origin as { leanPool?: OriginPool }).leanPool;
  if (pool !== undefined) return leanForward(pool, req, res, options, buildOriginHeaders(req, ctx, options, false), hasBody);

  const proxyReq = originRequest(req, ctx, options, false) as ProxyRequest;
  const exchange: Exchange = { req, res, options, answered: false, continued: false, received: 0 };
  proxyReq[EXCHANGE] = exchange;
  (res as ClientResponse).proxyReq = proxyReq;
  proxyReq.on('timeout', originTimeout);
  proxyReq.on('response', onResponse);
  proxyReq.on('error', onOriginError);
  if (req.headers.expect !== undefined) proxyReq.on('continue', onContinue);
  res.on('close', onClientClosed);

  if (!hasBody) {
    proxyReq.end();
    return;
  }
  (req as http.IncomingMessage & { [EXCHANGE]: Exchange })[EXCHANGE] = exchange;
  req.on('error', onClientBodyError);
  if (options.maxBodyBytes !== undefined) req.on('data', onCappedData);
  req.pipe(proxyReq);
}
