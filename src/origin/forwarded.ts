// The one place that says who asked, for every request Porthole sends to Immich (forwarded requests,
// WebSocket upgrades, originals of links that hide metadata): Host, X-Forwarded-For/-Proto/-Host and
// X-Real-IP as the listener established them. A client's own claims are never passed on; behind a trusted
// proxy the chain it reported is kept and the proxy's own address appended, as that proxy would have done.
import type http from 'node:http';
import type { RequestContext } from '../http/context.js';
import { unmapIPv4 } from '../http/client-address.js';

/** Client-supplied claims about the client that only Porthole may make (re-set from what the listener knows). */
export const FORWARDING: ReadonlySet<string> = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip', 'forwarded']);

/** Host and the forwarding headers, as a flat [name, value, ...] list to append to a request's headers. */
export function forwardedHeaders(req: http.IncomingMessage, ctx: RequestContext): string[] {
  const client = ctx.client;
  let forwardedFor = client.ip;
  if (client.viaTrustedProxy) {
    const prior = req.headers['x-forwarded-for'];
    if (prior) forwardedFor = `${Array.isArray(prior) ? prior.join(', ') : prior}, ${unmapIPv4(req.socket.remoteAddress ?? '')}`;
  }
  return ['Host', ctx.rawHost, 'X-Forwarded-For', forwardedFor, 'X-Forwarded-Proto', client.scheme, 'X-Forwarded-Host', ctx.rawHost, 'X-Real-IP', client.ip];
}
