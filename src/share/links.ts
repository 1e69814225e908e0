// What Immich says about a share link, learned at the gateway: GET /api/shared-links/me with the link's key or
// slug (and, for password links, the visitor's unlock cookie). Answers are cached briefly and concurrent misses
// for the same link share one origin request, so a page load of a big album costs one lookup, not hundreds.
// forget() drops answers about links that changed at Immich (announced on the store's change feed, from this
// gateway or any other sharing the store), and keeps lookups already under way from caching what they bring.
import { LRUCache } from 'lru-cache';
import crypto from 'node:crypto';
import { OriginBadResponseError } from '../origin/errors.js';
import type { Origin } from '../origin/origin.js';
import { originRequest, readSmallBody } from '../origin/request.js';
import type { LinkCredential, LinkFacts } from './engine.js';
import { linkTag } from './link-tag.js';

export interface LinkState extends LinkFacts {
  readonly id: string;
  readonly key: string;
  readonly slug: string | null;
  readonly passwordProtected: boolean;
  /** Epoch ms, or null for links that never expire. */
  readonly expiresAt: number | null;
  /** When the link was made (epoch ms), for the share.rules.maxLinkAge rule; absent if Immich did not say. */
  readonly createdAt?: number;
}

export type Lookup = { kind: 'open'; link: LinkState } | { kind: 'password' } | { kind: 'unknown' };

export interface LinkResolver {
  /** The link as an anonymous visitor sees it. */
  lookup(credential: LinkCredential): Promise<Lookup>;
  /** The cached answer of lookup(), if still fresh, without waiting: the hot path of every share request. */
  peek(credential: LinkCredential): Lookup | undefined;
  /** The link's state if this unlock cookie value opens it (Immich accepted the password), else null. */
  unlock(credential: LinkCredential, cookieValue: string): Promise<LinkState | null>;
  /**
   * Drops what is cached about these links (Immich link ids, `tag:<linkTag>` names; none: every link) and lets
   * no lookup under way cache its answer; returns how many entries went.
   */
  forget(ids?: readonly string[]): number;
  /** What the cache holds now, for the admin page: counts and the newest entries, without keys or slugs in full. */
  state(now?: number): LinkCacheState;
}

export interface LinkCacheEntry {
  /** The link's id when Immich named it, else the start of its key or slug. */
  label: string;
  /** What forget() takes to drop this entry: the link's Immich id, else `tag:<linkTag>` of its key or slug. */
  name: string;
  /** open/password/unknown: a visitor's lookup; unlocked: one visitor's password unlock. */
  kind: 'open' | 'password' | 'unknown' | 'unlocked' | 'refused';
  /** Until this is fresh (epoch ms). */
  until: number;
  link: Pick<LinkState, 'allowDownload' | 'allowUpload' | 'showMetadata' | 'passwordProtected' | 'expiresAt'> | null;
}

export interface LinkCacheState {
  ttlMs: number;
  maxEntries: number;
  entries: number;
  fresh: number;
  inflight: number;
  /** Since the gateway started; `forgotten`: entries dropped because their link changed or an admin asked. */
  counts: { hit: number; miss: number; joined: number; forgotten: number };
  /** The newest fresh entries, newest first (at most 50). */
  newest: LinkCacheEntry[];
}

export interface ResolverOptions {
  origin: Origin;
  /** Host header for lookups (the share host, so Immich builds the same URLs it would for the visitor). */
  host: string;
  ttlMs: number;
  maxEntries?: number;
  timeoutMs?: number;
  now?: () => number;
  /** Told whether each lookup was answered from the cache (metrics). */
  onCache?: (result: 'hit' | 'miss' | 'joined') => void;
}

const MAX_ME_BYTES = 16 * 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Immich failed the lookup itself (a 5xx): the link's state is unknown, so the request is refused as the origin's failure. */
function lookupFailed(status: number): OriginBadResponseError {
  return new OriginBadResponseError(`link lookup answered ${status}`, `HTTP_${status}`);
}

function credentialQuery(credential: LinkCredential): string {
  return credential.kind === 'key' ? `key=${credential.value}` : `slug=${encodeURIComponent(credential.value)}`;
}

/** Reads the fields Porthole acts on; anything malformed makes the link unknown (refused), never allowed. */
export function parseLinkState(body: unknown): LinkState | null {
  if (!body || typeof body !== 'object') return null;
  const b = body as Record<string, unknown>;
  const album = b.album && typeof b.album === 'object' ? (b.album as Record<string, unknown>) : null;
  const albumId = album && typeof album.id === 'string' && UUID.test(album.id) ? album.id.toLowerCase() : null;
  if (typeof b.id !== 'string' || typeof b.key !== 'string') return null;
  if (typeof b.allowDownload !== 'boolean' || typeof b.allowUpload !== 'boolean' || typeof b.showMetadata !== 'boolean') return null;
  const expiresAt = typeof b.expiresAt === 'string' ? Date.parse(b.expiresAt) : null;
  if (expiresAt !== null && Number.isNaN(expiresAt)) return null;
  return {
    id: b.id,
    key: b.key,
    slug: typeof b.slug === 'string' ? b.slug : null,
    albumId: b.type === 'ALBUM' ? albumId : null,
    allowDownload: b.allowDownload,
    allowUpload: b.allowUpload,
    showMetadata: b.showMetadata,
    passwordProtected: typeof b.password === 'string' && b.password.length > 0,
    expiresAt,
    ...(typeof b.createdAt === 'string' && !Number.isNaN(Date.parse(b.createdAt)) ? { createdAt: Date.parse(b.createdAt) } : {}),
  };
}

export function createLinkResolver(options: ResolverOptions): LinkResolver {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 10_000;
  const cache = new LRUCache<string, { value: Lookup | LinkState | null; until: number }>({ max: maxEntries });
  const inflight = new Map<string, Promise<Lookup | LinkState | null>>();
  const counts = { hit: 0, miss: 0, joined: 0, forgotten: 0 };
  /** Moved by every forget(): a lookup that started before it brings an answer that may be the old one. */
  let generation = 0;
  const count = (result: 'hit' | 'miss' | 'joined') => {
    counts[result]++;
    options.onCache?.(result);
  };

  /** Lookups fail with the origin's errors (src/origin/errors.ts); an answer too large to be a link counts as none. */
  async function ask(credential: LinkCredential, cookieValue: string | undefined): Promise<{ status: number; body: unknown; message: string }> {
    const answer = await originRequest(options.origin, {
      path: `/api/shared-links/me?${credentialQuery(credential)}`,
      headers: { host: options.host, accept: 'application/json', cookie: cookieValue === undefined ? undefined : `immich_shared_link_token=${cookieValue}` },
      timeoutMs: options.timeoutMs ?? 15_000,
    });
    const raw = await readSmallBody(answer.body, MAX_ME_BYTES);
    if (raw === null) throw new OriginBadResponseError('link answer too large');
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = null;
    }
    const message = body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string' ? (body as { message: string }).message : '';
    return { status: answer.status, body, message };
  }

  function remember<T extends Lookup | LinkState | null>(key: string, value: T): T {
    cache.set(key, { value, until: now() + options.ttlMs });
    return value;
  }

  function cached<T extends Lookup | LinkState | null>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = cache.get(key);
    if (hit && hit.until > now()) {
      count('hit');
      return Promise.resolve(hit.value as T);
    }
    const pending = inflight.get(key);
    count(pending ? 'joined' : 'miss');
    if (pending) return pending as Promise<T>;
    const started = generation;
    const promise: Promise<T> = load()
      // Answered to those who asked, but kept only if nothing was forgotten meanwhile: which link an answer is
      // about is known only once it arrives, and forgetting is rare, so any forget() spoils every lookup under way.
      .then((value) => (generation === started ? remember(key, value) : value))
      .finally(() => {
        if (inflight.get(key) === promise) inflight.delete(key);
      });
    inflight.set(key, promise);
    return promise;
  }

  /** The credential part of a cache key ("l|kind:value" or "u|kind:value|cookie hash"; a slug may hold "|"). */
  const credentialOf = (key: string) => (key[0] === 'u' ? key.slice(2, key.lastIndexOf('|')) : key.slice(2));
  const tagOf = (credential: string): string => {
    const colon = credential.indexOf(':');
    return `tag:${linkTag({ kind: credential.slice(0, colon) as LinkCredential['kind'], value: credential.slice(colon + 1) })}`;
  };
  const linkOf = (key: string, value: Lookup | LinkState | null): LinkState | null => {
    if (key[0] === 'u') return value as LinkState | null;
    const lookup = value as Lookup;
    return lookup.kind === 'open' ? lookup.link : null;
  };

  const expired = (link: LinkState) => link.expiresAt !== null && link.expiresAt <= now();
  const credKey = (c: LinkCredential) => `${c.kind}:${c.value}`;

  return {
    peek(credential) {
      const hit = cache.get(`l|${credKey(credential)}`);
      if (!hit || hit.until <= now()) return undefined;
      count('hit');
      const result = hit.value as Lookup;
      return result.kind === 'open' && expired(result.link) ? { kind: 'unknown' } : result;
    },
    async lookup(credential) {
      const result = await cached(`l|${credKey(credential)}`, async (): Promise<Lookup> => {
        const answer = await ask(credential, undefined);
        if (answer.status >= 500) throw lookupFailed(answer.status);
        if (answer.status === 200) {
          const link = parseLinkState(answer.body);
          return link ? { kind: 'open', link } : { kind: 'unknown' };
        }
        if (answer.status === 401 && answer.message === 'Password required') return { kind: 'password' };
        return { kind: 'unknown' };
      });
      if (result.kind === 'open' && expired(result.link)) return { kind: 'unknown' };
      return result;
    },
    async unlock(credential, cookieValue) {
      const tokenHash = crypto.createHash('sha256').update(cookieValue).digest('base64url');
      const link = await cached(`u|${credKey(credential)}|${tokenHash}`, async (): Promise<LinkState | null> => {
        const answer = await ask(credential, cookieValue);
        if (answer.status >= 500) throw lookupFailed(answer.status);
        return answer.status === 200 ? parseLinkState(answer.body) : null;
      });
      return link && !expired(link) ? link : null;
    },
    forget(ids) {
      generation++;
      // Lookups under way stay with those waiting on them; new requests start their own.
      inflight.clear();
      let dropped = 0;
      if (ids === undefined) {
        dropped = cache.size;
        cache.clear();
      } else {
        const wanted = new Set(ids);
        const tagged = ids.some((id) => id.startsWith('tag:'));
        // A link's entries share a credential: one of them naming the link (its Immich id in an open or unlocked
        // answer) takes the others along, such as the "needs password" lookup beside a visitor's unlock.
        const credentials = new Set<string>();
        for (const [key, entry] of cache.entries()) {
          const credential = credentialOf(key);
          if (credentials.has(credential)) continue;
          const link = linkOf(key, entry.value);
          if ((link && wanted.has(link.id)) || (tagged && wanted.has(tagOf(credential)))) credentials.add(credential);
        }
        for (const key of [...cache.keys()]) {
          if (!credentials.has(credentialOf(key))) continue;
          cache.delete(key);
          dropped++;
        }
      }
      counts.forgotten += dropped;
      return dropped;
    },
    state(at = now()) {
      const newest: LinkCacheEntry[] = [];
      let fresh = 0;
      for (const [key, entry] of [...cache].reverse()) {
        if (entry.until <= at) continue;
        fresh++;
        if (newest.length < 50) newest.push(describeEntry(key, entry.value, entry.until, linkOf(key, entry.value)?.id ?? tagOf(credentialOf(key))));
      }
      return { ttlMs: options.ttlMs, maxEntries, entries: cache.size, fresh, inflight: inflight.size, counts: { ...counts }, newest };
    },
  };
}

/** A cache entry as the admin sees it: the link's id if known, never a whole key, slug or cookie hash. */
function describeEntry(key: string, value: Lookup | LinkState | null, until: number, name: string): LinkCacheEntry {
  // Keys are "l|kind:value" (lookups) and "u|kind:value|cookie hash" (unlocks).
  const scope = key[0];
  const colon = key.indexOf(':');
  const hidden = `${key.slice(2, colon)} ${key.slice(colon + 1, colon + 5)}…`;
  const facts = (link: LinkState) => ({
    allowDownload: link.allowDownload,
    allowUpload: link.allowUpload,
    showMetadata: link.showMetadata,
    passwordProtected: link.passwordProtected,
    expiresAt: link.expiresAt,
  });
  if (scope === 'u') {
    const link = value as LinkState | null;
    return link ? { label: link.id, name, kind: 'unlocked', until, link: facts(link) } : { label: hidden, name, kind: 'refused', until, link: null };
  }
  const lookup = value as Lookup;
  return lookup.kind === 'open' ? { label: lookup.link.id, name, kind: 'open', until, link: facts(lookup.link) } : { label: hidden, name, kind: lookup.kind, until, link: null };
}
