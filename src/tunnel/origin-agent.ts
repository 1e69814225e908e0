// Origin connections in tunnel mode: each one is an HTTP/2 stream to a connector, which pipes it to Immich
// over TCP. The origin pool (src/origin/pool.ts) speaks plain HTTP/1.1 over it exactly as over a direct
// socket (keep-alive and WebSocket upgrades included); only where the bytes travel differs.
import type http2 from 'node:http2';
import type { OriginSocket } from '../origin/pool.js';
import { HEADER_ERROR_CODE, HEADER_ERROR_MESSAGE, ORIGIN_AUTHORITY } from './protocol.js';

/** A connector the pool may open a stream on; the hub decides which one (least loaded). */
export interface StreamOpener {
  openOriginStream(): http2.ClientHttp2Stream | Error;
}

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
