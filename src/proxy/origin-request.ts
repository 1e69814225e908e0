// The node:http way to the origin: one request through the Origin's agent (direct keep-alive sockets, or
// streams through the tunnel). Used by the tunnel path of forward() and by WebSocket upgrades.
import http from 'node:http';
import type { RequestContext } from '../http/context.js';
import type { ForwardOptions } from './forward.js';
import { buildOriginHeaders } from './headers.js';

export function originRequest(req: http.IncomingMessage, ctx: RequestContext, options: ForwardOptions, upgrade: boolean): http.ClientRequest {
  const { target } = options.origin;
  return http.request({
    agent: options.origin.agent,
    protocol: target.protocol,
    hostname: target.hostname,
    port: target.port,
    method: req.method,
    path: req.url,
    headers: buildOriginHeaders(req, ctx, options, upgrade) as unknown as http.OutgoingHttpHeaders,
    setHost: false,
    // Idle, not total: re-armed by every byte on the origin socket (set per request, as pooled sockets
    // may carry a shorter keep-alive timeout from the origin's hint).
    timeout: options.idleTimeoutMs,
  });
}
