// Proxies Upgrade requests (WebSocket: Immich's socket.io at /api/socket.io). The handler has already decided
// the request may pass. The request goes through the origin's pool on a connection of its own; after the
// origin's 101 both sockets are spliced; either side closing or going idle closes the other, so no half-dead
// tunnel outlives its client.
import type http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { RequestContext } from '../http/context.js';
import { refuseUpgrade } from '../http/refuse.js';
import { setsOwnCookie } from '../http/cookies.js';
import { BODY_KEPT, BODY_PAUSE, type Exchange, type ExchangeHandler, type OriginSocket } from '../origin/pool.js';
import type { ResponseHead } from '../origin/response-head.js';
import { buildOriginHeaders, HOP_BY_HOP } from './headers.js';
import type { ForwardOptions } from './options.js';
import { tagWebSocketOpen } from '../metrics/tags.js';

function statusBlock(status: number, message: string, raw: string[], keep: (lowerName: string) => boolean, tail: string): string {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    // Porthole's own cookies are never set by the origin, on an upgrade answer either.
    if (keep(lower) && !(lower === 'set-cookie' && setsOwnCookie(raw[i + 1]!))) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return `${head}${tail}\r\n`;
}

export function forwardUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext, options: ForwardOptions): void {
  if (options.origin.unavailable()) return refuseUpgrade(socket, 503);
  let exchange: Exchange | null = null;
  const clientGone = () => exchange?.abort();
  const handler: ExchangeHandler = {
    // The origin declined the upgrade: relay its answer as a plain, close-delimited response.
    onHead(answer: ResponseHead) {
      socket.write(statusBlock(answer.status, answer.message, answer.raw, (name) => !HOP_BY_HOP.has(name) && name !== 'content-length', 'Connection: close\r\n'));
    },
    onBody(data: Buffer) {
      if (socket.write(data)) return BODY_KEPT;
      socket.once('drain', () => exchange?.resume());
      return BODY_KEPT | BODY_PAUSE;
    },
    onEnd() {
      socket.end();
    },
    onError(error, answerStarted) {
      if (answerStarted) socket.destroy();
      else refuseUpgrade(socket, error.code === 'TUNNEL_DOWN' ? 503 : 502);
    },
    onUpgrade(answer: ResponseHead, originSocket: OriginSocket, rest: Buffer) {
      socket.off('close', clientGone);
      // Through the tunnel, closed without a reset from this side (src/tunnel/origin-agent.ts).
      const closeOrigin = () => options.origin.pool.closeRaw(originSocket, 'abort');
      if (socket.destroyed) return closeOrigin();
      tagWebSocketOpen(socket);
      socket.write(statusBlock(101, answer.message || 'Switching Protocols', answer.raw, () => true, ''));
      if (rest.length) socket.write(rest);
      if (head.length) originSocket.write(head);
      // Idle bound on both legs: socket.io pings every 25 s, so only a dead peer trips this.
      originSocket.setTimeout(options.idleTimeoutMs, closeOrigin);
      if ('setTimeout' in socket) (socket as net.Socket).setTimeout(options.idleTimeoutMs, () => socket.destroy());
      originSocket.on('error', () => socket.destroy());
      socket.on('error', closeOrigin);
      originSocket.on('close', () => socket.destroy());
      socket.on('close', closeOrigin);
      originSocket.pipe(socket);
      socket.pipe(originSocket);
    },
  };
  socket.on('close', clientGone);
  try {
    exchange = options.origin.pool.upgrade(
      { method: req.method!, path: req.url!, headers: buildOriginHeaders(req, ctx, options, true), body: 'none' },
      handler,
      options.idleTimeoutMs,
    );
  } catch {
    refuseUpgrade(socket, 502);
  }
}
