// Pins the share policy: every row of SHARE_POLICY, every placeholder shape and every deliberately refused
// route, spelled out. Adding, widening or dropping a row fails here until this list is updated too, so each
// change to what the share host lets through is a visible decision in review (and the corpus oracle,
// test/share/oracle.ts, must agree: see test/share/corpus.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchRoute } from '../../src/share/engine.js';
import { ALWAYS_REFUSED, PLACEHOLDERS, SHARE_POLICY, type Rule } from '../../src/share/policy.js';
import { STATIC_FILES } from './oracle.js';

/** One line per row: id, methods, path template, link source, password rule, params, body, conditions, special. */
function describe(r: Rule): string {
  const params = r.params === undefined ? '' : `params=${r.params === 'page' ? 'page' : `[${r.params.join(',')}]`}`;
  const body = r.body ? `body=${r.body.type}${r.body.maxBytes ? `:${r.body.maxBytes}` : ''}` : '';
  return [
    r.id,
    r.methods.join('|'),
    r.path,
    `link=${r.link}`,
    r.password ? `password=${r.password}` : '',
    params,
    body,
    r.when ? `when=${r.when.join(',')}` : '',
    r.special ? `special=${r.special}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

const PINNED_ROWS = [
  'share-page GET|HEAD /share/{key}(/photos/{uuid})?/? link=path password=exempt params=page',
  'slug-page GET|HEAD /s/{slug}(/photos/{uuid})?/? link=path password=exempt params=page',
  'web-app GET|HEAD /_app/{appfile} link=none params=page',
  'static GET|HEAD /({static}) link=none params=page',
  'service-worker GET|HEAD /service-worker.js link=none params=[]',
  'robots GET|HEAD /robots.txt link=none params=page special=robots',
  'root GET|HEAD / link=none params=page special=root',
  'email-link GET|HEAD /(albums|photos)/{uuid} link=none params=page special=to-private-host',
  'server-public GET /api/server/(config|features|media-types) link=none params=[]',
  'link-me GET /api/shared-links/me link=query password=exempt params=[]',
  'link-login POST /api/shared-links/login link=query password=exempt params=[] body=json:4096 special=login',
  'asset-info GET /api/assets/{uuid} link=query password=unlocked params=[]',
  'thumbnail GET /api/assets/{uuid}/thumbnail link=query password=unlocked params=[size,c,edited] when=previewOnlyWhenHidden',
  'playback GET /api/assets/{uuid}/video/playback link=query password=unlocked params=[c] special=clean-media',
  'original GET /api/assets/{uuid}/original link=query password=unlocked params=[c,edited] when=allowDownload special=clean-media',
  'hls-main GET /api/assets/{uuid}/video/stream/main.m3u8 link=query password=unlocked params=[]',
  'hls-playlist GET /api/assets/{uuid}/video/stream/{session}/{variant}/playlist.m3u8 link=query password=unlocked params=[]',
  'hls-segment GET /api/assets/{uuid}/video/stream/{session}/{variant}/{segment} link=query password=unlocked params=[]',
  'hls-end DELETE /api/assets/{uuid}/video/stream/{session} link=query password=unlocked params=[]',
  'timeline-buckets GET /api/timeline/buckets link=query password=unlocked params=[albumId,order,orderBy,visibility,isFavorite,isTrashed,withStacked,withPartners,withCoordinates,bbox] when=albumParamIsLink,geoOnlyWithMetadata',
  'timeline-bucket GET /api/timeline/bucket link=query password=unlocked params=[albumId,order,orderBy,visibility,isFavorite,isTrashed,withStacked,withPartners,withCoordinates,bbox,timeBucket] when=albumParamIsLink,geoOnlyWithMetadata',
  'map-markers GET /api/albums/{uuid}/map-markers link=query password=unlocked params=[] when=albumPathIsLink',
  'download-info POST /api/download/info link=query password=unlocked params=[] body=json:1048576 when=allowDownload',
  'download-zip POST /api/download/archive link=query password=unlocked params=[] body=json:1048576 when=allowDownload,metadataShown',
  'upload POST /api/assets link=query password=unlocked params=[] body=multipart when=allowUpload,uploadsEnabled',
];

const PINNED_PLACEHOLDERS = {
  uuid: '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}',
  key: '[A-Za-z0-9_-]{67}|[0-9a-fA-F]{100}',
  slug: '[^/]{1,600}',
  appfile: '(?:[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,127}/){0,6}[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,127}',
  static:
    'custom.css|favicon.ico|favicon-(?:16|32|48|96|144).png|apple-icon-180.png|manifest.json|manifest-icon-(?:192|512).maskable.png|feature-panel.png|light_skeleton.png|dark_skeleton.png',
  session: '[A-Za-z0-9_-]{1,64}',
  variant: '[0-9]{1,2}',
  segment: '[A-Za-z0-9_-]{1,64}.(?:m4s|mp4|ts)',
};

/** The web app's static files the share page loads (share-surface section 2.3) that the policy serves. */
const PINNED_STATIC_FILES = [
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
];

test('the share policy has exactly the pinned rows, in order', () => {
  assert.deepEqual(SHARE_POLICY.map(describe), PINNED_ROWS);
});

test('the placeholder shapes are the pinned ones', () => {
  assert.deepEqual({ ...PLACEHOLDERS }, PINNED_PLACEHOLDERS);
});

test('the deliberately refused routes are the pinned ones', () => {
  assert.deepEqual(
    ALWAYS_REFUSED.map((r) => `${r.method} ${r.path}`),
    ['GET /api/albums/{uuid}', 'POST /api/search/metadata'],
  );
});

test('exactly the pinned static files are served, and the oracle allows each of them', () => {
  for (const file of PINNED_STATIC_FILES) {
    assert.equal(matchRoute('GET', file)?.rule?.id, 'static', `${file} is a static file of the policy`);
    assert.ok(STATIC_FILES.includes(file), `the oracle knows ${file}`);
  }
  // Near misses of the list stay refused.
  for (const miss of ['/manifest.webmanifest', '/favicon-64.png', '/manifest-icon-256.maskable.png', '/favicon.ico/', '/Favicon.ico', '/custom.css.map']) {
    assert.notEqual(matchRoute('GET', miss)?.rule?.id, 'static', `${miss} is not a static file`);
  }
});
