// The share policy as data and its engine, without sockets: normalisation refusals, row matching, query and
// body rules, link conditions and the set-up predicate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkBody, checkQuery, compileTemplate, deliberateRefusal, failedCondition, matchRoute, type LinkFacts } from '../../src/share/engine.js';
import { parseTarget, type Target } from '../../src/share/normalise.js';
import { ALWAYS_REFUSED, PLACEHOLDERS, SHARE_POLICY } from '../../src/share/policy.js';
import { isImmichSetupRequest } from '../../src/gate/setup.js';
import { prng } from '../prng.js';

const KEY = 'A'.repeat(60) + 'bcd_-12';
const HEX = 'ab'.repeat(50);
const UUID = '00000000-0000-4000-8000-000000000108';
const ALBUM = '00000000-0000-4000-8000-000000000200';

function target(raw: string): Target {
  const parsed = parseTarget(raw);
  assert.ok(parsed.ok, `expected ${raw} to parse: ${parsed.ok ? '' : parsed.reason}`);
  return parsed.target;
}

test('every policy row compiles and every placeholder is used', () => {
  const used = new Set<string>();
  for (const rule of SHARE_POLICY) {
    assert.ok(compileTemplate(rule.path) instanceof RegExp, rule.id);
    for (const m of rule.path.matchAll(/\{([a-z]+)\}/g)) used.add(m[1]!);
  }
  for (const r of ALWAYS_REFUSED) compileTemplate(r.path);
  assert.deepEqual([...used].sort(), Object.keys(PLACEHOLDERS).sort());
  assert.equal(new Set(SHARE_POLICY.map((r) => r.id)).size, SHARE_POLICY.length);
});

test('normalisation refuses encoded slashes and dots, dot segments, //, backslashes, controls, long targets, repeats', () => {
  const bad = [
    '/share/%2e%2e/api',
    '/api/assets/%2F',
    '/share/a%2Fb',
    '/s/a%2eb',
    '/api/../api/users',
    '/api/./assets',
    '//api/assets',
    '/api//assets',
    '/api\\assets',
    '/s/a%00b',
    '/s/a%0ab',
    '/s/a%5Cb',
    '/s/a%25b',
    '/x?key=a%00',
    `/x?${'a'.repeat(3000)}=1`,
    `/${'a'.repeat(1100)}`,
    '/x?key=1&key=2',
    '/x?slug=a&slug=b',
    '/x?a',
    '/x?=1',
    '/x?',
    '/x?a[]=1',
    '/x?a.b=1',
    '/x?%6Bey=1',
    'http://share.localhost/',
    '*',
    '/x#frag',
    '/x?a=b=c',
    '/x?a=1;b=2',
    '/s/a;b',
    '/x?k=%E0%80',
    '/x?k=%C2%85',
  ];
  for (const raw of bad) assert.equal(parseTarget(raw).ok, false, raw);
  const good = ['/share/' + KEY, '/s/my%20album', '/api/assets/' + UUID + '/thumbnail?key=' + KEY + '&size=preview&c=ab%2Bc%2Fd%3D', '/_app/immutable/entry/app.js', '/'];
  for (const raw of good) assert.equal(parseTarget(raw).ok, true, raw);
  assert.equal(target('/x?c=ab%2Bc%2F&d=a+b').query.get('c'), 'ab+c/');
  assert.equal(target('/x?d=a+b').query.get('d'), 'a b');
});

test('rows: share pages, static files and the share API match; everything else does not', () => {
  const allowed: [string, string, string][] = [
    ['GET', `/share/${KEY}`, 'share-page'],
    ['GET', `/share/${HEX}/photos/${UUID}`, 'share-page'],
    ['HEAD', `/s/summer/`, 'slug-page'],
    ['GET', `/_app/immutable/chunks/x.js`, 'web-app'],
    ['GET', `/favicon-32.png`, 'static'],
    ['GET', `/service-worker.js`, 'service-worker'],
    ['GET', `/api/server/config`, 'server-public'],
    ['GET', `/api/shared-links/me`, 'link-me'],
    ['POST', `/api/shared-links/login`, 'link-login'],
    ['GET', `/api/assets/${UUID}/original`, 'original'],
    ['DELETE', `/api/assets/${UUID}/video/stream/abc`, 'hls-end'],
    ['GET', `/api/assets/${UUID}/video/stream/abc/0/seg-1.m4s`, 'hls-segment'],
    ['GET', `/api/albums/${ALBUM}/map-markers`, 'map-markers'],
    ['POST', `/api/assets`, 'upload'],
  ];
  for (const [method, path, id] of allowed) assert.equal(matchRoute(method, path)?.rule.id, id, `${method} ${path}`);
  const refused: [string, string][] = [
    ['GET', `/api/albums/${ALBUM}`],
    ['POST', '/api/search/metadata'],
    ['GET', '/api/users/me'],
    ['POST', '/api/auth/login'],
    ['POST', '/api/auth/admin-sign-up'],
    ['GET', '/api/admin/users'],
    ['GET', '/api/oauth/mobile-redirect'],
    ['GET', '/api/socket.io/'],
    ['GET', '/.well-known/immich'],
    ['PUT', `/api/assets/${UUID}`],
    ['OPTIONS', '/api/shared-links/me'],
    ['GET', '/api/server/about'],
    ['GET', `/share/${KEY.slice(1)}`],
    ['GET', `/share/${KEY}/albums`],
    ['GET', '/_app/.env'],
    ['POST', `/share/${KEY}`],
    ['GET', `/API/shared-links/me`],
    ['GET', `/api/shared-links/me/`],
    ['GET', `/api/assets/${UUID.replace(/0/g, 'A')}`],
    ['GET', '/auth/login'],
    ['DELETE', `/api/assets/${UUID}`],
    ['GET', '/photos'],
    ['GET', '/api/timeline/buckets/'],
  ];
  for (const [method, path] of refused) assert.equal(matchRoute(method, path), null, `${method} ${path}`);
  assert.match(deliberateRefusal('GET', `/api/albums/${ALBUM}`) ?? '', /e-mail/);
  assert.match(deliberateRefusal('POST', '/api/search/metadata') ?? '', /GPS/);
});

test('credentials: exactly one well-formed key or slug on API rows, none elsewhere, never apiKey/sessionKey', () => {
  const me = matchRoute('GET', '/api/shared-links/me')!;
  assert.deepEqual(checkQuery(me.rule, target(`/x?key=${KEY}`)), { ok: true, credential: { kind: 'key', value: KEY } });
  assert.deepEqual(checkQuery(me.rule, target(`/x?key=${HEX}`)), { ok: true, credential: { kind: 'key', value: HEX } });
  assert.deepEqual(checkQuery(me.rule, target(`/x?slug=my%20album`)), { ok: true, credential: { kind: 'slug', value: 'my album' } });
  for (const raw of [
    `/x`,
    `/x?key=${KEY}&slug=a`,
    `/x?key=`,
    `/x?key=${KEY}x`,
    `/x?key=${KEY}&apiKey=k`,
    `/x?slug=${'s'.repeat(201)}`,
    `/x?key=${KEY}&sessionKey=s`,
    `/x?key=${KEY}&size=preview`,
  ]) {
    assert.equal(checkQuery(me.rule, target(raw)).ok, false, raw);
  }
  const page = matchRoute('GET', `/share/${KEY}`)!;
  assert.equal(checkQuery(page.rule, target(`/x?utm_source=chat`)).ok, true);
  assert.equal(checkQuery(page.rule, target(`/x?key=${KEY}`)).ok, false);
  const thumb = matchRoute('GET', `/api/assets/${UUID}/thumbnail`)!;
  assert.equal(checkQuery(thumb.rule, target(`/x?key=${KEY}&size=preview&c=abc&edited=true`)).ok, true);
  const timeline = matchRoute('GET', '/api/timeline/bucket')!;
  for (const p of ['personId', 'tagId', 'userId']) assert.equal(checkQuery(timeline.rule, target(`/x?key=${KEY}&albumId=${ALBUM}&${p}=${UUID}`)).ok, false, p);
});

test('bodies: none on GET, JSON with a bounded length on JSON rows, multipart on upload', () => {
  const me = matchRoute('GET', '/api/shared-links/me')!.rule;
  assert.equal(checkBody(me, {}).ok, true);
  assert.equal(checkBody(me, { 'content-length': '5' }).ok, false);
  assert.equal(checkBody(me, { 'transfer-encoding': 'chunked' }).ok, false);
  const login = matchRoute('POST', '/api/shared-links/login')!.rule;
  assert.equal(checkBody(login, { 'content-type': 'application/json', 'content-length': '20' }).ok, true);
  assert.equal(checkBody(login, { 'content-type': 'text/plain', 'content-length': '20' }).ok, false);
  assert.equal(checkBody(login, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }).ok, false);
  assert.equal(checkBody(login, { 'content-type': 'application/json', 'content-length': '5000' }).ok, false);
  const upload = matchRoute('POST', '/api/assets')!.rule;
  assert.equal(checkBody(upload, { 'content-type': 'multipart/form-data; boundary=x' }).ok, true);
  assert.equal(checkBody(upload, { 'content-type': 'application/json' }).ok, false);
});

test('conditions: downloads, uploads (link and config), own album, no coordinates when metadata hidden, no zips', () => {
  const link: LinkFacts = { albumId: ALBUM, allowDownload: false, allowUpload: true, showMetadata: false };
  const check = (method: string, raw: string, facts: LinkFacts, uploads = false) => {
    const t = target(raw);
    const m = matchRoute(method, t.path)!;
    return failedCondition(m.rule.when, facts, t, m, { uploadsEnabled: uploads });
  };
  assert.equal(check('GET', `/api/assets/${UUID}/original?key=${KEY}`, link), 'allowDownload');
  assert.equal(check('GET', `/api/assets/${UUID}/original?key=${KEY}`, { ...link, allowDownload: true }), undefined);
  assert.equal(check('POST', `/api/download/archive?key=${KEY}`, { ...link, allowDownload: true }), 'metadataShown');
  assert.equal(check('POST', `/api/assets?key=${KEY}`, link), 'uploadsEnabled');
  assert.equal(check('POST', `/api/assets?key=${KEY}`, link, true), undefined);
  assert.equal(check('POST', `/api/assets?key=${KEY}`, { ...link, allowUpload: false }, true), 'allowUpload');
  assert.equal(check('GET', `/api/timeline/buckets?key=${KEY}&albumId=${ALBUM}`, link), undefined);
  assert.equal(check('GET', `/api/timeline/buckets?key=${KEY}&albumId=${UUID}`, link), 'albumParamIsLink');
  assert.equal(check('GET', `/api/timeline/buckets?key=${KEY}`, link), 'albumParamIsLink');
  assert.equal(check('GET', `/api/timeline/bucket?key=${KEY}&albumId=${ALBUM}&timeBucket=2024-05-01&withCoordinates=true`, link), 'geoOnlyWithMetadata');
  assert.equal(check('GET', `/api/timeline/bucket?key=${KEY}&albumId=${ALBUM}&timeBucket=2024-05-01&bbox=1,2,3,4`, link), 'geoOnlyWithMetadata');
  assert.equal(check('GET', `/api/timeline/bucket?key=${KEY}&albumId=${ALBUM}&timeBucket=2024-05-01&bbox=1,2,3,4`, { ...link, showMetadata: true }), undefined);
  assert.equal(check('GET', `/api/albums/${UUID}/map-markers?key=${KEY}`, link), 'albumPathIsLink');
  assert.equal(check('GET', `/api/assets/${UUID}/thumbnail?key=${KEY}&size=fullsize`, link), 'previewOnlyWhenHidden');
  assert.equal(check('GET', `/api/assets/${UUID}/thumbnail?key=${KEY}&size=preview`, link), undefined);
  assert.equal(check('GET', `/api/assets/${UUID}/thumbnail?key=${KEY}&size=fullsize`, { ...link, showMetadata: true }), undefined);
  assert.equal(check('GET', `/api/albums/${ALBUM}/map-markers?key=${KEY}`, { ...link, albumId: null }), 'albumPathIsLink');
});

test('isImmichSetupRequest recognises sign-up and restore in every spelling Immich routes alike', () => {
  for (const [m, t] of [
    ['POST', '/api/auth/admin-sign-up'],
    ['post', '/API/Auth/Admin-Sign-Up/'],
    ['POST', '/api/auth/admin-sign-up?x=1'],
    ['POST', '/api/auth/%61dmin-sign-up'],
    ['POST', '//api//auth/admin-sign-up'],
    ['POST', '/api/admin/database-backups/start-restore'],
    ['POST', '/api/auth/./admin-sign-up'],
    ['POST', '/api/auth/x/../admin-sign-up'],
    ['POST', '/api/auth/admin-sign-up;'],
    ['POST', '/api/auth/admin-sign-up%00'],
    ['POST', '/api/auth/admin-sign-up%20'],
    ['POST', '/api/auth/admin-sign-up.json'],
    ['POST', '/api/admin/database-backups/start-restore/./'],
    ['POST', '/api%2fauth%2Fadmin-sign-up'],
  ]) {
    assert.equal(isImmichSetupRequest(m, t), true, `${m} ${t}`);
  }
  for (const [m, t] of [
    ['GET', '/api/auth/admin-sign-up'],
    ['POST', '/api/auth/login'],
    ['POST', '/api/admin/database-backups'],
    ['POST', undefined],
    ['POST', '/api/auth/admin-sign-up-status'],
    ['PUT', '/api/auth/admin-sign-up'],
    ['POST', '/api/auth/admin-sign-up/../login'],
  ] as const) {
    assert.equal(isImmichSetupRequest(m, t), false, `${m} ${t}`);
  }
});

test('the indexed route lookup picks the same row as trying every row in table order (seeded paths)', () => {
  const linear = (method: string, path: string) => {
    if (ALWAYS_REFUSED.some((r) => r.method === method && compileTemplate(r.path).test(path))) return null;
    return SHARE_POLICY.find((rule) => (rule.methods as readonly string[]).includes(method) && compileTemplate(rule.path).test(path))?.id ?? null;
  };
  const segments = [
    'api',
    'assets',
    'albums',
    'share',
    's',
    '_app',
    'shared-links',
    'me',
    'login',
    'server',
    'config',
    'timeline',
    'bucket',
    'buckets',
    'download',
    'info',
    'archive',
    'search',
    'metadata',
    'video',
    'stream',
    'playback',
    'original',
    'thumbnail',
    'map-markers',
    'photos',
    'main.m3u8',
    'playlist.m3u8',
    'seg-1.m4s',
    '0',
    'abc',
    'robots.txt',
    'favicon.ico',
    'immutable',
    '',
    UUID,
    ALBUM,
    KEY,
    HEX,
    'summer',
  ];
  const methods = ['GET', 'HEAD', 'POST', 'DELETE', 'PUT'];
  const samples: Record<string, string> = {
    uuid: UUID,
    key: KEY,
    slug: 'summer',
    appfile: 'immutable/x.js',
    static: 'favicon.ico',
    session: 'abc',
    variant: '0',
    segment: 'seg-1.m4s',
  };
  const random = prng(7);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  // A row's template made concrete: placeholders filled, optional groups kept or dropped, one alternative chosen.
  const instantiate = (template: string) =>
    template
      .replace(/\{([a-z]+)\}/g, (_m, name: string) => samples[name]!)
      .replace(/\(([^()]*)\)\?/g, (_m, body: string) => (random() < 0.5 ? body : ''))
      .replace(/\(([^()]*)\)/g, (_m, body: string) => pick(body.split('|')))
      .replace(/\/\?$/, () => (random() < 0.5 ? '/' : ''));
  const templates = [...SHARE_POLICY.map((r) => r.path), ...ALWAYS_REFUSED.map((r) => r.path)];
  const seen = new Map<string, number>();
  for (let i = 0; i < 40_000; i++) {
    const parts = instantiate(pick(templates)).split('/').slice(1);
    // Then mutate it: a segment replaced, dropped or doubled, or nothing.
    const at = Math.floor(random() * parts.length);
    const mutation = random();
    if (mutation < 0.2) parts[at] = pick(segments);
    else if (mutation < 0.3) parts.splice(at, 1);
    else if (mutation < 0.4) parts.splice(at, 0, parts[at]!);
    const path = `/${parts.join('/')}`;
    const method = pick(methods);
    const expected = linear(method, path);
    assert.equal(matchRoute(method, path)?.rule.id ?? null, expected, `${method} ${path}`);
    seen.set(expected ?? 'refused', (seen.get(expected ?? 'refused') ?? 0) + 1);
  }
  // The random paths must reach a fair share of the rows, or the comparison proves little.
  assert.equal(seen.size, SHARE_POLICY.length + 1, `only ${[...seen.keys()].join(', ')} reached`);
});
