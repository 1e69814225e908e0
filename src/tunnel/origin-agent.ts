// The tunnel's http.Agent: each origin "socket" is one HTTP/2 stream to a connector, which pipes it to
// Immich over TCP. The proxy speaks plain HTTP/1.1 over it exactly as over a direct socket (keep-alive and
// WebSocket upgrades included); only where the bytes travel differs.
import http from 'node:http';
import type http2 from 'node:http2';
import type stream from 'node:stream';
import type { OriginSocket } from '../proxy/lean-client.js';
import { HEADER_ERROR_CODE, HEADER_ERROR_MESSAGE, ORIGIN_AUTHORITY } from './protocol.js';

/** A connector the agent may open a stream on; the hub decides which one (least loaded). */
export interface StreamOpener {
  openOriginStream(): http2.ClientHttp2Stream | Error;
}

export class TunnelOriginError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export class TunnelAgent extends http.Agent {
  constructor(
    private readonly opener: StreamOpener,
    options: http.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(_options: http.ClientRequestArgs, callback?: (err: Error | null, stream: stream.Duplex) => void): stream.Duplex | null | undefined {
    const opened = this.opener.openOriginStream();
    if (opened instanceof Error) {
      process.nextTick(() => callback?.(opened, undefined as unknown as stream.Duplex));
      return undefined;
    }
    return asSocket(opened);
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

/** One origin connection for the proxy's lean client: a stream that behaves like a TCP socket, or why not. */
export function openOriginSocket(opener: StreamOpener): OriginSocket | Error {
  const opened = opener.openOriginStream();
  return opened instanceof Error ? opened : (asSocket(opened) as OriginSocket);
}

// node:http and ws call these socket-only methods; on a multiplexed stream they have no meaning.
function asSocket(s: http2.ClientHttp2Stream): stream.Duplex {
  // Like a TCP socket without allowHalfOpen: when the origin closes its side (an idle keep-alive connection
  // timing out), close ours too, so the stream ends and the agent forgets it instead of reusing a dead
  // connection for the next request.
  s.once('end', () => {
    if (!s.writableEnded) s.end();
  });
  const socketLike = s as unknown as Record<string, unknown>;
  socketLike.setNoDelay = () => s;
  socketLike.setKeepAlive = () => s;
  socketLike.ref = () => s;
  socketLike.unref = () => s;
  return s;
}
