// Gate sessions: minting them after sign-in, recognising them on every proxied request (the hot path),
// sliding renewal, and the cookies that carry them. The token lives only in the browser; the store keeps
// its SHA-256, so a copy of the database cannot be replayed as a cookie.
import crypto from 'node:crypto';
import type { ResolvedConfig } from '../config/load.js';
import { readCookie } from '../http/cookies.js';
import { createRevocableCache } from '../store/revocable-cache.js';
import type { SessionRecord, Store } from '../store/store.js';
import type { Allowlist } from './email.js';

/** 256-bit tokens, base64url without padding: always exactly this many characters. */
const TOKEN_BYTES = 32;
const TOKEN_LENGTH = 43;
/** The length of every session cookie Porthole issues (anything else is junk, never looked up). */
export const SESSION_TOKEN_LENGTH = TOKEN_LENGTH;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
/** The store is written at most this often per session, however many requests it makes. */
export const RENEW_INTERVAL_MS = 60_000;

type CookieConfig = Pick<ResolvedConfig, 'publicScheme'>;

/** Names of every cookie Porthole sets; `__Host-` pins them to this exact host over HTTPS. */
export function cookieNames(config: CookieConfig): { session: string; csrf: string; pending: string } {
  const prefix = config.publicScheme === 'https' ? '__Host-' : '';
  return { session: `${prefix}porthole_session`, csrf: `${prefix}porthole_csrf`, pending: `${prefix}porthole_pending` };
}

const sessionCookieName = (config: CookieConfig): string => cookieNames(config).session;

/** Serialises a Set-Cookie value with the flags every Porthole cookie carries. */
export function cookieHeader(config: CookieConfig, name: string, value: string, maxAgeSeconds: number): string {
  const secure = config.publicScheme === 'https' ? '; Secure' : '';
  return `${name}=${value}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; HttpOnly; SameSite=Lax${secure}`;
}

export const hashToken = (token: string): string => crypto.createHash('sha256').update(token).digest('hex');

export interface IssuedSession {
  cookieName: string;
  cookieValue: string;
  id: string;
  expiresAt: number;
  /** The full Set-Cookie header value for this session. */
  setCookie: string;
}

export interface IssueOptions {
  now?: number;
  ip?: string | null;
  userAgent?: string | null;
}

/**
 * Creates a session for `email` and returns the cookie that carries it. Used by the gate after a good code,
 * and by tests and the benchmark to sign in without the mail round trip.
 */
export function issueSession(store: Store, config: Pick<ResolvedConfig, 'publicScheme' | 'gate'>, email: string, options: IssueOptions = {}): IssuedSession {
  const now = options.now ?? Date.now();
  const token = crypto.randomBytes(TOKEN_BYTES).toString('base64url');
  const record: SessionRecord = {
    id: crypto.randomBytes(8).toString('hex'),
    tokenHash: hashToken(token),
    email: email.toLowerCase(),
    createdAt: now,
    expiresAt: now + config.gate.sessionLifetime,
    lastSeenAt: now,
    ip: options.ip ?? null,
    userAgent: options.userAgent ? options.userAgent.slice(0, 256) : null,
  };
  store.sessions.create(record);
  const cookieName = sessionCookieName(config);
  return {
    cookieName,
    cookieValue: token,
    id: record.id,
    expiresAt: record.expiresAt,
    setCookie: cookieHeader(config, cookieName, token, config.gate.sessionLifetime / 1000),
  };
}

/** The gate reads cookies with the one strict parser the forwarding filter uses too. */
export { readCookie };

export interface ValidSession {
  record: SessionRecord;
  /** Set when this request renewed the session: the refreshed cookie to send back. */
  renewedCookie?: string;
}

export interface SessionChecker {
  /** The session behind this Cookie header, renewed if due; undefined when there is none or it expired. */
  check(cookieHeader: string | undefined, now: number): ValidSession | undefined;
  /** The stored session for a Cookie header without renewing it (logout, the login page). */
  peek(cookieHeader: string | undefined, now: number): SessionRecord | undefined;
  /** Stops listening to the store's revocations. */
  close(): void;
}

/** Recently validated sessions kept in memory, so most requests cost no hash and no query. */
const CACHE_LIMIT = 2048;

export function createSessionChecker(store: Store, config: Pick<ResolvedConfig, 'publicScheme' | 'gate'>, allowlist: Allowlist): SessionChecker {
  const name = sessionCookieName(config);
  const lifetime = config.gate.sessionLifetime;
  // Keyed by the token the browser sent; emptied whenever the store announces a session revoked (logout here,
  // or `porthole sessions revoke` in another process), so revocation is never outlived.
  const cache = createRevocableCache<SessionRecord>(store.changes, ['session'], CACHE_LIMIT);
  // Sessions outlive restarts and reloads; someone taken off gate.allow must not keep a working session,
  // so a replaced allowlist empties the cache and every session is checked against the new one.
  const stopAllowlist = allowlist.subscribe(() => cache.clear());

  const lookup = (token: string, now: number): SessionRecord | undefined => {
    let record = cache.get(token);
    if (!record) {
      record = store.sessions.findByTokenHash(hashToken(token));
      if (!record || !allowlist.allows(record.email)) return undefined;
      cache.set(token, record);
    }
    if (record.expiresAt <= now) {
      cache.delete(token);
      return undefined;
    }
    return record;
  };

  const tokenFrom = (header: string | undefined): string | undefined => {
    const token = readCookie(header, name);
    // Junk never costs a hash or a query.
    return token !== undefined && token.length === TOKEN_LENGTH && TOKEN_SHAPE.test(token) ? token : undefined;
  };

  return {
    peek(header, now) {
      const token = tokenFrom(header);
      return token === undefined ? undefined : lookup(token, now);
    },
    check(header, now) {
      const token = tokenFrom(header);
      if (token === undefined) return undefined;
      const record = lookup(token, now);
      if (!record) return undefined;
      if (now - record.lastSeenAt < RENEW_INTERVAL_MS) return { record };
      const renewed = { ...record, lastSeenAt: now, expiresAt: now + lifetime };
      store.sessions.touch(record.id, renewed.lastSeenAt, renewed.expiresAt);
      cache.set(token, renewed);
      return { record: renewed, renewedCookie: cookieHeader(config, name, token, lifetime / 1000) };
    },
    close() {
      cache.close();
      stopAllowlist();
    },
  };
}
