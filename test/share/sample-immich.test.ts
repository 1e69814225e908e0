// The sample Immich behaves like Immich v3 where the share host's tests depend on it: auth precedence,
// link validation, the SPA fallback with OpenGraph tags, sanitised answers for links that hide metadata.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { SAMPLE_API_KEY, SAMPLE_SESSION_TOKEN, startSampleImmich, type SampleImmich } from '../../src/demo/sample-immich/server.js';
import { send } from './harness.js';

let origin: SampleImmich;
const agent = new http.Agent({ keepAlive: true });
const get = (target: string, headers: http.OutgoingHttpHeaders = {}) => send(origin.port, agent, target, { host: `127.0.0.1:${origin.port}`, headers });

before(async () => {
  origin = await startSampleImmich();
});
after(async () => {
  agent.destroy();
  await origin.close();
});

test('a share key or slug wins over a session or API key; an empty key falls through to the session', async () => {
  const link = origin.library.createLink({});
  const bearer = { authorization: `Bearer ${SAMPLE_SESSION_TOKEN}` };
  assert.equal((await get('/api/users/me', bearer)).status, 200);
  assert.equal((await get('/api/users/me', { 'x-api-key': SAMPLE_API_KEY })).status, 200);
  assert.equal((await get(`/api/users/me?apiKey=${SAMPLE_API_KEY}`)).status, 200);
  assert.equal((await get(`/api/users/me?key=${link.key}`, bearer)).status, 403, 'link identity on a non-share route');
  assert.equal((await get(`/api/users/me?key=`, bearer)).status, 200, 'empty key is falsy');
  assert.equal((await get(`/api/users/me?key=${'x'.repeat(67)}`, bearer)).status, 401);
  assert.equal((await get(`/api/users/me`)).status, 401);
  // The header key wins over the query key.
  const hidden = origin.library.createLink({ showMetadata: false });
  const asset = origin.library.album.assetIds[0]!;
  const info = await get(`/api/assets/${asset}?key=${link.key}`, { 'x-immich-share-key': hidden.key });
  assert.equal(info.json().hasMetadata, false);
});

test('links that hide metadata get sanitised assets; others get full EXIF with GPS', async () => {
  const shown = origin.library.createLink({ assetIds: [origin.library.album.assetIds[0]!] });
  const hidden = origin.library.createLink({ assetIds: [origin.library.album.assetIds[0]!], showMetadata: false });
  const full = (await get(`/api/shared-links/me?key=${shown.key}`)).json<{ assets: { exifInfo?: { latitude: number } }[] }>();
  assert.equal(full.assets[0]!.exifInfo?.latitude, 48.858222);
  const bare = (await get(`/api/shared-links/me?key=${hidden.key}`)).json<{ assets: Record<string, unknown>[] }>();
  assert.deepEqual(Object.keys(bare.assets[0]!).sort(), [
    'duration',
    'hasMetadata',
    'height',
    'id',
    'livePhotoVideoId',
    'localDateTime',
    'originalMimeType',
    'thumbhash',
    'type',
    'width',
  ]);
  assert.equal(hidden.allowDownload, false, 'creating with metadata hidden turns downloads off');
});

test('every non-API GET is the web app; share pages get OpenGraph tags, unknown links a 404, password links none', async () => {
  const link = origin.library.createLink({ slug: 'tagged' });
  const locked = origin.library.createLink({ password: 'x' });
  for (const path of ['/', '/auth/login', '/albums/x', '/anything']) {
    const page = await get(path);
    assert.equal(page.status, 200, path);
    assert.match(page.text, /<!doctype html>/);
  }
  const og = await get(`/s/tagged`, { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'share.example.com' });
  assert.match(og.text, new RegExp(`og:image" content="https://share\\.example\\.com/api/assets/[^"]+/thumbnail\\?key=${link.key}"`));
  assert.equal((await get(`/share/${'z'.repeat(67)}`)).status, 404);
  assert.equal((await get(`/share/${link.key}?utm=1`)).status, 404, 'the server matches the whole URL');
  assert.doesNotMatch((await get(`/share/${locked.key}`)).text, /og:image/);
});

test('originals support ranges; thumbnails refuse size=original; a legacy hex key works', async () => {
  const legacy = origin.library.createLink({ legacyHexKey: true });
  const asset = origin.library.album.assetIds[0]!;
  const full = await get(`/api/assets/${asset}/original?key=${legacy.key}`);
  assert.equal(full.status, 200);
  const part = await get(`/api/assets/${asset}/original?key=${legacy.key}`, { range: 'bytes=4-13' });
  assert.equal(part.status, 206);
  assert.deepEqual(part.body, full.body.subarray(4, 14));
  assert.equal((await get(`/api/assets/${asset}/thumbnail?key=${legacy.key}&size=original`)).status, 400);
});

test('the big album option (first-screen benchmark): a link lists every photo, each with a thumbnail of its own', async () => {
  const big = await startSampleImmich(0, '127.0.0.1', { bigAlbum: 12 });
  try {
    const album = big.library.bigAlbum!;
    const link = big.library.createLink({ albumId: album.id });
    const fetch = (target: string) => send(big.port, agent, target, { host: `127.0.0.1:${big.port}` });
    const me = (await fetch(`/api/shared-links/me?key=${link.key}`)).json<{ album: { assetCount: number } }>();
    assert.equal(me.album.assetCount, 12);
    const bucket = (await fetch(`/api/timeline/bucket?albumId=${album.id}&timeBucket=2024-05-01&order=desc&key=${link.key}`)).json<{ id: string[] }>();
    assert.deepEqual(bucket.id, album.assetIds);
    const thumbnails = await Promise.all(album.assetIds.map((id) => fetch(`/api/assets/${id}/thumbnail?key=${link.key}&size=thumbnail`)));
    for (const thumbnail of thumbnails) {
      assert.equal(thumbnail.status, 200);
      assert.equal(thumbnail.headers['content-type'], 'image/jpeg');
      assert.equal(thumbnail.body.length, 8 * 1024);
      // A JPEG: start marker, the comment segment, and the picture's end marker.
      assert.deepEqual([...thumbnail.body.subarray(0, 4)], [0xff, 0xd8, 0xff, 0xfe]);
      assert.deepEqual([...thumbnail.body.subarray(-2)], [0xff, 0xd9]);
    }
    assert.equal(new Set(thumbnails.map((t) => t.body.toString('base64'))).size, 12, 'no two thumbnails alike');
    // The everyday album and its link are untouched.
    assert.equal(big.library.album.assetIds.length, origin.library.album.assetIds.length);
    assert.equal((await get(`/api/assets/${album.assetIds[0]}/thumbnail?key=${origin.library.createLink({}).key}`)).status, 400, 'not in the default library');
  } finally {
    await big.close();
  }
});
