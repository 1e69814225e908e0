// What Immich says about a share link, learned at the gateway: GET /api/shared-links/me with the link's key or
// slug (and, for password links, the visitor's unlock cookie). Answers are cached briefly and concurrent misses
// for the same link share one origin request, so a page load of a big album costs one lookup, not hundreds.
import crypto from 'node:crypto';
import http from 'node:http';
import type { Origin } from '../origin/origin.js';
import type { LinkCredential, LinkFacts } from './engine.js';

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

export class OriginLookupError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'OriginLookupError';
  }
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
  const cache = new Map<string, { value: Lookup | LinkState | null; until: number }>();
  const inflight = new Map<string, Promise<Lookup | LinkState | null>>();

  function ask(credential: LinkCredential, cookieValue: string | undefined): Promise<{ status: number; body: unknown; message: string }> {
    return new Promise((resolve, reject) => {
      const { target } = options.origin;
      const headers: http.OutgoingHttpHeaders = { host: options.host, accept: 'application/json' };
      if (cookieValue !== undefined) headers.cookie = `immich_shared_link_token=${cookieValue}`;
      const req = http.request({
        agent: options.origin.agent,
        hostname: target.hostname,
        port: target.port,
        method: 'GET',
        path: `/api/shared-links/me?${credentialQuery(credential)}`,
        headers,
        setHost: false,
      });
      req.setTimeout(options.timeoutMs ?? 15_000, () => req.destroy(new OriginLookupError('link lookup timed out', 'ETIMEDOUT')));
      req.on('error', (e: NodeJS.ErrnoException) => reject(new OriginLookupError(e.message, e.code)));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ME_BYTES) req.destroy(new OriginLookupError('link answer too large'));
          else chunks.push(c);
        });
        res.on('error', (e) => reject(new OriginLookupError(e.message)));
        res.on('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            body = null;
          }
          const message = body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string' ? (body as { message: string }).message : '';
          resolve({ status: res.statusCode ?? 0, body, message });
        });
      });
      req.end();
    });
  }

  function remember<T extends Lookup | LinkState | null>(key: string, value: T): T {
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
    cache.set(key, { value, until: now() + options.ttlMs });
    return value;
  }

  function cached<T extends Lookup | LinkState | null>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = cache.get(key);
    if (hit && hit.until > now()) {
      options.onCache?.('hit');
      return Promise.resolve(hit.value as T);
    }
    const pending = inflight.get(key);
    options.onCache?.(pending ? 'joined' : 'miss');
    if (pending) return pending as Promise<T>;
    const promise = load()
      .then((value) => remember(key, value))
      .finally(() => inflight.delete(key));
    inflight.set(key, promise);
    return promise;
  }

  const expired = (link: LinkState) => link.expiresAt !== null && link.expiresAt <= now();
  const credKey = (c: LinkCredential) => `${c.kind}:${c.value}`;

  return {
    peek(credential) {
      const hit = cache.get(`l|${credKey(credential)}`);
      if (!hit || hit.until <= now()) return undefined;
      options.onCache?.('hit');
      const result = hit.value as Lookup;
      return result.kind === 'open' && expired(result.link) ? { kind: 'unknown' } : result;
    },
    async lookup(credential) {
      const result = await cached(`l|${credKey(credential)}`, async (): Promise<Lookup> => {
        const answer = await ask(credential, undefined);
        if (answer.status >= 500) throw new OriginLookupError(`link lookup answered ${answer.status}`);
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
        if (answer.status >= 500) throw new OriginLookupError(`link lookup answered ${answer.status}`);
        return answer.status === 200 ? parseLinkState(answer.body) : null;
      });
      return link && !expired(link) ? link : null;
    },
  };
}
