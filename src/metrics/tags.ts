// What the request path tells the metrics about a response or socket, without knowing whether metrics are on:
// the proxy marks what it forwarded, refuse() marks what it refused and why, the WebSocket splice marks an
// upgrade that went through. Tags live in weak maps keyed by the response or socket, so they cost one map
// write and vanish with the request. Only src/metrics reads them (src/metrics/gateway-metrics.ts).
import type http from 'node:http';
import type { Duplex } from 'node:stream';

/** How the gateway dealt with a request: sent to Immich, refused, or answered itself (gate pages, redirects). */
export type Decision = 'proxied' | 'refused' | 'answered';

/** Which rate limit refused: the listener's per-client request rate, a share link's passwords, or another (gate, unknown links). */
export type RateLimitName = 'request-rate' | 'share-password' | 'other';

const decisions = new WeakMap<http.ServerResponse, { decision: Decision; refusal?: string; limit?: RateLimitName }>();
const onWebSocketOpen = new WeakMap<Duplex, () => void>();
const rateLimitedUpgrades = new WeakMap<Duplex, RateLimitName>();

/** The request went to the origin (a later refusal, e.g. the origin failing, overrides this). */
export function tagProxied(res: http.ServerResponse): void {
  decisions.set(res, { decision: 'proxied' });
}

/** The request was refused; `kind` is a Refusal kind (a fixed set, never anything the client sent); `limit` for 'rate-limited'. */
export function tagRefused(res: http.ServerResponse, kind: string, limit?: RateLimitName): void {
  decisions.set(res, { decision: 'refused', refusal: kind, limit });
}

export function decisionOf(res: http.ServerResponse): { decision: Decision; refusal?: string; limit?: RateLimitName } {
  return decisions.get(res) ?? { decision: 'answered' };
}

/** The origin answered 101 and the client socket is now spliced to it. */
export function tagWebSocketOpen(socket: Duplex): void {
  const opened = onWebSocketOpen.get(socket);
  onWebSocketOpen.delete(socket);
  opened?.();
}

/** Called by the metrics when an upgrade request arrives: `opened` runs if and when it becomes a WebSocket. */
export function whenWebSocketOpens(socket: Duplex, opened: () => void): void {
  onWebSocketOpen.set(socket, opened);
}

/** An upgrade request refused by a rate limit before it could become a WebSocket. */
export function tagRateLimitedUpgrade(socket: Duplex, limit: RateLimitName): void {
  rateLimitedUpgrades.set(socket, limit);
}

export function rateLimitOfUpgrade(socket: Duplex): RateLimitName | undefined {
  return rateLimitedUpgrades.get(socket);
}
