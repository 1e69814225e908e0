// What an admin can do from the admin page: end a browser session, revoke a device token, remove a passkey,
// revoke a tunnel token (its connectors are dropped at once), have every gateway forget what it cached about share
// links. Each action is audited with who did it and to what; an id that names nothing (already revoked, or never
// existed) changes nothing and says so.
import { boundText } from '../store/audit-guard.js';
import type { Store } from '../store/store.js';
import type { TunnelStatus } from '../tunnel/status.js';
import type { TunnelTokenStore } from '../tunnel/token-store.js';

export const ACTION_KINDS = ['session', 'device', 'passkey', 'tunnel-token'] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];

/** Ids are random hex: 16 characters for sessions, devices and passkeys, 12 for tunnel tokens. */
const ID_SHAPES: Record<ActionKind, RegExp> = {
  session: /^[0-9a-f]{16}$/,
  device: /^[0-9a-f]{16}$/,
  passkey: /^[0-9a-f]{16}$/,
  'tunnel-token': /^[0-9a-f]{12}$/,
};

export interface RevokeRequest {
  kind: ActionKind;
  id: string;
}

export function parseRevoke(kind: string | null, id: string | null): RevokeRequest | null {
  if (kind === null || id === null || !(ACTION_KINDS as readonly string[]).includes(kind)) return null;
  return ID_SHAPES[kind as ActionKind].test(id) ? { kind: kind as ActionKind, id } : null;
}

/**
 * The tunnel as the admin page acts on it: its tokens, the hub that drops a revoked token's connectors here, and
 * the other gateways sharing the store (which drop theirs when the store's change feed tells them).
 */
export interface AdminTunnel {
  tokens: TunnelTokenStore;
  dropToken(tokenId: string, reason: string): number;
  /** The other gateways' status as they last shared it (absent without a store shared with any); may throw. */
  others?(): TunnelStatus[];
}

export interface ActionContext {
  store: Store;
  tunnel?: AdminTunnel;
  /** The admin doing it and from where. */
  actor: string;
  ip: string | null;
  now: number;
}

/** Carries out one revocation; false when there was nothing (left) to revoke. */
export function revoke(request: RevokeRequest, c: ActionContext): boolean {
  const by = `by ${c.actor} (admin page)`;
  const audit = (type: 'session.revoked' | 'device.revoked' | 'passkey.revoked' | 'tunnel.token-revoked', email: string, detail: string) =>
    c.store.audit.record({ type, at: c.now, email, ip: c.ip, detail: boundText(`${detail}, ${by}`, 300) });
  switch (request.kind) {
    case 'session': {
      const session = c.store.sessions.revokeById(request.id);
      if (session) audit('session.revoked', session.email, `session ${session.id}`);
      return session !== undefined;
    }
    case 'device': {
      const device = c.store.devices.revokeById(request.id, c.now);
      if (device) audit('device.revoked', device.email, `device ${device.id} "${device.name}"`);
      return device !== undefined;
    }
    case 'passkey': {
      const passkey = c.store.passkeys.revokeById(request.id);
      if (passkey) audit('passkey.revoked', passkey.email, `passkey ${passkey.id} "${passkey.name}"`);
      return passkey !== undefined;
    }
    case 'tunnel-token': {
      if (!c.tunnel) return false;
      const token = c.tunnel.tokens.list().find((t) => t.id === request.id);
      if (!token || !c.tunnel.tokens.revoke(request.id, c.now)) return false;
      // The hub would notice within its revocation interval; an admin who pressed the button expects it now.
      const dropped = c.tunnel.dropToken(request.id, 'token revoked on the admin page');
      // Other gateways drop theirs when the store's change feed brings them the revocation (within about a second).
      const elsewhere = attachedElsewhere(c.tunnel, request.id);
      const there = elsewhere ? `, ${elsewhere} attached to other gateways (dropped there as the revocation reaches them)` : '';
      audit('tunnel.token-revoked', c.actor, `tunnel token ${token.id} "${token.name}", ${dropped} connector(s) dropped${there}`);
      return true;
    }
  }
}

/** Connectors with this token on the other gateways, as they last said; 0 when that cannot be read (only the audit line says it). */
function attachedElsewhere(tunnel: AdminTunnel, tokenId: string): number {
  try {
    return (tunnel.others?.() ?? []).reduce((n, g) => n + g.connectors.filter((c) => c.tokenId === tokenId).length, 0);
  } catch {
    return 0;
  }
}

/** One cache entry's name as the link cache gives it (LinkCacheEntry.name): an Immich link id, or `tag:` and a link tag. */
const LINK_NAME = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|tag:[A-Za-z0-9_-]{16})$/;

/** The form's `link` fields: none is every link, one is that entry's name; anything else (several, another shape) null. */
export function parseForget(links: readonly string[]): { link: string | null } | null {
  if (links.length === 0) return { link: null };
  return links.length === 1 && LINK_NAME.test(links[0]!) ? { link: links[0]! } : null;
}

/**
 * Announces on the store's change feed that share links changed, so every gateway sharing the store (this one at
 * once) forgets what Immich said about them and asks again on the next request.
 */
export function forgetLinks(request: { link: string | null }, c: ActionContext): void {
  c.store.linkChanged(request.link === null ? undefined : [request.link]);
  const what = request.link === null ? 'every cached link answer' : `cached answers about link ${request.link}`;
  c.store.audit.record({ type: 'share.link-forgotten', at: c.now, email: c.actor, ip: c.ip, detail: boundText(`${what}, by ${c.actor} (admin page)`, 300) });
}
