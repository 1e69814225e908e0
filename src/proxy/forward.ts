// Streams a request to the origin and its answer back: every method, bodies piped with backpressure,
// nothing buffered, hop-by-hop headers dropped, X-Forwarded-* set from what the listener established,
// Porthole's own cookie never leaves the gateway. Failures before the answer starts become a refusal page;
// failures after it abort the client connection so a truncated body is never mistaken for a complete one.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Origin } from '../origin/origin.js';
import { classifyOriginError, refuse, refuseUpgrade, type RefusalSurface } from '../http/refuse.js';
import type { RequestContext } from '../http/context.js';

/** Headers that describe one hop, never the message (RFC 9110 section 7.6.1). */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'http2-settings',
]);
/** Client-supplied claims about the client that only Porthole may make. */
const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip', 'forwarded']);

export interface ForwardOptions {
  origin: Origin;
  surface: RefusalSurface;
  /** Request headers (lower-case) to drop on top of the hop-by-hop ones. */
  dropRequestHeaders?: ReadonlySet<string>;
  /** Rewrites or removes the Cookie header (e.g. strips Porthole's session cookie). */
  filterCookie?: (cookie: string) => string | undefined;
  /** Optional cap on request bodies; undefined means unlimited. */
  maxBodyBytes?: number;
  /** Idle timeout towards the origin, in ms. */
  idleTimeoutMs: number;
  /** Extra response headers (e.g. X-Robots-Tag on the share host). */
  responseHeaders?: http.OutgoingHttpHeaders;
}

function connectionTokens(value: string | string[] | undefined): string[] {
  if (!value) return [];
  return (Array.isArray(value) ? value.join(',') : value).split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
}

/** Copies raw request headers except hop-by-hop, forwarding claims and anything the caller drops. */
export function buildOriginHeaders(req: http.IncomingMessage, ctx: RequestContext, options: ForwardOptions, keepUpgrade: boolean): http.OutgoingHttpHeaders {
  const named = new Set(connectionTokens(req.headers.connection));
  const out: http.OutgoingHttpHeaders = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || named.has(name) || FORWARDING.has(name) || options.dropRequestHeaders?.has(name)) continue;
    if (name === 'cookie') continue;
    const value = raw[i + 1]!;
    const existing = out[name];
    out[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [String(existing), value];
  }
  if (req.headers.cookie !== undefined) {
    const cookie = options.filterCookie ? options.filterCookie(req.headers.cookie) : req.headers.cookie;
    if (cookie) out.cookie = cookie;
  }
  const priorFor = ctx.client.viaTrustedProxy ? req.headers['x-forwarded-for'] : undefined;
  const peer = req.socket.remoteAddress ?? '';
  out['x-forwarded-for'] = ctx.client.viaTrustedProxy && priorFor ? `${priorFor}, ${peer}` : ctx.client.ip;
  out['x-real-ip'] = ctx.client.ip;
  out['x-forwarded-proto'] = ctx.client.scheme;
  out['x-forwarded-host'] = ctx.rawHost;
  out.host = ctx.rawHost;
  if (keepUpgrade && req.headers.upgrade) {
    out.connection = 'upgrade';
    out.upgrade = req.headers.upgrade;
  }
  return out;
}

function responseHeadersFrom(proxyRes: http.IncomingMessage, extra: http.OutgoingHttpHeaders | undefined): http.OutgoingHttpHeaders {
  const named = new Set(connectionTokens(proxyRes.headers.connection));
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(proxyRes.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return extra ? Object.assign(out, extra) : out;
}

export function forward(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, options: ForwardOptions): void {
  const unavailable = options.origin.unavailable();
  if (unavailable) return refuse(req, res, { kind: 'tunnel-offline', since: unavailable.since }, options.surface);

  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (options.maxBodyBytes !== undefined && declared !== undefined && declared > options.maxBodyBytes) {
    return refuse(req, res, { kind: 'too-large', limitBytes: options.maxBodyBytes }, options.surface);
  }

  const { target } = options.origin;
  const proxyReq = http.request({
    agent: options.origin.agent,
    protocol: target.protocol,
    hostname: target.hostname,
    port: target.port,
    method: req.method,
    path: req.url,
    headers: buildOriginHeaders(req, ctx, options, false),
    setHost: false,
  });
  proxyReq.setTimeout(options.idleTimeoutMs, () => proxyReq.destroy(Object.assign(new Error('origin idle timeout'), { code: 'ETIMEDOUT' })));

  let answered = false;
  proxyReq.on('continue', () => res.writeContinue());
  proxyReq.on('information', (info) => {
    // 103 Early Hints and friends pass through; 100 is handled by 'continue'.
    if (info.statusCode !== 100 && info.statusCode !== 101) res.writeEarlyHints?.(Object.fromEntries(Object.entries(info.headers)) as Record<string, string | string[]>);
  });
  proxyReq.on('response', (proxyRes) => {
    answered = true;
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, responseHeadersFrom(proxyRes, options.responseHeaders));
    proxyRes.pipe(res);
    proxyRes.on('error', () => res.destroy());
    // The origin stopped mid-body: abort the client so it sees an incomplete message, not a short success.
    proxyRes.on('aborted', () => res.destroy());
    proxyRes.on('close', () => {
      if (!proxyRes.complete) res.destroy();
    });
  });
  proxyReq.on('error', (error: NodeJS.ErrnoException) => {
    if (answered || res.headersSent) return void res.destroy();
    if (req.destroyed || res.destroyed) return;
    refuse(req, res, { kind: 'origin-unreachable', cause: classifyOriginError(error), origin: options.origin.describe(), code: error.code }, options.surface);
  });

  // The client went away (or sent a broken body): the origin must not see a finished request.
  res.on('close', () => {
    if (!res.writableFinished || !req.complete) proxyReq.destroy();
  });
  req.on('error', () => proxyReq.destroy());

  if (options.maxBodyBytes === undefined) {
    req.pipe(proxyReq);
    return;
  }
  let received = 0;
  const limit = options.maxBodyBytes;
  req.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit) {
      req.unpipe(proxyReq);
      proxyReq.destroy();
      if (!answered) refuse(req, res, { kind: 'too-large', limitBytes: limit }, options.surface);
      else res.destroy();
    }
  });
  req.pipe(proxyReq);
}

/** Proxies an Upgrade (WebSocket) request; the handler has already decided it may pass. */
export function forwardUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext, options: ForwardOptions): void {
  if (options.origin.unavailable()) return refuseUpgrade(socket, 503);
  const { target } = options.origin;
  const proxyReq = http.request({
    agent: options.origin.agent,
    protocol: target.protocol,
    hostname: target.hostname,
    port: target.port,
    method: req.method,
    path: req.url,
    headers: buildOriginHeaders(req, ctx, options, true),
    setHost: false,
  });
  socket.on('error', () => proxyReq.destroy());
  proxyReq.on('error', () => refuseUpgrade(socket, 502));
  proxyReq.on('response', (proxyRes) => {
    // The origin declined the upgrade: relay its answer as a plain response and close.
    const lines = [`HTTP/1.1 ${proxyRes.statusCode} ${proxyRes.statusMessage ?? ''}`];
    for (let i = 0; i < proxyRes.rawHeaders.length; i += 2) {
      if (!HOP_BY_HOP.has(proxyRes.rawHeaders[i]!.toLowerCase())) lines.push(`${proxyRes.rawHeaders[i]}: ${proxyRes.rawHeaders[i + 1]}`);
    }
    socket.write(`${lines.join('\r\n')}\r\nconnection: close\r\n\r\n`);
    proxyRes.pipe(socket);
  });
  proxyReq.on('upgrade', (proxyRes, originSocket, originHead) => {
    const lines = [`HTTP/1.1 101 ${proxyRes.statusMessage ?? 'Switching Protocols'}`];
    for (let i = 0; i < proxyRes.rawHeaders.length; i += 2) lines.push(`${proxyRes.rawHeaders[i]}: ${proxyRes.rawHeaders[i + 1]}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (originHead.length) socket.write(originHead);
    if (head.length) originSocket.write(head);
    originSocket.on('error', () => socket.destroy());
    socket.on('error', () => originSocket.destroy());
    originSocket.on('close', () => socket.destroy());
    socket.on('close', () => originSocket.destroy());
    originSocket.pipe(socket);
    socket.pipe(originSocket);
  });
  proxyReq.end();
}
