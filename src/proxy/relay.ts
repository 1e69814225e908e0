// Relays one client request through an origin exchange (src/origin/pool.ts) and the answer back: the request
// body streamed as the client sends it (with the optional cap and backpressure), "100 Continue" relayed from
// the origin's own, the answer's head filtered (headers.ts), and its body written as it arrives. node:http's
// client would cost about as much CPU as all the rest of a proxied request (docs/performance.md).
//
// A Content-Length answer to an HTTP/1.1 client goes straight to the client socket once nothing of this
// response waits inside node:http (its writableLength is the socket's own): the head and the first bytes in one
// corked write, then each chunk as it comes. A download then costs no per-chunk work in ServerResponse, and the
// pool may reuse its read buffer for every chunk the socket took at once. Bytes the client socket queued, or
// that node:http or node:http2 holds, are reported kept (BODY_KEPT) so their buffer is never reused; small ones
// are copied instead, so the read buffer is (every HTTP/2 answer goes through the response).
import type http from 'node:http';
import { originRefusal, refuse } from '../http/refuse.js';
import { OriginBadResponseError, type OriginError } from '../origin/errors.js';
import { BODY_KEPT, BODY_PAUSE, COPY_HELD_BODY_BYTES, type Exchange, type ExchangeHandler } from '../origin/pool.js';
import { UnsafeRequestError, type RequestBody } from '../origin/request-writer.js';
import type { ResponseHead } from '../origin/response-head.js';
import { buildResponseHeadersFromRaw, mayCarryPersonalCookie } from './headers.js';
import type { BodyRewriter, ForwardOptions } from './options.js';

interface HeldAnswer {
  rewriter: BodyRewriter;
  status: number;
  message: string;
  headers: string[];
  chunks: Buffer[];
  size: number;
}

/** Forwards a request (its body, if any, follows as the client sends it). `headers` is from buildOriginHeaders. */
export function relay(req: http.IncomingMessage, res: http.ServerResponse, options: ForwardOptions, headers: string[], hasBody: boolean): void {
  const body: RequestBody = !hasBody ? 'none' : req.headers['transfer-encoding'] !== undefined ? 'chunked' : 'length';
  const relayed = new Relay(req, res, options);
  try {
    relayed.exchange = options.origin.pool.request({ method: req.method!, path: req.url!, headers, body }, relayed, options.idleTimeoutMs);
  } catch (error) {
    // Node's parser already refused such bytes from the client; this guards values a handler rewrote.
    if (error instanceof UnsafeRequestError) return refuse(req, res, { kind: 'bad-request', reason: error.message }, options.surface);
    throw error;
  }
  res.on('close', () => relayed.clientClosed());
  if (hasBody) {
    req.on('data', relayed.onClientData);
    req.on('end', () => relayed.exchange!.endBody());
  }
}

class Relay implements ExchangeHandler {
  exchange: Exchange | null = null;
  /** Body bytes read from the client (counted only under a cap). */
  private received = 0;
  /** The client asked for "100 Continue" and the origin sent it. */
  private continued = false;
  /** An answer held back whole to be rewritten (options.answerFilter); its head goes out with the new body. */
  private held: HeldAnswer | null = null;
  /** The answer's Content-Length body may go straight to the client socket once node:http has sent the head. */
  private direct = false;
  private headWritten = false;
  /** A body chunk went through node:http, and with it the head. */
  private wroteOnce = false;
  private readonly resumeOrigin = () => this.exchange?.resume();

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly options: ForwardOptions,
  ) {}

  readonly onClientData = (chunk: Buffer): void => {
    const exchange = this.exchange!;
    if (exchange.done) return;
    const limit = this.options.maxBodyBytes;
    if (limit !== undefined) {
      this.received += chunk.length;
      if (this.received > limit) return this.overCap(exchange, limit);
    }
    if (!exchange.writeBody(chunk)) this.req.pause();
  };

  onDrain(): void {
    this.req.resume();
  }

  private overCap(exchange: Exchange, limit: number): void {
    const answered = this.headWritten || this.held !== null;
    exchange.abort();
    this.req.off('data', this.onClientData);
    if (!answered) refuse(this.req, this.res, { kind: 'too-large', limitBytes: limit }, this.options.surface);
    else this.res.destroy();
  }

  clientClosed(): void {
    // The client left mid-answer: the rest can never be delivered, so the connection is spent.
    this.exchange?.abort();
  }

  onContinue(): void {
    // The origin, not Porthole, says whether a body is welcome.
    if (this.req.headers.expect !== undefined && !this.continued) {
      this.continued = true;
      this.res.writeContinue();
    }
  }

  onHead(head: ResponseHead): void {
    const { req, options } = this;
    // The client waited for "100 Continue" that never came: its body is unsent, so this connection is done.
    const closeAfter = !this.continued && req.headers.expect !== undefined && !req.complete;
    const rewriter = options.answerFilter ? options.answerFilter.head(head.status, head.raw) : null;
    const headers = buildResponseHeadersFromRaw(head.raw, options.responseHeaders, closeAfter);
    const bodyless = req.method === 'HEAD' || head.status === 204 || head.status === 304;
    if (rewriter !== null && !bodyless) this.held = { rewriter, status: head.status, message: head.message, headers, chunks: [], size: 0 };
    else this.writeHead(head.status, head.message, headers);
    // Writing past node:http to the socket is for HTTP/1.1 only: an HTTP/2 stream shares its socket with the
    // whole session (and node:http2 refuses such writes), so its bytes always go through the response.
    this.direct = req.httpVersionMajor === 1 && !bodyless && !head.chunked && head.contentLength > 0;
  }

  private writeHead(status: number, message: string, headers: string[]): void {
    const res = this.res;
    this.headWritten = true;
    if (res.getHeaderNames().length === 0) {
      res.writeHead(status, message, headers);
    } else {
      // A cookie Porthole set on this response (the gate's renewed session) never goes where a shared cache may keep it.
      if (res.hasHeader('set-cookie') && !mayCarryPersonalCookie(headers)) res.removeHeader('set-cookie');
      for (let i = 0; i < headers.length; i += 2) res.appendHeader(headers[i]!, headers[i + 1]!);
      res.writeHead(status, message);
    }
  }

  onBody(data: Buffer): number {
    const held = this.held;
    if (held !== null) {
      held.size += data.length;
      if (held.size > held.rewriter.maxBytes) {
        this.options.answerFilter?.withheld?.(`answer larger than ${held.rewriter.maxBytes} bytes`);
        throw new OriginBadResponseError('answer too large to check');
      }
      held.chunks.push(Buffer.from(data)); // data may live in the pool's reused read buffer
      return 0;
    }
    const res = this.res;
    const socket = res.socket;
    // Nothing of this response waits inside node:http (a response queued behind a pipelined one has no socket
    // yet): the client socket takes the bytes itself.
    if (this.direct && socket !== null && socket.writable && res.writableLength === socket.writableLength) {
      // The first chunk sends the head too, in one corked write. Through res.write() node:http would cork the
      // socket until the next tick, so the bytes would stay held and need a copy or a fresh read buffer: an
      // allocation per answer, which was most of what a small answer cost beyond parsing.
      const first = !this.wroteOnce;
      if (first) {
        this.wroteOnce = true;
        socket.cork();
        res.flushHeaders();
      }
      // The head is in the socket, not queued inside node:http.
      const direct = res.writableLength === socket.writableLength;
      const flushed = direct && socket.write(data);
      if (first) socket.uncork();
      if (direct) {
        // Written out at once (the usual case): the read buffer is free again. Otherwise the socket queued it.
        const kept = socket.writableLength > 0 ? BODY_KEPT : 0;
        if (flushed) return kept;
        socket.once('drain', this.resumeOrigin);
        return kept | BODY_PAUSE;
      }
    }
    this.wroteOnce = true;
    // node:http may keep these bytes (behind the head, or for a response waiting its turn), node:http2 until the
    // session sent them.
    const copied = data.length <= COPY_HELD_BODY_BYTES;
    const kept = copied ? 0 : BODY_KEPT;
    if (res.write(copied ? Buffer.from(data) : data)) return kept;
    res.once('drain', this.resumeOrigin);
    return kept | BODY_PAUSE;
  }

  onEnd(): void {
    if (!this.exchange!.bodyDone) this.req.off('data', this.onClientData);
    const held = this.held;
    if (held === null) return void this.res.end();
    this.held = null;
    const body = held.rewriter.rewrite(Buffer.concat(held.chunks, held.size));
    if (body === null) {
      const { req, res, options } = this;
      options.answerFilter?.withheld?.('answer could not be checked');
      return refuse(req, res, { kind: 'origin-unreachable', cause: 'other', origin: options.origin.describe(), code: 'EANSWERREFUSED' }, options.surface);
    }
    const headers: string[] = [];
    for (let i = 0; i < held.headers.length; i += 2) if (held.headers[i]!.toLowerCase() !== 'content-length') headers.push(held.headers[i]!, held.headers[i + 1]!);
    headers.push('Content-Length', String(body.length));
    this.writeHead(held.status, held.message, headers);
    this.res.end(body);
  }

  /** Before the answer started: a refusal naming the cause. After: abort the client, never a short success. */
  onError(error: OriginError): void {
    const { req, res, options } = this;
    if (!this.exchange?.bodyDone) req.off('data', this.onClientData);
    // A held answer has not started: nothing of it reached the client yet.
    this.held = null;
    if (this.headWritten || res.headersSent) return void res.destroy();
    if (res.destroyed) return;
    // Idle while the origin was ready for more body: the client stalled, not Immich. Drop it like the
    // listener's own idle timeout would, rather than blaming the origin.
    if (error.code === 'ORIGIN_TIMEOUT' && this.exchange !== null && !this.exchange.bodyDone && !this.exchange.originBusy) return void res.destroy();
    refuse(req, res, originRefusal(error, options.origin.describe()), options.surface);
  }
}
