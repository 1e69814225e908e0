// Origin connections in tunnel mode: each one is an HTTP/2 stream to a connector, which pipes it to Immich
// over TCP. The origin pool (src/origin/pool.ts) speaks plain HTTP/1.1 over it exactly as over a direct
// socket (keep-alive and WebSocket upgrades included); only where the bytes travel differs, and how a
// connection is closed: never by a reset from this side when it can be helped (see ABORT_PATH in protocol.ts).
import type http2 from 'node:http2';
import type { CloseHow, OriginSocket } from '../origin/pool.js';
import { HEADER_ERROR_CODE, HEADER_ERROR_MESSAGE, ORIGIN_AUTHORITY } from './protocol.js';

/** A connector the pool may open a stream on; the hub decides which one (least loaded). */
export interface StreamOpener {
  openOriginStream(): http2.ClientHttp2Stream | Error;
  /** Asks the stream's connector to reset it; false if it cannot (a connector from before ABORT_PATH, or gone). */
  askToReset(stream: http2.ClientHttp2Stream): boolean;
}

/** Streams closeOriginSocket() is already closing. */
const closing = new WeakSet<http2.ClientHttp2Stream>();

/** A stream closed without a reset that has not finished by then is reset after all. */
export const GENTLE_CLOSE_MS = 10_000;

/** The connector could not reach Immich; `code` is its socket error (ECONNREFUSED, ENOTFOUND, ...). */
export class TunnelOriginError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Opens the CONNECT-style stream and fails it with the connector's reason if the origin refused. */
export function openStream(session: http2.ClientHttp2Session): http2.ClientHttp2Stream {
  const s = session.request({ ':method': 'CONNECT', ':authority': ORIGIN_AUTHORITY }, { endStream: false });
  s.once('response', (headers) => {
    const status = headers[':status'];
    if (status === 200) return;
    const code = String(headers[HEADER_ERROR_CODE] ?? 'ETUNNELORIGIN').slice(0, 40);
    const detail = String(headers[HEADER_ERROR_MESSAGE] ?? `status ${status}`).slice(0, 200);
    s.destroy(new TunnelOriginError(`the home connector could not reach the origin: ${detail}`, code));
  });
  return s;
}

/** One origin connection for the pool: a stream that behaves like a TCP socket, or why not. */
export function openOriginSocket(opener: StreamOpener): OriginSocket | Error {
  const opened = opener.openOriginStream();
  if (opened instanceof Error) return opened;
  // Like a TCP socket without allowHalfOpen: when the origin closes its side (an idle keep-alive connection
  // timing out), close ours too, so the stream ends and the pool forgets it instead of reusing it.
  opened.once('end', () => {
    if (!opened.writableEnded) opened.end();
  });
  return opened;
}

/**
 * Closes an origin stream the pool let go without resetting it from this side where that can be helped. A
 * stream whose answer is over, or an idle keep-alive one, is ended: the connector half-closes Immich's socket,
 * Immich closes, and the connector ends its side. One still receiving an answer nobody wants is reset by the
 * connector on request. Whatever still arrives meanwhile is dropped.
 */
export function closeOriginSocket(opener: StreamOpener, socket: OriginSocket, how: CloseHow): void {
  // A connection that failed before it had a stream (no connector attached) is a plain stream.
  if (!('session' in socket) || socket.destroyed) return void socket.destroy();
  const stream = socket as http2.ClientHttp2Stream;
  // A caller may say it twice (a WebSocket's error, then its close): the first word stands.
  if (closing.has(stream)) return;
  closing.add(stream);
  stream.resume();
  const resetAnyway = setTimeout(() => stream.destroy(), GENTLE_CLOSE_MS);
  resetAnyway.unref();
  stream.once('close', () => clearTimeout(resetAnyway));
  if (how !== 'abort' || stream.readableEnded) {
    if (!stream.writableEnded) stream.end();
    return;
  }
  if (!opener.askToReset(stream)) stream.destroy();
}
