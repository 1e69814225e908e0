// An oracle for what may reach Immich from the share host, written from Immich's share surface (the
// project's share-surface notes: the shared-link routes of section 1.6, the page and static files of
// sections 2.1-2.3a, the allowlist of section 9), NOT from src/share: it imports nothing from there, so an
// over-broad policy row cannot pass the corpus test by construction. It judges the raw request line the origin
// received, strictly: one spelling per shape (no percent-escapes in fixed segments, no dot segments, no
// doubled slashes), only the named query parameters, and on API routes exactly one key or slug.
//
// Answered by Porthole itself and therefore never allowed to reach the origin: /robots.txt, the share host's
// root page and the /albums|/photos redirects to the private host.

export interface OracleShape {
  readonly id: string;
  readonly methods: readonly string[];
  /** Anchored pattern over the raw path (the part before '?'). */
  readonly path: RegExp;
  /** 'page': any query but credentials; otherwise the credential rule and the only other names allowed. */
  readonly query: 'page' | { readonly credential: boolean; readonly names: readonly string[] };
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
// 50 random bytes as base64url (67 characters), or the legacy 100-character hex form (section 1.2).
const KEY = '(?:[A-Za-z0-9_-]{67}|[0-9a-fA-F]{100})';
// Owner-chosen, percent-encoded by the web app (section 1.3).
const SLUG = '[^/?#]{1,600}';
// SvelteKit's build output: a few plain segments, none starting with a dot (section 2.3, item 2).
const APP_SEGMENT = '[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,127}';
// web/static as the share page loads it (section 2.3 item 2; the service worker from section 2.3a).
export const STATIC_FILES: readonly string[] = [
  '/custom.css',
  '/favicon.ico',
  '/favicon-16.png',
  '/favicon-32.png',
  '/favicon-48.png',
  '/favicon-96.png',
  '/favicon-144.png',
  '/apple-icon-180.png',
  '/manifest.json',
  '/manifest-icon-192.maskable.png',
  '/manifest-icon-512.maskable.png',
  '/feature-panel.png',
  '/light_skeleton.png',
  '/dark_skeleton.png',
  '/service-worker.js',
];
const THUMB = ['size', 'c', 'edited'];
// The timeline's filters as the web app sends them for an album link (section 2.3 item 7), geo ones included:
// whether a link may use those is the link-settings check, not a question of shape.
const TIMELINE = ['albumId', 'order', 'orderBy', 'visibility', 'isFavorite', 'isTrashed', 'withStacked', 'withPartners', 'withCoordinates', 'bbox'];
const api = (names: readonly string[] = []) => ({ credential: true, names });
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const exact = (pattern: string) => new RegExp(`^${pattern}$`);

export const ORACLE: readonly OracleShape[] = [
  // Section 2.1: the share page, by key or slug, optionally deep-linked to one asset.
  { id: 'share-page', methods: ['GET', 'HEAD'], path: exact(`/share/${KEY}(?:/photos/${UUID})?/?`), query: 'page' },
  { id: 'slug-page', methods: ['GET', 'HEAD'], path: exact(`/s/${SLUG}(?:/photos/${UUID})?/?`), query: 'page' },
  { id: 'web-app', methods: ['GET', 'HEAD'], path: exact(`/_app/(?:${APP_SEGMENT}/){0,6}${APP_SEGMENT}`), query: 'page' },
  { id: 'static', methods: ['GET', 'HEAD'], path: exact(`(?:${STATIC_FILES.map(escape).join('|')})`), query: 'page' },
  // Section 2.3 item 3-4: unauthenticated server answers the page needs; no parameters at all.
  { id: 'server-public', methods: ['GET'], path: exact('/api/server/(?:config|features|media-types)'), query: { credential: false, names: [] } },
  // Section 1.6: routes Immich accepts a shared link on, minus the two refused on purpose (GET /api/albums/:id
  // leaks members' e-mail addresses, POST /api/search/metadata full EXIF; section 3.1).
  { id: 'link-me', methods: ['GET'], path: exact('/api/shared-links/me'), query: api() },
  { id: 'link-login', methods: ['POST'], path: exact('/api/shared-links/login'), query: api() },
  { id: 'asset-info', methods: ['GET'], path: exact(`/api/assets/${UUID}`), query: api() },
  { id: 'thumbnail', methods: ['GET'], path: exact(`/api/assets/${UUID}/thumbnail`), query: api(THUMB) },
  { id: 'playback', methods: ['GET'], path: exact(`/api/assets/${UUID}/video/playback`), query: api(['c']) },
  { id: 'original', methods: ['GET'], path: exact(`/api/assets/${UUID}/original`), query: api(['c', 'edited']) },
  { id: 'hls-main', methods: ['GET'], path: exact(`/api/assets/${UUID}/video/stream/main\\.m3u8`), query: api() },
  { id: 'hls-playlist', methods: ['GET'], path: exact(`/api/assets/${UUID}/video/stream/[A-Za-z0-9_-]{1,64}/[0-9]{1,2}/playlist\\.m3u8`), query: api() },
  { id: 'hls-segment', methods: ['GET'], path: exact(`/api/assets/${UUID}/video/stream/[A-Za-z0-9_-]{1,64}/[0-9]{1,2}/[A-Za-z0-9_-]{1,64}\\.(?:m4s|mp4|ts)`), query: api() },
  { id: 'hls-end', methods: ['DELETE'], path: exact(`/api/assets/${UUID}/video/stream/[A-Za-z0-9_-]{1,64}`), query: api() },
  { id: 'timeline-buckets', methods: ['GET'], path: exact('/api/timeline/buckets'), query: api(TIMELINE) },
  { id: 'timeline-bucket', methods: ['GET'], path: exact('/api/timeline/bucket'), query: api([...TIMELINE, 'timeBucket']) },
  { id: 'map-markers', methods: ['GET'], path: exact(`/api/albums/${UUID}/map-markers`), query: api() },
  { id: 'download-info', methods: ['POST'], path: exact('/api/download/info'), query: api() },
  { id: 'download-zip', methods: ['POST'], path: exact('/api/download/archive'), query: api() },
  { id: 'upload', methods: ['POST'], path: exact('/api/assets'), query: api() },
];

/** Query names that select another kind of authentication in Immich (section 1.4). */
const CREDENTIAL_NAMES = new Set(['key', 'slug', 'apiKey', 'sessionKey']);

export type OracleVerdict = { ok: true; id: string; credential?: { kind: 'key' | 'slug'; value: string } } | { ok: false; reason: string };

function decodedName(raw: string): string | null {
  try {
    // qs (Immich's query parser) reads `key[0]=` and `key[]=` as `key`; judge the name it would see.
    return decodeURIComponent(raw.replace(/\+/g, ' ')).replace(/\[.*$/, '');
  } catch {
    return null;
  }
}

/** Whether `method url`, as the origin received it, is one of the allowed shapes, and which. */
export function judge(method: string, url: string): OracleVerdict {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const shape = ORACLE.find((s) => s.path.test(path));
  if (!shape) return { ok: false, reason: 'no allowed shape has this path' };
  if (!shape.methods.includes(method)) return { ok: false, reason: `${method} is not allowed on ${shape.id}` };
  const pairs =
    query === ''
      ? []
      : query.split('&').map((p) => {
          const eq = p.indexOf('=');
          return eq < 0 ? { name: p, value: '' } : { name: p.slice(0, eq), value: p.slice(eq + 1) };
        });
  if (shape.query === 'page') {
    for (const { name } of pairs) {
      const seen = decodedName(name);
      if (seen === null || CREDENTIAL_NAMES.has(seen)) return { ok: false, reason: `credential parameter on a page: ${name}` };
    }
    return { ok: true, id: shape.id };
  }
  const allowed = new Set(shape.query.names);
  let credential: { kind: 'key' | 'slug'; value: string } | undefined;
  for (const { name, value } of pairs) {
    if (name === 'key' || name === 'slug') {
      if (!shape.query.credential) return { ok: false, reason: `${name} where no link belongs` };
      if (credential) return { ok: false, reason: 'more than one link credential' };
      if (name === 'key' && !exact(KEY).test(value)) return { ok: false, reason: 'malformed key' };
      if (name === 'slug' && !/^[^&#]{1,1800}$/.test(value)) return { ok: false, reason: 'malformed slug' };
      credential = { kind: name, value };
      continue;
    }
    if (!allowed.has(name)) return { ok: false, reason: `parameter ${name} not allowed on ${shape.id}` };
  }
  if (shape.query.credential && !credential) return { ok: false, reason: `${shape.id} without a link credential` };
  return { ok: true, id: shape.id, credential };
}
