// The origin connection pool: keep-alive HTTP/1.1 connections to Immich, each a TCP socket (direct mode) or a
// stream to the home connector (tunnel mode, see OriginDialer), and the exchanges that run on them. An
// exchange writes its request (request-writer.ts), reads the answer (response-parser.ts) and hands head and
// body bytes to its handler as they arrive; the proxy's relay (src/proxy/relay.ts), the promise API
// (request.ts) and WebSocket upgrades (upgrade.ts) are such handlers. A pooled connection the origin had
// already closed is retried once, for body-less GET/HEAD/OPTIONS only.
//
// Socket listeners are installed once per connection; a request only points the connection at its exchange.
// A TCP connection reads into one reused buffer (a long download allocates nothing per chunk); a handler that
// may still hold the bytes after its call says so (BODY_KEPT) and the next read gets a fresh buffer.
import net from 'node:net';
import stream from 'node:stream';
import { OriginBadResponseError, OriginResetError, OriginTimeoutError, toOriginError, type OriginError } from './errors.js';
import { endBody, formatRequestHead, writeBodyChunk, type OriginRequestHead } from './request-writer.js';
import type { ResponseHead } from './response-head.js';
import { ResponseParser, type ParserEvents } from './response-parser.js';

/** One socket read, as node's own default. */
const READ_SIZE = 64 * 1024;
/** Idle pooled connections are dropped before a typical origin keep-alive timeout (Node's default is 5 s). */
const POOL_IDLE_MS = 4_000;
const MAX_IDLE = 256;
/** Safe to send again when a reused connection turns out to have been closed by the origin. */
const RETRYABLE: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** onBody() flags: the handler may still reference the bytes after returning (never reuse their buffer). */
export const BODY_KEPT = 1;
/** onBody() flags: stop reading until the handler calls exchange.resume(). */
export const BODY_PAUSE = 2;
/**
 * A handler that must hold body bytes past onBody copies them up to this size and keeps the read buffer in
 * use: giving a 64 KiB buffer away for a small answer costs an external allocation per answer, and where the
 * holder lives long (an HTTP/2 stream) those buffers pile up until a full GC frees them.
 */
export const COPY_HELD_BODY_BYTES = READ_SIZE / 2;

/** What the pool needs of an origin connection: a TCP socket, or a tunnel stream that behaves like one. */
export type OriginSocket = stream.Duplex & { setTimeout(ms: number, callback?: () => void): unknown };

/**
 * How the pool reaches the origin: TCP to an address, or a stream opener (the tunnel: each connection is one
 * stream to a home connector, which pipes it to Immich). A stream opener returns an error when no stream can
 * be had (no connector attached), which fails the exchange like a refused connection.
 */
export type OriginDialer =
  | { kind: 'tcp'; host: string; port: number; highWaterMark: number }
  | {
      kind: 'stream';
      open: () => OriginSocket | Error;
      close?: (socket: OriginSocket, how: CloseHow) => void;
      /**
       * The connection carries no answer now (true: parked between exchanges, or handed over after a 101 to a
       * WebSocket, which carries little) or carries one again (false: lent out). The tunnel sizes its receive
       * windows by the connections carrying answers.
       */
      idle?: (socket: OriginSocket, idle: boolean) => void;
    };

/**
 * Why the pool lets a connection go, so a stream opener can close it the cheapest way (src/tunnel/origin-agent.ts):
 * `idle` (an unused keep-alive connection), `done` (its answer is complete, but it cannot carry another), `abort`
 * (mid-exchange: whatever the origin still sends is unwanted, and a half-sent request body must not look whole).
 * A TCP socket is destroyed in every case, and so is a stream whose dialer has no `close`.
 */
export type CloseHow = 'idle' | 'done' | 'abort';

export interface ExchangeHandler {
  /** The origin sent 100 Continue. */
  onContinue?(): void;
  /** The final answer's head. May throw an OriginError to refuse the answer (the exchange then fails). */
  onHead(head: ResponseHead): void;
  /** Body bytes; returns BODY_KEPT and/or BODY_PAUSE (0: done with them, keep reading). May throw an OriginError. */
  onBody(data: Buffer): number;
  /** The answer is complete. */
  onEnd(): void;
  /** The exchange failed; `answerStarted` says whether onHead was called. Called at most once, never after onEnd. */
  onError(error: OriginError, answerStarted: boolean): void;
  /** The connection took the body chunk that filled its buffer: the sender may go on. */
  onDrain?(): void;
  /** Upgrade requests only: the origin switched protocols; the socket (paused) and bytes after the head are the caller's. */
  onUpgrade?(head: ResponseHead, socket: OriginSocket, rest: Buffer): void;
}

interface Connection {
  socket: OriginSocket;
  exchange: Exchange | null;
  /** Served at least one answer: a close before any byte may just be a stale keep-alive connection. */
  reused: boolean;
  received: number;
  error: Error | null;
  /** Where the next TCP read lands (reused from read to read; null when its bytes may still be referenced). */
  readBuffer: Buffer | null;
  onData: (chunk: Buffer) => void;
  onClose: () => void;
  onTimeout: () => void;
}

export class OriginPool {
  private readonly idle: Connection[] = [];
  private closed = false;
  /** Requests sent once more because their pooled connection had been closed by the origin (tests count it). */
  staleRetries = 0;

  constructor(private readonly dialer: OriginDialer) {}

  /** Sends a request; its body, if any, follows through exchange.writeBody()/endBody(). */
  request(head: OriginRequestHead, handler: ExchangeHandler, timeoutMs: number): Exchange {
    const exchange = new Exchange(this, formatRequestHead(head), head, handler, timeoutMs, false);
    exchange.send(this.acquire(false));
    return exchange;
  }

  /** Sends an Upgrade request on a connection of its own, which the handler gets on a 101 (onUpgrade). */
  upgrade(head: OriginRequestHead, handler: ExchangeHandler, timeoutMs: number): Exchange {
    const exchange = new Exchange(this, formatRequestHead(head), head, handler, timeoutMs, true);
    exchange.send(this.connect(true));
    return exchange;
  }

  /** A raw connection to the origin, outside the pool (benchmarks and tests of the transport itself). */
  openRaw(): OriginSocket {
    return this.dial(null, true);
  }

  close(): void {
    this.closed = true;
    for (const conn of this.idle.splice(0)) this.discard(conn, 'idle');
  }

  /** Closes a connection from openRaw() or an upgrade the way `how` says (see CloseHow). */
  closeRaw(socket: OriginSocket, how: CloseHow): void {
    const dialer = this.dialer;
    if (dialer.kind === 'tcp' || !dialer.close || socket.destroyed) socket.destroy();
    else dialer.close(socket, how);
  }

  /** Lets a pooled connection go: the pool stops listening to it and never lends it out again, and the dialer closes it. */
  discard(conn: Connection, how: CloseHow): void {
    if (this.dialer.kind === 'stream' && this.dialer.close) {
      // A stream the connector is asked to reset stays writable for a round trip: not to be lent out meanwhile.
      const at = this.idle.indexOf(conn);
      if (at !== -1) this.idle.splice(at, 1);
      conn.socket.off('data', conn.onData);
      conn.socket.off('timeout', conn.onTimeout);
      conn.socket.setTimeout(0);
    }
    this.closeRaw(conn.socket, how);
  }

  /** Tells a stream dialer whether a connection carries an answer (see `idle` in OriginDialer). */
  markIdle(socket: OriginSocket, idle: boolean): void {
    if (this.dialer.kind === 'stream') this.dialer.idle?.(socket, idle);
  }

  acquire(fresh: boolean): Connection {
    while (!fresh && this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (!conn.socket.destroyed && conn.socket.writable) {
        this.markIdle(conn.socket, false);
        return conn;
      }
    }
    return this.connect(false);
  }

  release(conn: Connection, keepAliveMs: number): void {
    if (this.closed || this.idle.length >= MAX_IDLE) return void this.discard(conn, 'idle');
    conn.reused = true;
    conn.socket.setTimeout(keepAliveMs > 0 ? Math.max(500, Math.min(POOL_IDLE_MS, keepAliveMs - 1000)) : POOL_IDLE_MS);
    conn.socket.resume();
    this.idle.push(conn);
    this.markIdle(conn.socket, true);
  }

  private connect(plain: boolean): Connection {
    const conn: Connection = {
      socket: null as unknown as OriginSocket, // set just below: node asks for the first read buffer inside net.connect
      exchange: null,
      reused: false,
      received: 0,
      error: null,
      readBuffer: null,
      onData: (chunk) => onData(this, conn, chunk),
      onClose: () => {
        const at = this.idle.indexOf(conn);
        if (at !== -1) this.idle.splice(at, 1);
        conn.exchange?.connectionClosed(conn);
      },
      onTimeout: () => {
        conn.error ??= new OriginTimeoutError('origin idle timeout', 'ETIMEDOUT');
        this.discard(conn, conn.exchange ? 'abort' : 'idle');
      },
    };
    const socket = this.dial(conn, plain);
    conn.socket = socket;
    socket.on('error', (error: Error) => (conn.error ??= error));
    socket.on('timeout', conn.onTimeout);
    socket.on('close', conn.onClose);
    return conn;
  }

  /**
   * `plain`: 'data' events instead of reused read buffers (a connection that may be handed over whole). Without
   * `conn`, nothing is listened to: the socket is the caller's.
   */
  private dial(conn: Connection | null, plain: boolean): OriginSocket {
    const dialer = this.dialer;
    if (dialer.kind === 'tcp') {
      const options = { host: dialer.host, port: dialer.port, noDelay: true, highWaterMark: dialer.highWaterMark } as net.NetConnectOpts & { onread?: unknown };
      if (!plain && conn) {
        options.onread = {
          buffer: () => (conn.readBuffer ??= Buffer.allocUnsafe(READ_SIZE)),
          callback: (size: number, buffer: Buffer) => {
            onData(this, conn, buffer.subarray(0, size));
            return true;
          },
        };
      }
      const socket = net.connect(options);
      if (plain && conn) socket.on('data', conn.onData);
      return socket;
    }
    const opened = dialer.open();
    if (opened instanceof Error) {
      // No stream to be had (no connector): a connection that fails at once takes the usual failure path.
      const failed = Object.assign(new stream.PassThrough(), { setTimeout: () => failed });
      process.nextTick(() => failed.destroy(opened));
      return failed;
    }
    // A stream's reads are fresh buffers already; readBuffer stays unused.
    if (conn) opened.on('data', conn.onData);
    return opened;
  }
}

function onData(pool: OriginPool, conn: Connection, chunk: Buffer): void {
  const exchange = conn.exchange;
  // Bytes nobody asked for (idle connection, or after a complete answer): the connection cannot be trusted.
  if (!exchange) return void pool.discard(conn, 'abort');
  conn.received += chunk.length;
  exchange.received(conn, chunk);
}

/** One request and its answer, on one connection (two if a stale pooled one had to be replaced). */
export class Exchange implements ParserEvents {
  private conn: Connection | null = null;
  private readonly parser = new ResponseParser(this);
  private keepAlive = true;
  private keepAliveMs = -1;
  private retried = false;
  private finished = false;
  /** Every body byte was handed to the origin connection. */
  bodyDone: boolean;
  /** The origin connection pushed back on the body: a timeout now is the origin's, not the sender's. */
  originBusy = false;

  constructor(
    private readonly pool: OriginPool,
    private readonly requestHead: string,
    private readonly request: OriginRequestHead,
    private readonly handler: ExchangeHandler,
    private readonly timeoutMs: number,
    private readonly isUpgrade: boolean,
  ) {
    this.bodyDone = request.body === 'none';
    this.parser.reset(request.method === 'HEAD');
  }

  get done(): boolean {
    return this.finished;
  }

  send(conn: Connection): void {
    this.conn = conn;
    conn.exchange = this;
    conn.received = 0;
    conn.socket.setTimeout(this.timeoutMs);
    conn.socket.write(this.requestHead);
  }

  /** Streams one body chunk; false when the sender should wait for onDrain. Ignored once the exchange is over. */
  writeBody(chunk: Buffer): boolean {
    const conn = this.conn;
    // An empty chunk would be written as "0\r\n\r\n", the end of a chunked body: never send one mid-body.
    if (this.finished || !conn || chunk.length === 0) return true;
    if (writeBodyChunk(conn.socket, chunk, this.request.body)) return true;
    this.originBusy = true;
    conn.socket.once('drain', () => {
      this.originBusy = false;
      if (!this.finished) this.handler.onDrain?.();
    });
    return false;
  }

  endBody(): void {
    if (this.finished || !this.conn) return;
    endBody(this.conn.socket, this.request.body);
    this.bodyDone = true;
  }

  /** After BODY_PAUSE: read on. */
  resume(): void {
    this.conn?.socket.resume();
  }

  /** The sender is gone (or over a limit): the connection is spent, the handler hears nothing more. */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    const conn = this.conn;
    if (conn) {
      conn.exchange = null;
      this.pool.discard(conn, 'abort');
    }
  }

  received(conn: Connection, chunk: Buffer): void {
    try {
      const rest = this.parser.feed(chunk);
      if (rest !== null && conn.exchange === this) this.complete(conn, rest.length === 0);
    } catch (error) {
      this.fail(conn, error as Error);
    }
  }

  // ParserEvents
  informational(head: ResponseHead): void {
    if (head.status === 100) this.handler.onContinue?.();
  }

  head(head: ResponseHead, rest: Buffer): boolean {
    if (head.status === 101) {
      if (!this.isUpgrade || !this.handler.onUpgrade) throw new OriginBadResponseError('unexpected 101 on a plain request');
      const conn = this.conn!;
      this.finished = true;
      conn.exchange = null;
      // The connection leaves the pool's care: its listeners go, the new owner reads it.
      conn.socket.pause();
      conn.socket.off('data', conn.onData);
      conn.socket.off('timeout', conn.onTimeout);
      conn.socket.off('close', conn.onClose);
      conn.socket.setTimeout(0);
      this.pool.markIdle(conn.socket, true);
      this.handler.onUpgrade(head, conn.socket, Buffer.from(rest));
      return false;
    }
    if (this.finished) return false;
    this.keepAlive = !head.close && !this.isUpgrade;
    this.keepAliveMs = head.keepAliveMs;
    this.handler.onHead(head);
    return true;
  }

  body(data: Buffer): void {
    if (this.finished) return;
    const flags = this.handler.onBody(data);
    const conn = this.conn!;
    if (flags & BODY_KEPT) conn.readBuffer = null;
    if (flags & BODY_PAUSE) conn.socket.pause();
  }

  private complete(conn: Connection, clean: boolean): void {
    if (this.finished) return;
    this.finished = true;
    conn.exchange = null;
    this.handler.onEnd();
    // A connection whose request body did not go out whole can never carry another request.
    if (clean && this.keepAlive && this.bodyDone) this.pool.release(conn, this.keepAliveMs);
    else this.pool.discard(conn, this.bodyDone ? 'done' : 'abort');
  }

  private fail(conn: Connection, error: Error): void {
    conn.error ??= error;
    conn.exchange = null;
    this.pool.discard(conn, 'abort');
    this.settle(conn);
  }

  connectionClosed(conn: Connection): void {
    conn.exchange = null;
    if (this.finished) return;
    if (this.parser.phase === 'until-close' && !conn.error) return this.complete(conn, false);
    // A pooled connection the origin had already closed: nothing was received, so send once more on a new one.
    if (this.parser.phase === 'head' && this.request.body === 'none' && conn.reused && conn.received === 0 && !this.retried && RETRYABLE.has(this.request.method)) {
      this.retried = true;
      this.pool.staleRetries++;
      return this.send(this.pool.acquire(true));
    }
    this.settle(conn);
  }

  private settle(conn: Connection): void {
    if (this.finished) return;
    this.finished = true;
    const error = conn.error ?? new OriginResetError('origin closed the connection', 'ECONNRESET');
    this.handler.onError(toOriginError(error), this.parser.phase !== 'head');
  }
}
