// Proxies Upgrade requests (WebSocket: Immich's socket.io at /api/socket.io). The handler has already decided
// the request may pass. After the origin's 101 both sockets are spliced; either side closing or going idle
// closes the other, so no half-dead tunnel outlives its client.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { RequestContext } from '../http/context.js';
import { refuseUpgrade } from '../http/refuse.js';
import { setsOwnCookie } from '../http/cookies.js';
import { HOP_BY_HOP } from './headers.js';
import type { ForwardOptions } from './forward.js';
import { originRequest } from './origin-request.js';
import { tagWebSocketOpen } from '../metrics/tags.js';

function statusBlock(status: number, message: string | undefined, raw: string[], keep: (lowerName: string) => boolean, tail: string): string {
  let head = `HTTP/1.1 ${status} ${message ?? ''}\r\n`;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    // Porthole's own cookies are never set by the origin, on an upgrade answer either.
    if (keep(lower) && !(lower === 'set-cookie' && setsOwnCookie(raw[i + 1]!))) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return `${head}${tail}\r\n`;
}

export function forwardUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext, options: ForwardOptions): void {
  if (options.origin.unavailable()) return refuseUpgrade(socket, 503);
  const proxyReq = originRequest(req, ctx, options, true);
  proxyReq.on('timeout', () => proxyReq.destroy(Object.assign(new Error('origin idle timeout'), { code: 'ETIMEDOUT' })));
  const clientGone = () => proxyReq.destroy();
  socket.on('close', clientGone);
  proxyReq.on('error', () => refuseUpgrade(socket, 502));
  proxyReq.on('response', (proxyRes) => {
    // The origin declined the upgrade: relay its answer as a plain, close-delimited response.
    socket.write(
      statusBlock(proxyRes.statusCode ?? 502, proxyRes.statusMessage, proxyRes.rawHeaders, (name) => !HOP_BY_HOP.has(name) && name !== 'content-length', 'Connection: close\r\n'),
    );
    proxyRes.on('error', () => socket.destroy());
    proxyRes.pipe(socket);
  });
  proxyReq.on('upgrade', (proxyRes, originSocket, originHead) => {
    socket.off('close', clientGone);
    if (socket.destroyed) return void originSocket.destroy();
    tagWebSocketOpen(socket);
    socket.write(statusBlock(101, proxyRes.statusMessage ?? 'Switching Protocols', proxyRes.rawHeaders, () => true, ''));
    if (originHead.length) socket.write(originHead);
    if (head.length) originSocket.write(head);
    // Idle bound on both legs: socket.io pings every 25 s, so only a dead peer trips this.
    originSocket.setTimeout(options.idleTimeoutMs, () => originSocket.destroy());
    if ('setTimeout' in socket) (socket as import('node:net').Socket).setTimeout(options.idleTimeoutMs, () => socket.destroy());
    originSocket.on('error', () => socket.destroy());
    socket.on('error', () => originSocket.destroy());
    originSocket.on('close', () => socket.destroy());
    socket.on('close', () => originSocket.destroy());
    originSocket.pipe(socket);
    socket.pipe(originSocket);
  });
  proxyReq.end();
}
