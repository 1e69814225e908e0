// A seeded, reproducible attack corpus against the share host: forbidden routes and allowed ones, each spelled
// in many ways (case, percent-encoding, dot segments, separators, parameters, methods, headers, cookies).
import type { SampleImmich } from '../../src/demo/sample-immich/server.js';
import { SAMPLE_API_KEY, SAMPLE_SESSION_TOKEN } from '../../src/demo/sample-immich/server.js';
import { prng } from '../prng.js';

export interface AttackRequest {
  method: string;
  target: string;
  headers: Record<string, string>;
  body?: string;
}

export interface CorpusLinks {
  open: string;
  hidden: string;
  password: string;
  noDownload: string;
  legacy: string;
  slug: string;
  album: string;
  otherAlbum: string;
  asset: string;
  privateAsset: string;
}

export function corpusLinks(origin: SampleImmich): CorpusLinks {
  const lib = origin.library;
  return {
    open: lib.createLink({ allowDownload: true }).key,
    hidden: lib.updateLink(lib.createLink({ showMetadata: false }).id, { allowDownload: true }).key,
    password: lib.createLink({ password: 'corpus-secret' }).key,
    noDownload: lib.createLink({ allowDownload: false }).key,
    legacy: lib.createLink({ legacyHexKey: true, allowDownload: false }).key,
    slug: lib.createLink({ slug: 'corpus-slug', showMetadata: false }).slug!,
    album: lib.album.id,
    otherAlbum: '00000000-0000-4000-8000-000000000201',
    asset: lib.album.assetIds[0]!,
    privateAsset: lib.privateAsset.id,
  };
}

const METHODS = ['GET', 'GET', 'GET', 'HEAD', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND'];

/** Spellings of one path that a lenient parser might route to the same handler. */
function mutatePath(path: string, r: () => number): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const segments = path.split('/');
  const i = 1 + Math.floor(r() * Math.max(1, segments.length - 1));
  switch (Math.floor(r() * 22)) {
    case 0:
      return path.toUpperCase();
    case 1:
      return path.replace(/a/g, '%61');
    case 2:
      return path.replace(/\//g, '%2F').replace(/^%2F/, '/');
    case 3:
      return path.replace(/\//g, '%2f').replace(/^%2f/, '/');
    case 4:
      return path.replace(/\./g, '%2E').replace('/api', '/api/%2e');
    case 5:
      return `/api/shared-links/../..${path}`;
    case 6:
      return path.replace('/api/', '/api//');
    case 7:
      return `${path}/`;
    case 8:
      return `${path};jsessionid=1`;
    case 9:
      return path.replace(/\//g, '\\');
    case 10:
      return `${path}%00`;
    case 11:
      return `${path}%0a`;
    case 12:
      return path.replace('/api/', '/api/./');
    case 13:
      return path.replace(/\//g, '%252F').replace(/^%252F/, '/');
    case 14:
      return `/${'a/'.repeat(400)}..${path}`;
    case 15:
      return segments.map((s, j) => (j === i ? s.toUpperCase() : s)).join('/');
    case 16:
      return `/share/${pick(['x', '%2e%2e', '..'])}/..${path}`;
    case 17:
      return path.replace('/api/', '/api/%2e%2e/api/');
    case 18:
      return path.replace(/-/g, '%2D');
    case 19:
      return `${path}%23`;
    case 20:
      return `/s/${encodeURIComponent(`../..${path}`)}`;
    default:
      return path;
  }
}

export function generateCorpus(seed: number, count: number, links: CorpusLinks): AttackRequest[] {
  const r = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const { asset, album } = links;
  const keys = [links.open, links.hidden, links.password, links.noDownload, links.legacy, 'A'.repeat(67), 'f'.repeat(100), `${links.open}x`, links.open.slice(1), ''];
  const forbidden = [
    '/api/auth/login',
    '/api/auth/admin-sign-up',
    '/api/admin/database-backups/start-restore',
    '/api/admin/users',
    '/api/users/me',
    '/api/users',
    '/api/oauth/authorize',
    '/api/oauth/mobile-redirect',
    '/api/socket.io/',
    '/.well-known/immich',
    `/api/albums/${album}`,
    '/api/search/metadata',
    '/api/server/about',
    '/api/server/version',
    '/api/albums',
    `/api/assets/${links.privateAsset}/original`,
    '/api/shared-links',
    '/api/sync/stream',
    '/',
    '/auth/login',
    '/admin',
    '/photos',
    `/albums/${album}/x`,
    '/api/activities',
    '/api/people',
    '/api/download/archive',
    '/api/assets',
    `/api/assets/${asset}`,
    `/api/shared-links/${links.open}`,
    '/api/notifications',
    '/api/api-keys',
    '/api/sessions',
  ];
  const allowed = [
    `/api/shared-links/me`,
    `/api/shared-links/login`,
    `/api/assets/${asset}`,
    `/api/assets/${asset}/thumbnail`,
    `/api/assets/${asset}/original`,
    `/api/assets/${asset}/video/playback`,
    `/api/timeline/buckets`,
    `/api/timeline/bucket`,
    `/api/albums/${album}/map-markers`,
    `/api/download/info`,
    `/api/download/archive`,
    '/api/assets',
    `/api/assets/${asset}/video/stream/main.m3u8`,
    `/share/${links.open}`,
    `/s/${links.slug}`,
    '/api/server/config',
  ];
  const params = () => {
    const out: string[] = [];
    const n = Math.floor(r() * 4);
    const credential = Math.floor(r() * 10);
    if (credential < 6) out.push(`key=${pick(keys)}`);
    else if (credential < 8) out.push(`slug=${pick([links.slug, 'corpus', 'x%2Fy', '%00', 'a'.repeat(250)])}`);
    for (let i = 0; i < n; i++) {
      out.push(
        pick([
          `key=${pick(keys)}`,
          `slug=${links.slug}`,
          `apiKey=${SAMPLE_API_KEY}`,
          `sessionKey=${SAMPLE_SESSION_TOKEN}`,
          `albumId=${album}`,
          `albumId=${links.otherAlbum}`,
          'withCoordinates=true',
          'bbox=2.2,48.8,2.3,48.9',
          `personId=${asset}`,
          `userId=${asset}`,
          'size=original',
          'size=preview',
          'timeBucket=2024-05-01',
          'key[]=x',
          'KEY=x',
          'key',
          '=x',
          `key=${links.open}%00`,
          'edited=false',
          'c=abc%2Bdef%3D',
          'visibility=locked',
          'isTrashed=true',
          `key=%${links.open}`,
          `%6Bey=${links.open}`,
        ]),
      );
    }
    return out;
  };
  const headerSets = (): Record<string, string> => {
    const h: Record<string, string> = {};
    const n = Math.floor(r() * 3);
    for (let i = 0; i < n; i++) {
      switch (Math.floor(r() * 14)) {
        case 0:
          h.authorization = `Bearer ${SAMPLE_SESSION_TOKEN}`;
          break;
        case 1:
          h['x-api-key'] = SAMPLE_API_KEY;
          break;
        case 2:
          h['x-immich-user-token'] = SAMPLE_SESSION_TOKEN;
          break;
        case 3:
          h['x-immich-session-token'] = SAMPLE_SESSION_TOKEN;
          break;
        case 4:
          h['x-immich-share-key'] = pick(keys) || links.open;
          break;
        case 5:
          h['x-immich-share-slug'] = links.slug;
          break;
        case 6:
          h['x-immich-checksum'] = 'a'.repeat(40);
          break;
        case 7:
          h.cookie = `immich_access_token=${SAMPLE_SESSION_TOKEN}`;
          break;
        case 8:
          h.cookie = `immich_shared_link_token=abc; immich_shared_link_token=def`;
          break;
        case 9:
          h.cookie = `immich_is_authenticated=true; immich_shared_link_token=${'x'.repeat(20)}`;
          break;
        case 10:
          h['x-http-method-override'] = 'DELETE';
          break;
        case 11:
          h['x-forwarded-host'] = 'photos.localhost';
          break;
        case 12:
          h['x-original-url'] = '/api/users/me';
          break;
        default:
          h['content-type'] = pick(['application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded']);
      }
    }
    return h;
  };
  // Well-formed calls of the share page, so header, cookie and parameter attacks also ride on requests the
  // policy would otherwise let through.
  const legit = (): { method: string; target: string } => {
    const cred = pick([`key=${links.open}`, `key=${links.hidden}`, `key=${links.password}`, `key=${links.noDownload}`, `key=${links.legacy}`, `slug=${links.slug}`]);
    return pick([
      { method: 'GET', target: `/api/shared-links/me?${cred}` },
      { method: 'GET', target: `/api/assets/${asset}?${cred}` },
      { method: 'GET', target: `/api/assets/${asset}/thumbnail?${cred}&size=${pick(['thumbnail', 'preview'])}&c=abc%2B%3D` },
      { method: 'GET', target: `/api/assets/${asset}/original?${cred}` },
      { method: 'GET', target: `/api/timeline/buckets?albumId=${album}&order=desc&${cred}` },
      { method: 'GET', target: `/api/timeline/bucket?albumId=${album}&timeBucket=2024-05-01&${cred}${pick(['', '&withCoordinates=true', '&bbox=2,48,3,49'])}` },
      { method: 'GET', target: `/api/albums/${album}/map-markers?${cred}` },
      { method: 'POST', target: `/api/download/info?${cred}` },
      { method: 'POST', target: `/api/download/archive?${cred}` },
      { method: 'POST', target: `/api/assets?${cred}` },
      { method: 'GET', target: `/share/${links.open}` },
      { method: 'GET', target: '/api/server/features' },
    ]);
  };
  const out: AttackRequest[] = [];
  // Every forbidden path once, well formed, with a valid open link's key and each plausible method: a policy
  // row that opened any of them would let these through (and the oracle would see them at the origin).
  for (const path of forbidden) {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE']) {
      const body = method === 'GET' || method === 'DELETE' ? undefined : `{"albumIds":["${album}"],"assetIds":["${asset}"],"withExif":true}`;
      out.push({ method, target: `${path}?key=${links.open}`, headers: body ? { 'content-type': 'application/json' } : {}, body });
    }
  }
  while (out.length < count) {
    if (r() < 0.3) {
      const { method, target } = legit();
      const headers = headerSets();
      const body = method === 'POST' ? (target.includes('/assets?') ? '--x--' : `{"assetIds":["${asset}"]}`) : undefined;
      if (body) headers['content-type'] = target.includes('/assets?') ? 'multipart/form-data; boundary=x' : 'application/json';
      out.push({ method, target, headers, body });
      continue;
    }
    const base = r() < 0.55 ? pick(forbidden) : pick(allowed);
    const path = r() < 0.6 ? mutatePath(base, r) : base;
    const query = params();
    const target = query.length && r() < 0.85 ? `${path}?${query.join('&')}` : path;
    const method =
      r() < 0.5
        ? base.includes('login') || base.includes('download') || base === '/api/assets' || base.includes('search') || base.includes('auth')
          ? 'POST'
          : 'GET'
        : pick(METHODS);
    const headers = headerSets();
    let body: string | undefined;
    if (method === 'POST' || r() < 0.05) {
      body = pick(['{}', '{"password":"guess"}', `{"assetIds":["${asset}"]}`, `{"albumIds":["${album}"],"withExif":true}`, '--x--', 'a=b']);
      headers['content-type'] ??= pick(['application/json', 'multipart/form-data; boundary=x']);
    }
    out.push({ method, target, headers, body });
  }
  return out;
}
