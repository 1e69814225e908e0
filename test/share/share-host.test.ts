// One test per share-host rule, through a real gateway in front of the sample Immich: what passes, what is
// refused (always the same 404), what reaches the origin, and what Porthole adds on the way back.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { SAMPLE_API_KEY, SAMPLE_SESSION_TOKEN } from '../../src/demo/sample-immich/server.js';
import { assertOnlyAllowedReachedOrigin, PRIVATE_HOST, SHARE_HOST, startShare, type Reply, type ShareSetup } from './harness.js';

let s: ShareSetup;
before(async () => {
  s = await startShare({ share: { allowUploads: false, maxUploadSize: '1MB', linkCacheTtl: '60s', rateLimits: { unknownLinksPerIp: 1000 } } });
});
after(async () => {
  try {
    assertOnlyAllowedReachedOrigin(s.origin);
  } finally {
    await s.close();
  }
});

const lib = () => s.origin.library;
const asset = () => lib().album.assetIds[0]!;
const since = () => s.origin.received.length;
const reachedOrigin = (from: number, pattern: RegExp) => s.origin.received.slice(from).filter((r) => pattern.test(r.url));

/** The share host's one refusal as a script (no text/html in Accept) sees it. */
const SHARE_NOT_FOUND_JSON = '{"error":"not-found","message":"Not found","statusCode":404}';

function assertShareNotFound(reply: Reply, what: string): void {
  assert.equal(reply.status, 404, what);
  assert.equal(reply.text, SHARE_NOT_FOUND_JSON, what);
  assert.equal(reply.headers['content-type'], 'application/json; charset=utf-8', what);
  assert.equal(reply.headers['x-robots-tag'], 'noindex, nofollow, noarchive', what);
}

test('share page, web app, static files and public server config pass; OpenGraph image points at the share host', async () => {
  const link = lib().createLink({ description: 'Our summer' });
  const host = `${SHARE_HOST}:${s.gateway.httpPort}`;
  const page = await s.share(`/share/${link.key}`, { host });
  assert.equal(page.status, 200);
  const og = /<meta property="og:image" content="([^"]+)"/.exec(page.text)?.[1];
  assert.ok(og, 'og:image present');
  const url = new URL(og!.replace(/&amp;/g, '&'));
  assert.equal(url.host, host);
  assert.equal(url.protocol, 'http:');
  assert.match(page.text, /<meta property="og:title" content="Summer trip" \/>/);
  assert.match(page.text, /<meta property="og:description" content="Our summer" \/>/);
  // The preview image a messenger fetches is itself allowed on the share host.
  const image = await s.share(url.pathname + url.search);
  assert.equal(image.status, 200);
  assert.equal(image.headers['content-type'], 'image/jpeg');
  for (const path of [
    '/_app/immutable/entry/share.js',
    '/custom.css',
    '/favicon.ico',
    '/favicon-32.png',
    '/manifest.json',
    '/api/server/config',
    '/api/server/features',
    '/api/server/media-types',
  ]) {
    assert.equal((await s.share(path)).status, 200, path);
  }
  const deep = await s.share(`/share/${link.key}/photos/${asset()}`);
  assert.match(deep.headers['content-type'] ?? '', /text\/html/);
});

test('everything outside the policy is the same 404 and never reaches Immich', async () => {
  const link = lib().createLink({});
  const from = since();
  const refused = [
    '/',
    '/auth/login',
    '/photos',
    '/admin',
    '/api/auth/login',
    '/api/users/me',
    '/api/users',
    '/api/admin/users',
    '/api/oauth/mobile-redirect',
    '/api/socket.io/?EIO=4&transport=websocket',
    '/.well-known/immich',
    '/api/server/about',
    '/api/server/version',
    '/api/albums',
    `/api/albums/${lib().album.id}?key=${link.key}`,
    `/share/${link.key}/x`,
    `/api/assets?key=${link.key}`,
  ];
  for (const path of refused) assertShareNotFound(await s.share(path), path);
  for (const [method, path] of [
    ['POST', '/api/auth/login'],
    ['POST', '/api/auth/admin-sign-up'],
    ['POST', '/api/admin/database-backups/start-restore'],
    ['OPTIONS', `/api/shared-links/me?key=${link.key}`],
    ['PUT', `/api/assets/${asset()}?key=${link.key}`],
  ] as const) {
    assertShareNotFound(await s.share(path, { method, headers: { 'content-type': 'application/json' }, body: '{}' }), `${method} ${path}`);
  }
  assert.deepEqual(s.origin.received.slice(from), []);
});

test('WebSocket upgrades are refused on the share host', async () => {
  const from = since();
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(s.gateway.httpPort, '127.0.0.1', () => {
      socket.write(
        `GET /api/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: ${SHARE_HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    let data = '';
    socket.on('data', (c) => (data += c.toString()));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
  assert.match(answer, /^HTTP\/1\.1 404 /);
  assert.deepEqual(s.origin.received.slice(from), []);
});

test('credentials: foreign auth headers, cookies, checksum and share-key headers are stripped; only the link cookie passes', async () => {
  const link = lib().createLink({});
  const other = lib().createLink({ showMetadata: false });
  const from = since();
  const reply = await s.share(`/api/assets/${asset()}?key=${link.key}`, {
    headers: {
      authorization: `Bearer ${SAMPLE_SESSION_TOKEN}`,
      'x-api-key': SAMPLE_API_KEY,
      'x-immich-user-token': SAMPLE_SESSION_TOKEN,
      'x-immich-session-token': SAMPLE_SESSION_TOKEN,
      'x-immich-checksum': 'abc',
      'x-immich-share-key': other.key,
      cookie: `immich_access_token=${SAMPLE_SESSION_TOKEN}; immich_is_authenticated=true; immich_shared_link_token=abc; other=1`,
    },
  });
  assert.equal(reply.status, 200);
  // The query key decided (full EXIF), not the smuggled header key of a metadata-hiding link.
  assert.equal(reply.json<{ exifInfo?: { latitude?: number } }>().exifInfo?.latitude, 48.858222);
  const seen = reachedOrigin(from, /^\/api\/assets\//)[0]!;
  for (const h of ['authorization', 'x-api-key', 'x-immich-user-token', 'x-immich-session-token', 'x-immich-checksum', 'x-immich-share-key'])
    assert.equal(seen.headers[h], undefined, h);
  assert.equal(seen.headers.cookie, 'immich_shared_link_token=abc');
  assert.equal(seen.headers.host, `${SHARE_HOST}`);
});

test('credentials: a session or API key alone, or next to a key as parameter, never works on the share host', async () => {
  const link = lib().createLink({});
  const from = since();
  assertShareNotFound(await s.share('/api/users/me', { headers: { authorization: `Bearer ${SAMPLE_SESSION_TOKEN}` } }), 'session');
  assertShareNotFound(await s.share(`/api/assets/${asset()}?apiKey=${SAMPLE_API_KEY}`), 'apiKey param');
  assertShareNotFound(await s.share(`/api/assets/${asset()}?key=${link.key}&sessionKey=${SAMPLE_SESSION_TOKEN}`), 'sessionKey param');
  assertShareNotFound(await s.share(`/api/assets/${asset()}?key=`), 'empty key');
  assertShareNotFound(await s.share(`/api/assets/${asset()}`, { headers: { 'x-immich-share-key': link.key } }), 'key only in header');
  assertShareNotFound(await s.share(`/api/assets/${asset()}?key=${link.key}&key=${link.key}`), 'repeated key');
  assertShareNotFound(await s.share(`/api/assets/${asset()}?key=${link.key}&slug=x`), 'key and slug');
  assert.deepEqual(reachedOrigin(from, /users|apiKey|sessionKey/), []);
});

test('slugs and legacy 100-hex keys work like keys', async () => {
  const slugged = lib().createLink({ slug: 'summer-2024' });
  const legacy = lib().createLink({ legacyHexKey: true });
  assert.equal(legacy.key.length, 100);
  assert.equal((await s.share('/s/summer-2024')).status, 200);
  assert.equal((await s.share(`/api/shared-links/me?slug=summer-2024`)).status, 200);
  assert.equal((await s.share(`/api/assets/${asset()}/thumbnail?slug=summer-2024&size=preview`)).status, 200);
  assert.equal((await s.share(`/share/${legacy.key}`)).status, 200);
  assert.equal((await s.share(`/api/assets/${asset()}/thumbnail?key=${legacy.key}`)).status, 200);
  assertShareNotFound(await s.share('/s/summer-2025'), 'unknown slug');
  assertShareNotFound(await s.share(`/share/${'x'.repeat(67)}`), 'unknown key');
  void slugged;
});

test('link lookups are cached and concurrent misses share one request to Immich', async () => {
  const link = lib().createLink({});
  const from = since();
  const replies = await Promise.all(Array.from({ length: 24 }, () => s.share(`/api/assets/${asset()}/thumbnail?key=${link.key}&size=thumbnail`)));
  for (const r of replies) assert.equal(r.status, 200);
  await s.share(`/api/assets/${asset()}?key=${link.key}`);
  assert.equal(reachedOrigin(from, /^\/api\/shared-links\/me/).length, 1);
  assert.equal(reachedOrigin(from, /\/thumbnail/).length, 24);
});

test('expired links are refused', async () => {
  const link = lib().createLink({ expiresAt: new Date(Date.now() - 1000).toISOString() });
  assertShareNotFound(await s.share(`/share/${link.key}`), 'page');
  assertShareNotFound(await s.share(`/api/assets/${asset()}/thumbnail?key=${link.key}`), 'thumbnail');
});

test('password links: only page, static files, /me and /login without the unlock cookie; everything with it', async () => {
  const link = lib().createLink({ password: 'open sesame' });
  const page = await s.share(`/share/${link.key}`);
  assert.equal(page.status, 200);
  assert.doesNotMatch(page.text, /og:image/);
  assert.equal(page.headers['cache-control'], 'private, no-store');
  const me = await s.share(`/api/shared-links/me?key=${link.key}`);
  assert.equal(me.status, 401);
  assert.equal(me.json().message, 'Password required');
  const album = lib().album.id;
  const locked = [
    `/api/assets/${asset()}/thumbnail?key=${link.key}`,
    `/api/assets/${asset()}?key=${link.key}`,
    `/api/assets/${asset()}/original?key=${link.key}`,
    `/api/timeline/buckets?albumId=${album}&key=${link.key}`,
  ];
  for (const path of locked) assertShareNotFound(await s.share(path), path);
  for (const path of locked) assertShareNotFound(await s.share(path, { headers: { cookie: 'immich_shared_link_token=d3Jvbmc%3D' } }), `${path} wrong cookie`);
  const wrong = await s.share(`/api/shared-links/login?key=${link.key}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"password":"nope"}' });
  assert.equal(wrong.status, 401);
  const login = await s.share(`/api/shared-links/login?key=${link.key}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"password":"open sesame"}' });
  assert.equal(login.status, 201);
  const cookie = String(login.headers['set-cookie']).split(';')[0]!;
  assert.match(cookie, /^immich_shared_link_token=/);
  const thumb = await s.share(locked[0]!, { headers: { cookie } });
  assert.equal(thumb.status, 200);
  assert.equal(thumb.headers['cache-control'], 'private, no-store');
  assert.equal((await s.share(locked[3]!, { headers: { cookie } })).status, 200);
  assert.equal((await s.share(`/api/shared-links/me?key=${link.key}`, { headers: { cookie } })).status, 200);
});

test('downloads only with allowDownload', async () => {
  const closed = lib().createLink({ allowDownload: false });
  const open = lib().createLink({ allowDownload: true });
  const json = { 'content-type': 'application/json' };
  const body = JSON.stringify({ assetIds: [asset()] });
  assertShareNotFound(await s.share(`/api/assets/${asset()}/original?key=${closed.key}`), 'original');
  assertShareNotFound(await s.share(`/api/download/info?key=${closed.key}`, { method: 'POST', headers: json, body }), 'info');
  assertShareNotFound(await s.share(`/api/download/archive?key=${closed.key}`, { method: 'POST', headers: json, body }), 'archive');
  assert.equal((await s.share(`/api/assets/${asset()}/original?key=${open.key}`)).status, 200);
  assert.equal((await s.share(`/api/download/info?key=${open.key}`, { method: 'POST', headers: json, body })).status, 201);
  const zip = await s.share(`/api/download/archive?key=${open.key}`, { method: 'POST', headers: json, body });
  assert.equal(zip.status, 200);
  assert.equal(zip.headers['content-type'], 'application/zip');
});

test('uploads are refused while share.allowUploads is off, even when the link allows them', async () => {
  const link = lib().createLink({});
  assert.equal(link.allowUpload, true);
  const from = since();
  const reply = await s.share(`/api/assets?key=${link.key}`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--' });
  assertShareNotFound(reply, 'upload');
  assert.deepEqual(reachedOrigin(from, /^\/api\/assets\?/), []);
});

test('uploads pass when link and config allow them, capped in size', async () => {
  const t = await startShare({ share: { allowUploads: true, maxUploadSize: '64KiB' } });
  try {
    const yes = t.origin.library.createLink({ allowUpload: true });
    const no = t.origin.library.createLink({ allowUpload: false });
    const multipart = { 'content-type': 'multipart/form-data; boundary=x' };
    const ok = await t.share(`/api/assets?key=${yes.key}`, { method: 'POST', headers: multipart, body: Buffer.alloc(10_000, 1) });
    assert.equal(ok.status, 201);
    assert.equal(t.origin.library.uploads.at(-1)?.size, 10_000);
    assertShareNotFound(await t.share(`/api/assets?key=${no.key}`, { method: 'POST', headers: multipart, body: 'x' }), 'link forbids');
    const big = await t.share(`/api/assets?key=${yes.key}`, { method: 'POST', headers: multipart, body: Buffer.alloc(100_000, 1) });
    assert.equal(big.status, 413);
    assert.equal(t.origin.library.uploads.length, 1);
  } finally {
    await t.close();
  }
});

test('timeline calls must name the link album; coordinates and bbox only when metadata is shown', async () => {
  const shown = lib().createLink({});
  const hidden = lib().createLink({ showMetadata: false });
  const album = lib().album.id;
  const other = '00000000-0000-4000-8000-000000000201';
  assert.equal((await s.share(`/api/timeline/buckets?albumId=${album}&key=${shown.key}`)).status, 200);
  assertShareNotFound(await s.share(`/api/timeline/buckets?albumId=${other}&key=${shown.key}`), 'other album');
  assertShareNotFound(await s.share(`/api/timeline/buckets?key=${shown.key}`), 'no album');
  const bucket = `/api/timeline/bucket?albumId=${album}&timeBucket=2024-05-01`;
  const withCoordinates = await s.share(`${bucket}&withCoordinates=true&key=${shown.key}`);
  assert.equal(withCoordinates.status, 200);
  assert.ok(Array.isArray(withCoordinates.json().latitude));
  assertShareNotFound(await s.share(`${bucket}&withCoordinates=true&key=${hidden.key}`), 'coordinates hidden');
  assertShareNotFound(await s.share(`${bucket}&bbox=2,48,3,49&key=${hidden.key}`), 'bbox hidden');
  assert.equal((await s.share(`${bucket}&key=${hidden.key}`)).status, 200);
  assertShareNotFound(await s.share(`/api/albums/${other}/map-markers?key=${shown.key}`), 'other album markers');
  assert.equal((await s.share(`/api/albums/${album}/map-markers?key=${shown.key}`)).status, 200);
  const individual = lib().createLink({ assetIds: [asset()] });
  assertShareNotFound(await s.share(`/api/timeline/buckets?albumId=${album}&key=${individual.key}`), 'individual link');
});

test('album details and metadata search are always refused', async () => {
  const link = lib().createLink({});
  const from = since();
  assertShareNotFound(await s.share(`/api/albums/${lib().album.id}?key=${link.key}`), 'album');
  assertShareNotFound(
    await s.share(`/api/search/metadata?key=${link.key}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ albumIds: [lib().album.id], withExif: true }),
    }),
    'search',
  );
  assert.deepEqual(reachedOrigin(from, /albums\/[^/]+\?|search/), []);
});

test('share-host headers: no index, no referrer, no framing, robots.txt disallows all', async () => {
  const link = lib().createLink({});
  for (const path of [`/share/${link.key}`, `/api/assets/${asset()}/thumbnail?key=${link.key}`, '/api/server/config', '/_app/immutable/entry/share.js', '/nope']) {
    const reply = await s.share(path);
    assert.equal(reply.headers['x-robots-tag'], 'noindex, nofollow, noarchive', path);
    assert.equal(reply.headers['referrer-policy'], 'no-referrer', path);
    assert.equal(reply.headers['x-frame-options'], 'DENY', path);
  }
  const robots = await s.share('/robots.txt');
  assert.equal(robots.text, 'User-agent: *\nDisallow: /\n');
});

test('public links opt in to indexing', async () => {
  const t = await startShare({ share: { publicLinks: ['club-gallery'] } });
  try {
    const pub = t.origin.library.createLink({ slug: 'club-gallery' });
    const priv = t.origin.library.createLink({ slug: 'family' });
    assert.equal((await t.share('/s/club-gallery')).headers['x-robots-tag'], undefined);
    assert.equal((await t.share(`/api/assets/${t.origin.library.album.assetIds[0]}/thumbnail?key=${pub.key}`)).headers['x-robots-tag'], undefined);
    assert.equal((await t.share('/s/family')).headers['x-robots-tag'], 'noindex, nofollow, noarchive');
    const robots = (await t.share('/robots.txt')).text;
    assert.match(robots, /Allow: \/s\/club-gallery\$/);
    assert.match(robots, /Disallow: \/\n$/);
    void priv;
  } finally {
    await t.close();
  }
});

test('Immich e-mail links redirect to the private host; / is a 404 by default', async () => {
  const album = await s.share(`/albums/${lib().album.id}`);
  assert.equal(album.status, 302);
  assert.equal(album.headers.location, `http://${PRIVATE_HOST}/albums/${lib().album.id}`);
  const photo = await s.share(`/photos/${asset()}`, { host: `${SHARE_HOST}:${s.gateway.httpPort}` });
  assert.equal(photo.headers.location, `http://${PRIVATE_HOST}:${s.gateway.httpPort}/photos/${asset()}`);
  // A port the connection did not arrive on is not repeated (see test/gate/public-url.test.ts).
  const forged = await s.share(`/photos/${asset()}`, { host: `${SHARE_HOST}:8443` });
  assert.equal(forged.headers.location, `http://${PRIVATE_HOST}/photos/${asset()}`);
  assertShareNotFound(await s.share('/'), 'root');
  assertShareNotFound(await s.share('/albums/not-a-uuid'), 'bad id');
});

test('/ can be a neutral page instead', async () => {
  const t = await startShare({ share: { root: 'neutral-page' } });
  try {
    const root = await t.share('/');
    assert.equal(root.status, 200);
    assert.match(root.text, /only opens shared photo links/);
    assert.doesNotMatch(root.text, /Immich/);
    const german = await t.share('/', { headers: { 'accept-language': 'de' } });
    assert.match(german.text, /<html lang="de">/);
    assert.match(german.text, /öffnet nur geteilte Foto-Links/);
    assert.equal(t.origin.received.length, 0);
  } finally {
    await t.close();
  }
});

test('normalisation: encoded and odd spellings never reach Immich', async () => {
  const link = lib().createLink({});
  const from = since();
  const odd = [
    `/api/assets/${asset()}%2Fthumbnail?key=${link.key}`,
    `/api/assets/..%2F..%2Fusers/me?key=${link.key}`,
    `/api/shared-links/me/?key=${link.key}`,
    `/API/shared-links/me?key=${link.key}`,
    `/api/shared-links/./me?key=${link.key}`,
    `//api/shared-links/me?key=${link.key}`,
    `/api/shared-links/me?key=${link.key}&key=${link.key}`,
    `/api/shared-links/me?key[]=${link.key}`,
    `/api/shared-links/me?key=${link.key}%00`,
    `/api/shared-links/me;x=1?key=${link.key}`,
    `/share/${link.key}%2F..%2F..%2Fapi`,
    `/s/%2e%2e`,
  ];
  for (const path of odd) assertShareNotFound(await s.share(path), path);
  assert.deepEqual(s.origin.received.slice(from), []);
});
