// HTTP/2 for browsers on the HTTPS port: sockets that negotiated ALPN "h2" get an HTTP/2 session whose requests
// go to the same request handler as HTTP/1.1 ones (server.ts). Two small adapters make an HTTP/2 request look
// like an HTTP/1.1 one to every handler (Host from :authority, no pseudo-headers, a body without a length is
// chunked) and keep answers legal (connection-specific headers and reason phrases are dropped, not sent).
// This module also owns what an open HTTP/2 port needs on top of the HTTP/1.1 rules: bounded streams and header
// lists, a receive deadline while a session has no request open (deadlines.ts), idle timeouts, and per-session
// budgets for client resets (CVE-2023-44487) and for SETTINGS/PING frames. The per-client request rate is the
// listener's (`admit`), taken per stream before anything else. A session over a budget gets GOAWAY
// (ENHANCE_YOUR_CALM) and is closed; nothing a client sends reaches a handler as an exception.
import http2 from 'node:http2';
import type http from 'node:http';
import type net from 'node:net';
import { refuse } from '../http/refuse.js';
import { watchProgress, type ProgressRule } from './deadlines.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_STREAM_STATE_HALF_CLOSED_LOCAL } = http2.constants;

/** Per-stream receive window: an upload moves at ~16 MB/s per 60 ms of round trip, and no more waits in memory. */
export const HTTP2_STREAM_WINDOW = 1024 * 1024;
/** Per-session receive window: what all of one session's unread request bodies can hold together. */
export const HTTP2_SESSION_WINDOW = 4 * 1024 * 1024;

export interface Http2Limits {
  maxConcurrentStreams: number;
  maxHeaderListSize: number;
  /** Streams the client resets before their answer is complete, per window. */
  resetsPerWindow: number;
  /** SETTINGS and PING frames from the client, per window. */
  controlFramesPerWindow: number;
  windowMs: number;
}

export type Http2Refusal = 'rapid-reset' | 'control-frame-flood';

export interface Http2ServerOptions {
  limits: Http2Limits;
  /** While a session has no request open it must send its next head by this rule (as an HTTP/1.1 connection). */
  receiveRule: ProgressRule;
  /** A stream (and a session) without a byte either way for this long is closed. */
  idleTimeoutMs: number;
  /** The request handler shared with HTTP/1.1. */
  onRequest: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Runs first for every stream (the per-client request rate); calls `proceed` if the stream may go on. */
  admit?: (req: http.IncomingMessage, res: http.ServerResponse, proceed: () => void) => void;
  /** A session closed for going over a budget. */
  onRefused?: (why: Http2Refusal, socket: net.Socket) => void;
}

/** Headers HTTP/2 forbids in a message (RFC 9113 section 8.2.2); an HTTP/1.1 handler may still set them. */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'te']);

/**
 * The request as an HTTP/1.1 handler expects it: `headers` and `rawHeaders` without pseudo-headers, Host from
 * :authority (both present and different: two Host fields, which the listener refuses like a doubled Host), and
 * a body announced without Content-Length marked "Transfer-Encoding: chunked" (what it would be on HTTP/1.1), so
 * the proxy streams it on instead of taking it for an empty one.
 */
class Http2Request extends http2.Http2ServerRequest {
  constructor(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, options: object, rawHeaders: string[]) {
    super(stream, headers, options as never, rawHeaders as never);
    const plain: http.IncomingHttpHeaders = Object.create(null) as http.IncomingHttpHeaders;
    const raw: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.charCodeAt(0) !== 58) raw.push(rawHeaders[i]!, rawHeaders[i + 1]!);
    for (const name in headers) if (name.charCodeAt(0) !== 58) plain[name] = headers[name] as never;
    const authority = headers[':authority'];
    if (typeof authority === 'string') {
      if (plain.host === undefined) plain.host = authority;
      if (plain.host !== authority || !raw.some((_, i) => i % 2 === 0 && raw[i]!.toLowerCase() === 'host')) raw.push('host', authority);
    }
    if (!stream.endAfterHeaders && plain['content-length'] === undefined) {
      plain['transfer-encoding'] = 'chunked';
      raw.push('transfer-encoding', 'chunked');
    }
    Object.defineProperty(this, 'headers', { value: plain, enumerable: true });
    Object.defineProperty(this, 'rawHeaders', { value: raw, enumerable: true });
  }
}

type HeaderInput = http.OutgoingHttpHeaders | http.OutgoingHttpHeader[] | undefined;

function legalHeaders(headers: HeaderInput): HeaderInput {
  if (headers === undefined) return undefined;
  if (Array.isArray(headers)) {
    const out: http.OutgoingHttpHeader[] = [];
    for (let i = 0; i < headers.length; i += 2) if (!CONNECTION_SPECIFIC.has(String(headers[i]).toLowerCase())) out.push(headers[i]!, headers[i + 1]!);
    return out;
  }
  const out: http.OutgoingHttpHeaders = {};
  for (const name in headers) if (!CONNECTION_SPECIFIC.has(name.toLowerCase())) out[name] = headers[name];
  return out;
}

/** A header name node:http2 takes as it is (an RFC 9110 token, not a pseudo-header). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The answer as an HTTP/1.1 handler writes it, minus what HTTP/2 has no place for. Its head goes out through
 * `stream.respond` without asking for trailers: node's compatibility layer always asks, which costs every
 * answer one more frame (an empty DATA with END_STREAM after the body), an event and a turn of the event loop
 * before the client sees the end, and the browser one more frame to read per request. Porthole sends no
 * trailers; a handler that sets some before the head gets node's own path, after it an error (never a silent loss).
 */
class Http2Response extends http2.Http2ServerResponse {
  private trailersWanted = false;
  private headSentWithoutTrailers = false;

  override setHeader(name: string, value: number | string | readonly string[]): this {
    if (!CONNECTION_SPECIFIC.has(name.toLowerCase())) super.setHeader(name, value);
    return this;
  }

  override appendHeader(name: string, value: string | string[]): this {
    if (!CONNECTION_SPECIFIC.has(name.toLowerCase())) super.appendHeader(name, value);
    return this;
  }

  // Node has setTrailer; the typings do not.
  setTrailer(name: string, value: string): void {
    this.wantTrailers();
    (http2.Http2ServerResponse.prototype as unknown as { setTrailer(name: string, value: string): void }).setTrailer.call(this, name, value);
  }

  override addTrailers(headers: http.OutgoingHttpHeaders): void {
    this.wantTrailers();
    super.addTrailers(headers);
  }

  private wantTrailers(): void {
    if (this.headSentWithoutTrailers) throw new Error('HTTP/2 trailers must be set before the head is sent');
    this.trailersWanted = true;
  }

  override writeHead(status: number, messageOrHeaders?: string | HeaderInput, headers?: HeaderInput): this {
    // HTTP/2 has no reason phrase; passing one only prints a warning.
    const given = legalHeaders(typeof messageOrHeaders === 'string' ? headers : messageOrHeaders);
    const stream = this.stream;
    const merged = this.trailersWanted || stream.headersSent || stream.destroyed || stream.closed ? null : this.headFor(given);
    // Anything unusual (a state or a field node would refuse or report) takes node's own path, which does so.
    if (merged === null) return super.writeHead(status, given as http.OutgoingHttpHeaders);
    this.statusCode = status;
    merged[':status'] = status;
    this.headSentWithoutTrailers = true;
    // sendDate is a respond() option node reads (its compatibility layer passes it), missing from the typings.
    stream.respond(merged, { endStream: this.writableEnded, waitForTrailers: false, sendDate: this.sendDate } as http2.ServerStreamResponseOptions);
    return this;
  }

  /**
   * The fields node's writeHead would send: those set before, then `given` (a list replaces earlier fields of its
   * names and keeps its own repeats; an object sets). Null when a name or value is one node would refuse.
   */
  private headFor(given: HeaderInput): http2.OutgoingHttpHeaders | null {
    const out = this.getHeaders() as http2.OutgoingHttpHeaders;
    if (given === undefined) return out;
    if (Array.isArray(given)) {
      if (given.length % 2 !== 0 || Array.isArray(given[0])) return null;
      for (let i = 0; i < given.length; i += 2) {
        const name = given[i];
        if (typeof name !== 'string' || !TOKEN.test(name) || given[i + 1] === undefined || given[i + 1] === null) return null;
        given[i] = name.toLowerCase();
        delete out[given[i] as string];
      }
      for (let i = 0; i < given.length; i += 2) {
        const name = given[i] as string;
        const value = given[i + 1]!;
        const earlier = out[name];
        if (earlier === undefined) out[name] = value;
        else out[name] = ([] as string[]).concat(earlier as string | string[], value as string | string[]);
      }
      return out;
    }
    for (const name in given) {
      const value = given[name];
      if (!TOKEN.test(name) || value === undefined || value === null) return null;
      out[name.toLowerCase()] = value;
    }
    return out;
  }
}

interface Budget {
  start: number;
  resets: number;
  control: number;
}

const SHUTTING_DOWN = new WeakSet<http2.ServerHttp2Session>();

const ignore = () => undefined;

/** A stream's idle timeout (called with the stream as `this`). */
function cancelStream(this: http2.ServerHttp2Stream): void {
  this.close(NGHTTP2_CANCEL);
}

/**
 * Ends a session that went over a budget: GOAWAY(ENHANCE_YOUR_CALM) first, so the client learns why, then the
 * session and, if anything still holds it, the socket itself.
 */
function shutDown(session: http2.ServerHttp2Session, socket: net.Socket): void {
  if (session.destroyed || SHUTTING_DOWN.has(session)) return;
  SHUTTING_DOWN.add(session);
  try {
    session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
  } catch {
    // Already going away.
  }
  setImmediate(() => session.destroy(undefined, NGHTTP2_ENHANCE_YOUR_CALM));
  const force = setTimeout(() => socket.destroy(), 1000);
  force.unref();
  socket.once('close', () => clearTimeout(force));
}

export function createHttp2Server(options: Http2ServerOptions): http2.Http2Server {
  const { limits } = options;
  // maxSessionInvalidFrames and maxSessionRejectedStreams are documented server options missing from the typings.
  const serverOptions: http2.ServerOptions & { maxSessionInvalidFrames: number; maxSessionRejectedStreams: number } = {
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderListSize,
      initialWindowSize: HTTP2_STREAM_WINDOW,
      // WebSockets stay on HTTP/1.1 (RFC 8441 is not offered).
      enableConnectProtocol: false,
    },
    // Node's own bounds, kept tight: frames nghttp2 finds invalid, streams refused over the concurrency limit.
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
    Http2ServerRequest: Http2Request as typeof http2.Http2ServerRequest,
    Http2ServerResponse: Http2Response as typeof http2.Http2ServerResponse,
  };
  const server = http2.createServer(serverOptions);

  // session.socket is a guard that refuses destroy(): keep the real socket, handed over just before its session.
  let accepted: net.Socket | null = null;
  server.prependListener('connection', (socket: net.Socket) => void (accepted = socket));
  server.on('session', (session: http2.ServerHttp2Session) => {
    const socket = accepted ?? (session.socket as net.Socket);
    accepted = null;
    // A session's errors (a protocol violation, a reset socket) end that session, never the process.
    session.on('error', () => session.destroy());
    session.on('frameError', () => undefined);
    session.setTimeout(options.idleTimeoutMs, () => session.destroy());
    try {
      session.setLocalWindowSize(HTTP2_SESSION_WINDOW);
    } catch {
      return session.destroy();
    }

    const budget: Budget = { start: Date.now(), resets: 0, control: 0 };
    const spend = (what: 'resets' | 'control') => {
      const now = Date.now();
      if (now - budget.start >= limits.windowMs) {
        budget.start = now;
        budget.resets = 0;
        budget.control = 0;
      }
      budget[what]++;
      const over = what === 'resets' ? budget.resets > limits.resetsPerWindow : budget.control > limits.controlFramesPerWindow;
      if (!over || session.destroyed) return;
      options.onRefused?.(what === 'resets' ? 'rapid-reset' : 'control-frame-flood', socket);
      shutDown(session, socket);
    };
    session.on('ping', () => spend('control'));
    session.on('remoteSettings', () => spend('control'));

    // With no request open, the next head must arrive by the receive rule (an idle session is closed like an idle
    // HTTP/1.1 connection; GOAWAY tells the browser to open a new one for its next request).
    let open = 0;
    let stopWatch: (() => void) | null = null;
    const watchIdle = () => {
      stopWatch?.();
      const base = socket.bytesRead;
      stopWatch = watchProgress(
        options.receiveRule,
        () => socket.bytesRead - base,
        () => {
          stopWatch = null;
          if (open !== 0 || session.closed || session.destroyed) return;
          // GOAWAY(NO_ERROR) and close; a header block still being trickled in keeps a close waiting, so the
          // socket goes a moment later in any case.
          session.close();
          const force = setTimeout(() => socket.destroy(), 1000);
          force.unref();
          socket.once('close', () => clearTimeout(force));
        },
      );
    };
    watchIdle();
    session.once('close', () => stopWatch?.());

    // One set of stream listeners per session, not per stream: a page of thumbnails opens hundreds of streams.
    const onAborted = () => spend('resets');
    const onStreamClose = () => {
      open--;
      if (open === 0 && !session.closed && !session.destroyed) watchIdle();
    };
    session.on('stream', (stream: http2.ServerHttp2Stream) => {
      stream.on('error', ignore);
      // A stream the client reset before its answer was complete: work started for nothing.
      if (stream.destroyed) {
        if (stream.rstCode !== NGHTTP2_NO_ERROR) spend('resets');
        return;
      }
      // Each is emitted at most once per stream.
      stream.on('aborted', onAborted);
      open++;
      stopWatch?.();
      stopWatch = null;
      stream.setTimeout(options.idleTimeoutMs, cancelStream);
      stream.on('close', onStreamClose);
    });
  });

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const stream = (req as unknown as http2.Http2ServerRequest).stream;
    // The answer is complete but the client is still sending a body nobody will read: RST_STREAM(NO_ERROR) asks it
    // to stop (RFC 9113 section 8.1), where HTTP/1.1 would close the connection. A request whose head ended its
    // stream (every GET from a browser) has nothing more to send.
    if (!stream.endAfterHeaders) {
      res.once('finish', () => {
        setImmediate(() => {
          if (!stream.destroyed && stream.state.state === NGHTTP2_STREAM_STATE_HALF_CLOSED_LOCAL) stream.close(NGHTTP2_NO_ERROR);
        });
      });
    }
    const proceed = () => {
      // nghttp2 applies SETTINGS_MAX_HEADER_LIST_SIZE only once the client acknowledged it: check every request.
      let headerListSize = 0;
      const raw = req.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) headerListSize += raw[i]!.length + raw[i + 1]!.length + 32;
      if (headerListSize > limits.maxHeaderListSize) return void refuse(req, res, { kind: 'headers-too-large' }, 'none');
      options.onRequest(req, res);
    };
    // A refused stream is answered on its own (429): the session and its other streams go on.
    if (options.admit) options.admit(req, res, proceed);
    else proceed();
  };
  server.on('request', onRequest as never);
  // As on HTTP/1.1, the handler decides about "100 Continue" (gate first).
  server.on('checkContinue', onRequest as never);
  server.on('sessionError', () => undefined);
  return server;
}
