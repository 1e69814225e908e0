// The lean origin client: forwards requests to the origin over pooled keep-alive sockets, writing the
// request head directly, streaming a request body straight to the socket (chunk-encoded when the client sent
// chunked), and relaying the response body as the socket delivers it. node:http's client costs about as much CPU
// as all the rest of a proxied request and copies every response byte once more (docs/performance.md); this
// path does neither. Upgrades keep using node:http (upgrade.ts). Connections are TCP sockets to a direct origin
// or, in tunnel mode, streams to a home connector (OriginDialer).
//
// Socket listeners are installed once per connection; a request only points the connection at its exchange.
// Each connection reads into one reused buffer and, once a Content-Length response's head is out, writes body
// bytes straight to the client socket: a long download then allocates nothing per chunk. A buffer whose bytes
// may outlive the read (queued by the client socket or held by node:http) is never reused (see write()).
import net from 'node:net';
import stream from 'node:stream';
import type http from 'node:http';
import { classifyOriginError, refuse } from '../http/refuse.js';
import { buildResponseHeadersFromRaw, mayCarryPersonalCookie } from './headers.js';
import { BadResponse, parseResponseHead, type ResponseHead } from './response-head.js';
import type { BodyRewriter, ForwardOptions } from './forward.js';

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE = 4096;
/** One socket read, as node's own default. */
const READ_SIZE = 64 * 1024;
/** Idle pooled sockets are dropped before a typical origin keep-alive timeout (Node's default is 5 s). */
const POOL_IDLE_MS = 4_000;
const MAX_IDLE_SOCKETS = 256;
/** Safe to send again when a reused connection turns out to have been closed by the origin. */
const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);
const UNSAFE_VALUE = /[\0\r\n]/;

type Phase = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'until-close' | 'done';

interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  options: ForwardOptions;
  requestHead: string;
  conn: Connection | null;
  phase: Phase;
  /** Bytes of an unfinished head or chunk-size/trailer line. */
  pending: Buffer | null;
  remaining: number;
  keepAlive: boolean;
  keepAliveMs: number;
  retried: boolean;
  /** The request has a body to stream ('length': as is; 'chunked': chunk-encoded by us). */
  body: 'none' | 'length' | 'chunked';
  /** Every body byte was handed to the origin socket. */
  bodyDone: boolean;
  /** Body bytes read from the client (counted only under a cap). */
  received: number;
  /** The client asked for "100 Continue" and the origin sent it. */
  continued: boolean;
  /** The origin socket pushed back on the body: a timeout now is the origin's, not the client's. */
  originBusy: boolean;
  /** An answer held back whole to be rewritten (options.answerFilter); its head is sent with the new body. */
  held: HeldAnswer | null;
}

interface HeldAnswer {
  rewriter: BodyRewriter;
  status: number;
  message: string;
  headers: string[];
  chunks: Buffer[];
  size: number;
}

/** What the pool needs of an origin connection: a TCP socket, or a tunnel stream that behaves like one. */
export type OriginSocket = stream.Duplex & { setTimeout(ms: number): unknown };

/**
 * How the pool reaches the origin: TCP to an address (reading into reused buffers), or a stream opener (the
 * tunnel: each connection is one stream to a home connector, which pipes it to Immich).
 */
export type OriginDialer = { kind: 'tcp'; host: string; port: number; highWaterMark: number } | { kind: 'stream'; open: () => OriginSocket | Error };

interface Connection {
  socket: OriginSocket;
  pool: OriginPool;
  exchange: Exchange | null;
  /** Served at least one response: a close before any byte may just be a stale keep-alive socket. */
  reused: boolean;
  received: number;
  error: NodeJS.ErrnoException | null;
  resume: () => void;
  /**
   * Where the next socket read lands. Reused from read to read, so a long download allocates (and page-faults)
   * no fresh memory per chunk; set to null whenever its bytes may still be referenced after the read (held by
   * the client socket's queue or by node:http), so the next read gets a new one.
   */
  readBuffer: Buffer | null;
  /** The origin took the body chunk that filled its buffer: let the client's body flow again. */
  drained: () => void;
}

const LEAN = Symbol('porthole.lean');
type LeanResponse = http.ServerResponse & { [LEAN]?: Exchange };

export class OriginPool {
  private readonly idle: Connection[] = [];
  private closed = false;

  constructor(private readonly dialer: OriginDialer) {}

  acquire(fresh: boolean): Connection {
    while (!fresh && this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (!conn.socket.destroyed && conn.socket.writable) return conn;
    }
    return this.connect();
  }

  release(conn: Connection, keepAliveMs: number): void {
    if (this.closed || this.idle.length >= MAX_IDLE_SOCKETS) return void conn.socket.destroy();
    conn.reused = true;
    conn.socket.setTimeout(keepAliveMs > 0 ? Math.max(500, Math.min(POOL_IDLE_MS, keepAliveMs - 1000)) : POOL_IDLE_MS);
    conn.socket.resume();
    this.idle.push(conn);
  }

  forget(conn: Connection): void {
    const at = this.idle.indexOf(conn);
    if (at !== -1) this.idle.splice(at, 1);
  }

  close(): void {
    this.closed = true;
    for (const conn of this.idle.splice(0)) conn.socket.destroy();
  }

  private connect(): Connection {
    const conn: Connection = {
      socket: null as unknown as OriginSocket, // set just below: node asks for the first read buffer inside net.connect
      pool: this,
      exchange: null,
      reused: false,
      received: 0,
      error: null,
      readBuffer: null,
      resume: () => conn.socket.resume(),
      drained: () => {
        const exchange = conn.exchange;
        if (!exchange) return;
        exchange.originBusy = false;
        if (exchange.phase !== 'done') exchange.req.resume();
      },
    };
    const socket = this.dial(conn);
    conn.socket = socket;
    socket.on('error', (error: NodeJS.ErrnoException) => (conn.error ??= error));
    socket.on('timeout', () => {
      conn.error ??= Object.assign(new Error('origin idle timeout'), { code: 'ETIMEDOUT' });
      socket.destroy();
    });
    socket.on('close', () => onClose(conn));
    return conn;
  }

  private dial(conn: Connection): OriginSocket {
    const dialer = this.dialer;
    if (dialer.kind === 'tcp') {
      const onread = {
        buffer: () => (conn.readBuffer ??= Buffer.allocUnsafe(READ_SIZE)),
        callback: (size: number, buffer: Buffer) => {
          onData(conn, buffer.subarray(0, size));
          return true;
        },
      };
      return net.connect({ host: dialer.host, port: dialer.port, noDelay: true, highWaterMark: dialer.highWaterMark, onread } as net.NetConnectOpts);
    }
    const opened = dialer.open();
    if (opened instanceof Error) {
      // No stream to be had (no connector): a connection that fails at once takes the usual failure path.
      const failed = Object.assign(new stream.PassThrough(), { setTimeout: () => failed });
      process.nextTick(() => failed.destroy(opened));
      return failed;
    }
    // A stream's reads are fresh buffers already; readBuffer stays unused.
    opened.on('data', (chunk: Buffer) => onData(conn, chunk));
    return opened;
  }
}

/** Forwards a request (its body, if any, follows as the client sends it). `headers` is from buildOriginHeaders. */
export function leanForward(pool: OriginPool, req: http.IncomingMessage, res: http.ServerResponse, options: ForwardOptions, headers: string[], hasBody: boolean): void {
  let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) {
    const value = headers[i + 1]!;
    // Node's parser already refused such bytes from the client; this guards values a handler rewrote.
    if (UNSAFE_VALUE.test(value)) return refuse(req, res, { kind: 'bad-request', reason: 'Invalid header value.' }, options.surface);
    head += `${headers[i]}: ${value}\r\n`;
  }
  const exchange: Exchange = {
    req,
    res,
    options,
    requestHead: `${head}\r\n`,
    conn: null,
    phase: 'head',
    pending: null,
    remaining: 0,
    keepAlive: true,
    keepAliveMs: -1,
    retried: false,
    body: !hasBody ? 'none' : req.headers['transfer-encoding'] !== undefined ? 'chunked' : 'length',
    bodyDone: !hasBody,
    received: 0,
    continued: false,
    originBusy: false,
    held: null,
  };
  (res as LeanResponse)[LEAN] = exchange;
  res.on('close', onClientClosed);
  send(exchange, pool.acquire(false));
  if (hasBody) {
    (req as LeanRequest)[LEAN] = exchange;
    req.on('data', onBodyData);
    req.on('end', onBodyEnd);
  }
}

type LeanRequest = http.IncomingMessage & { [LEAN]?: Exchange };

/** Streams one body chunk to the origin, with backpressure, the optional cap, and chunk framing. */
function onBodyData(this: LeanRequest, chunk: Buffer): void {
  const exchange = this[LEAN]!;
  const conn = exchange.conn;
  // An empty chunk would be written as "0\r\n\r\n", the end of a chunked body: never send one mid-body.
  if (exchange.phase === 'done' || !conn || chunk.length === 0) return;
  const limit = exchange.options.maxBodyBytes;
  if (limit !== undefined) {
    exchange.received += chunk.length;
    if (exchange.received > limit) return overCap(exchange, conn, limit);
  }
  const socket = conn.socket;
  let flushed: boolean;
  if (exchange.body === 'chunked') {
    socket.cork();
    socket.write(`${chunk.length.toString(16)}\r\n`);
    socket.write(chunk);
    flushed = socket.write('\r\n');
    socket.uncork();
  } else {
    flushed = socket.write(chunk);
  }
  if (!flushed) {
    exchange.originBusy = true;
    this.pause();
    socket.once('drain', conn.drained);
  }
}

function onBodyEnd(this: LeanRequest): void {
  const exchange = this[LEAN]!;
  const conn = exchange.conn;
  if (exchange.phase === 'done' || !conn) return;
  if (exchange.body === 'chunked') conn.socket.write('0\r\n\r\n');
  exchange.bodyDone = true;
}

function overCap(exchange: Exchange, conn: Connection, limit: number): void {
  const { req, res, options } = exchange;
  req.off('data', onBodyData);
  const answered = exchange.phase !== 'head';
  exchange.phase = 'done';
  conn.exchange = null;
  conn.socket.destroy();
  if (!answered) refuse(req, res, { kind: 'too-large', limitBytes: limit }, options.surface);
  else res.destroy();
}

function send(exchange: Exchange, conn: Connection): void {
  exchange.conn = conn;
  conn.exchange = exchange;
  conn.received = 0;
  conn.socket.setTimeout(exchange.options.idleTimeoutMs);
  conn.socket.write(exchange.requestHead);
}

function onClientClosed(this: LeanResponse): void {
  const exchange = this[LEAN];
  if (!exchange || exchange.phase === 'done') return;
  // The client left mid-response: the rest of this response can never be delivered, so the socket is spent.
  exchange.phase = 'done';
  const conn = exchange.conn;
  if (conn) {
    conn.exchange = null;
    conn.socket.destroy();
  }
}

function onData(conn: Connection, chunk: Buffer): void {
  const exchange = conn.exchange;
  // Bytes nobody asked for (idle socket, or after a complete response): the connection cannot be trusted.
  if (!exchange) return void conn.socket.destroy();
  conn.received += chunk.length;
  try {
    feed(exchange, conn, chunk);
  } catch (error) {
    fail(exchange, conn, error as NodeJS.ErrnoException);
  }
}

function feed(exchange: Exchange, conn: Connection, chunk: Buffer): void {
  let data = chunk;
  while (data.length > 0 || exchange.phase === 'done') {
    switch (exchange.phase) {
      case 'head': {
        const buffered = exchange.pending ? Buffer.concat([exchange.pending, data]) : data;
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) {
          if (buffered.length > MAX_HEAD_BYTES) throw new BadResponse('response head too large');
          // A head ending in bare LFs would never match CRLF CRLF: refuse it now instead of waiting for a timeout.
          const lf = buffered.indexOf(10);
          if (lf !== -1 && buffered[lf - 1] !== 13) throw new BadResponse('bare LF in response head');
          exchange.pending = buffered === data ? Buffer.from(data) : buffered; // data lives in the reused read buffer
          return;
        }
        // The bound holds however the head was split into reads, not only while it is incomplete.
        if (end > MAX_HEAD_BYTES) throw new BadResponse('response head too large');
        exchange.pending = null;
        data = buffered.subarray(end + 4);
        const head = parseResponseHead(buffered.toString('latin1', 0, end));
        if (head.status < 200) {
          if (head.status === 101) throw new BadResponse('unexpected 101 on a plain request');
          // The origin, not Porthole, says whether a body is welcome; other 1xx answers are not relayed.
          if (head.status === 100 && exchange.req.headers.expect !== undefined && !exchange.continued) {
            exchange.continued = true;
            exchange.res.writeContinue();
          }
          continue;
        }
        startResponse(exchange, head);
        break;
      }
      case 'length':
        data = relayCounted(exchange, conn, data, 'done');
        break;
      case 'until-close':
        write(exchange, conn, data);
        return;
      case 'chunk-size':
      case 'trailers': {
        const buffered = exchange.pending ? Buffer.concat([exchange.pending, data]) : data;
        const eol = buffered.indexOf('\r\n');
        if (eol === -1) {
          if (buffered.length > MAX_CHUNK_LINE && exchange.phase === 'chunk-size') throw new BadResponse('chunk size line too long');
          if (buffered.length > MAX_HEAD_BYTES) throw new BadResponse('trailers too large');
          exchange.pending = buffered === data ? Buffer.from(data) : buffered; // data lives in the reused read buffer
          return;
        }
        exchange.pending = null;
        const line = buffered.toString('latin1', 0, eol);
        data = buffered.subarray(eol + 2);
        if (line.includes('\r') || line.includes('\n')) throw new BadResponse('bare CR or LF in chunked framing');
        if (exchange.phase === 'trailers') {
          if (line === '') exchange.phase = 'done';
          break;
        }
        const size = /^([0-9A-Fa-f]{1,12})(?:[ \t]*;.*)?$/.exec(line);
        if (!size) throw new BadResponse('invalid chunk size');
        exchange.remaining = parseInt(size[1]!, 16);
        exchange.phase = exchange.remaining === 0 ? 'trailers' : 'chunk-data';
        break;
      }
      case 'chunk-data':
        data = relayCounted(exchange, conn, data, 'chunk-crlf');
        break;
      case 'chunk-crlf': {
        const buffered = exchange.pending ? Buffer.concat([exchange.pending, data]) : data;
        if (buffered.length < 2) {
          exchange.pending = buffered === data ? Buffer.from(data) : buffered; // data lives in the reused read buffer
          return;
        }
        exchange.pending = null;
        if (buffered[0] !== 13 || buffered[1] !== 10) throw new BadResponse('chunk not followed by CRLF');
        data = buffered.subarray(2);
        exchange.phase = 'chunk-size';
        break;
      }
      case 'done':
        return finish(exchange, conn, data.length === 0);
    }
  }
}

/** Relays up to `exchange.remaining` body bytes of `data`; returns the rest, moving to `next` once they are all out. */
function relayCounted(exchange: Exchange, conn: Connection, data: Buffer, next: Phase): Buffer {
  const n = Math.min(data.length, exchange.remaining);
  exchange.remaining -= n;
  write(exchange, conn, n === data.length ? data : data.subarray(0, n));
  if (exchange.remaining === 0) exchange.phase = next;
  return data.subarray(n);
}

const NO_BODY_STATUS = (status: number) => status === 204 || status === 304;

function startResponse(exchange: Exchange, head: ResponseHead): void {
  const { req, res, options } = exchange;
  exchange.keepAlive = !head.close;
  exchange.keepAliveMs = head.keepAliveMs;
  // The client waited for "100 Continue" that never came: its body is unsent, so this connection is done.
  const closeAfter = !exchange.continued && req.headers.expect !== undefined && !req.complete;
  const rewriter = options.answerFilter ? options.answerFilter.head(head.status, head.raw) : null;
  const headers = buildResponseHeadersFromRaw(head.raw, options.responseHeaders, closeAfter);
  const bodyless = req.method === 'HEAD' || NO_BODY_STATUS(head.status);
  if (rewriter !== null && !bodyless) exchange.held = { rewriter, status: head.status, message: head.message, headers, chunks: [], size: 0 };
  else writeHead(res, head.status, head.message, headers);
  if (bodyless) exchange.phase = 'done';
  else if (head.chunked) exchange.phase = 'chunk-size';
  else if (head.contentLength >= 0) {
    exchange.remaining = head.contentLength;
    exchange.phase = head.contentLength === 0 ? 'done' : 'length';
  } else {
    // No framing: the body ends when the origin closes, so this connection ends with it.
    exchange.keepAlive = false;
    exchange.phase = 'until-close';
  }
}

function writeHead(res: http.ServerResponse, status: number, message: string, headers: string[]): void {
  if (res.getHeaderNames().length === 0) {
    res.writeHead(status, message, headers);
  } else {
    // A cookie Porthole set on this response (the gate's renewed session) never goes where a shared cache may keep it.
    if (res.hasHeader('set-cookie') && !mayCarryPersonalCookie(headers)) res.removeHeader('set-cookie');
    for (let i = 0; i < headers.length; i += 2) res.appendHeader(headers[i]!, headers[i + 1]!);
    res.writeHead(status, message);
  }
}

/** Ends the client's response: a held answer goes out now, rewritten, with its new length. */
function endResponse(exchange: Exchange): void {
  const held = exchange.held;
  if (held === null) return void exchange.res.end();
  exchange.held = null;
  const body = held.rewriter.rewrite(Buffer.concat(held.chunks, held.size));
  if (body === null) {
    const { req, res, options } = exchange;
    options.answerFilter?.withheld?.('answer could not be checked');
    return refuse(req, res, { kind: 'origin-unreachable', cause: 'other', origin: options.origin.describe(), code: 'EANSWERREFUSED' }, options.surface);
  }
  const headers: string[] = [];
  for (let i = 0; i < held.headers.length; i += 2) if (held.headers[i]!.toLowerCase() !== 'content-length') headers.push(held.headers[i]!, held.headers[i + 1]!);
  headers.push('Content-Length', String(body.length));
  writeHead(exchange.res, held.status, held.message, headers);
  exchange.res.end(body);
}

// node:http internals read here: `_headerSent` (the head is on the wire, unlike `headersSent`, which only says it
// was built) and `outputSize` (bytes this response still holds back). Both exist in every Node release since 0.x.
type DirectResponse = http.ServerResponse & { outputSize: number; _headerSent: boolean };

function write(exchange: Exchange, conn: Connection, data: Buffer): void {
  if (data.length === 0) return;
  const held = exchange.held;
  if (held !== null) {
    held.size += data.length;
    if (held.size > held.rewriter.maxBytes) {
      exchange.options.answerFilter?.withheld?.(`answer larger than ${held.rewriter.maxBytes} bytes`);
      throw new BadResponse('answer too large to check');
    }
    held.chunks.push(Buffer.from(data)); // data may live in the reused read buffer
    return;
  }
  const res = exchange.res as DirectResponse;
  const socket = res.socket;
  // Once the head is out and nothing of this response waits inside node:http, body bytes go straight to the
  // client socket: ServerResponse would only pass them on, at a cost per chunk.
  if (exchange.phase === 'length' && socket !== null && socket.writable && res._headerSent && res.outputSize === 0) {
    const flushed = socket.write(data);
    // Written out at once (the usual case): the read buffer is free again. Otherwise the socket queued it.
    if (socket.writableLength > 0) conn.readBuffer = null;
    if (!flushed) {
      conn.socket.pause();
      socket.once('drain', conn.resume);
    }
    return;
  }
  // node:http may keep these bytes (behind the head, or for a response waiting its turn): never reuse them.
  conn.readBuffer = null;
  if (!res.write(data)) {
    conn.socket.pause();
    res.once('drain', conn.resume);
  }
}

function finish(exchange: Exchange, conn: Connection, clean: boolean): void {
  exchange.phase = 'done';
  conn.exchange = null;
  if (!exchange.bodyDone) exchange.req.off('data', onBodyData);
  endResponse(exchange);
  // A connection whose request body did not go out whole can never carry another request.
  if (clean && exchange.keepAlive && exchange.bodyDone) conn.pool.release(conn, exchange.keepAliveMs);
  else conn.socket.destroy();
}

function fail(exchange: Exchange, conn: Connection, error: NodeJS.ErrnoException): void {
  conn.error ??= error;
  conn.exchange = null;
  conn.socket.destroy();
  settleBroken(exchange, conn);
}

function onClose(conn: Connection): void {
  conn.pool.forget(conn);
  const exchange = conn.exchange;
  if (!exchange) return;
  conn.exchange = null;
  if (exchange.phase === 'until-close' && !conn.error) {
    exchange.phase = 'done';
    return endResponse(exchange);
  }
  // A pooled socket the origin had already closed: nothing was received, so send once more on a new one.
  if (exchange.phase === 'head' && exchange.body === 'none' && conn.reused && conn.received === 0 && !exchange.retried && RETRYABLE.has(exchange.req.method!)) {
    exchange.retried = true;
    return send(exchange, conn.pool.acquire(true));
  }
  settleBroken(exchange, conn);
}

/** Before the answer started: a refusal naming the cause. After: abort the client, never a short success. */
function settleBroken(exchange: Exchange, conn: Connection): void {
  const { req, res, options } = exchange;
  // A held answer has not started: nothing of it reached the client yet.
  const started = exchange.phase !== 'head' && exchange.held === null;
  exchange.held = null;
  exchange.phase = 'done';
  if (started || res.headersSent) return void res.destroy();
  if (res.destroyed) return;
  const error = conn.error ?? Object.assign(new Error('origin closed the connection'), { code: 'ECONNRESET' });
  // Idle while the origin was ready for more body: the client stalled, not Immich. Drop it like the
  // listener's own idle timeout would, rather than blaming the origin.
  if (error.code === 'ETIMEDOUT' && !exchange.bodyDone && !exchange.originBusy) return void res.destroy();
  refuse(req, res, { kind: 'origin-unreachable', cause: classifyOriginError(error), origin: options.origin.describe(), code: error.code }, options.surface);
}
