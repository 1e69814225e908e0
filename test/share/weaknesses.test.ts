// Each weakness Immich leaves open on its share surface, shown OPEN on the sample Immich directly (which
// behaves like Immich v3) and CLOSED through Porthole's share host.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { readZip } from '../../src/demo/sample-immich/zip.js';
import { SAMPLE_SESSION_TOKEN } from '../../src/demo/sample-immich/server.js';
import { decodedDigest, exiftoolTags, FIXTURES, leaks, type Fixture } from '../strip/helpers.js';
import { assertOnlyAllowedReachedOrigin, startShare, type ShareSetup } from './harness.js';

let s: ShareSetup;
before(async () => {
  s = await startShare({ share: { allowUploads: false } }, { initialized: false });
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
const json = { 'content-type': 'application/json' };

/** A link like one edited in the mobile app: metadata hidden, downloads re-enabled afterwards. */
function hiddenMetadataWithDownloads() {
  const link = lib().createLink({ showMetadata: false });
  assert.equal(link.allowDownload, false, 'creation couples the two settings');
  return lib().updateLink(link.id, { allowDownload: true });
}

test('password only guards /me: open directly, closed through Porthole', async () => {
  const link = lib().createLink({ password: 'secret' });
  const paths = [
    `/api/assets/${asset()}/thumbnail?key=${link.key}`,
    `/api/assets/${asset()}/original?key=${link.key}`,
    `/api/timeline/buckets?albumId=${lib().album.id}&key=${link.key}`,
    `/api/assets/${asset()}?key=${link.key}`,
  ];
  assert.equal((await s.direct(`/api/shared-links/me?key=${link.key}`)).status, 401);
  for (const p of paths) assert.equal((await s.direct(p)).status, 200, `direct ${p}`);
  for (const p of paths) assert.equal((await s.share(p)).status, 404, `porthole ${p}`);
});

test('hidden metadata, downloads on: originals carry GPS and camera directly; through Porthole they do not, pixels unchanged', async () => {
  const link = hiddenMetadataWithDownloads();
  let checked = 0;
  for (const id of lib().album.assetIds) {
    const a = lib().assets.get(id)!;
    const name = path.basename(a.file);
    const fixture: Fixture = FIXTURES.find((f) => f.file === name) ?? { file: name, format: 'jpeg', kind: 'image', exifreader: true };
    const direct = await s.direct(`/api/assets/${id}/original?key=${link.key}`);
    assert.equal(direct.status, 200);
    assert.ok(leaks(await exiftoolTags(direct.body, name)).length > 0, `${name}: the origin leaks`);
    const cleaned = await s.share(`/api/assets/${id}/original?key=${link.key}`);
    assert.equal(cleaned.status, 200, `${name}: ${cleaned.text.slice(0, 200)}`);
    assert.equal(cleaned.body.length, direct.body.length, `${name}: same length`);
    assert.deepEqual(leaks(await exiftoolTags(cleaned.body, name)), [], `${name}: nothing left`);
    assert.equal(await decodedDigest(cleaned.body, fixture), await decodedDigest(direct.body, fixture), `${name}: same pixels/frames`);
    assert.equal(cleaned.headers['content-disposition'], `attachment; filename="${id}${path.extname(a.originalFileName).toLowerCase()}"`);
    // Ranges are cut from the cleaned file, at the same offsets.
    const mid = Math.floor(direct.body.length / 3);
    const range = await s.share(`/api/assets/${id}/original?key=${link.key}`, { headers: { range: `bytes=${mid}-${mid + 499}` } });
    assert.equal(range.status, 206);
    assert.deepEqual(range.body, cleaned.body.subarray(mid, mid + 500));
    checked++;
  }
  assert.ok(checked >= 2, 'at least the fallback JPEG and one media fixture');
});

test('untranscoded video playback carries location directly; cleaned through Porthole', async () => {
  const link = lib().createLink({ showMetadata: false });
  const video = [...lib().assets.values()].find((a) => a.type === 'VIDEO' && lib().album.assetIds.includes(a.id));
  if (!video) return void assert.fail('the media fixtures include a video');
  const direct = await s.direct(`/api/assets/${video.id}/video/playback?key=${link.key}`);
  assert.ok(leaks(await exiftoolTags(direct.body, path.basename(video.file))).length > 0);
  const cleaned = await s.share(`/api/assets/${video.id}/video/playback?key=${link.key}`);
  assert.equal(cleaned.status, 200);
  assert.deepEqual(leaks(await exiftoolTags(cleaned.body, path.basename(video.file))), []);
});

test('zip downloads carry originals with GPS directly; refused with a clear message through Porthole', async () => {
  const link = hiddenMetadataWithDownloads();
  const body = JSON.stringify({ assetIds: lib().album.assetIds, edited: true });
  const zip = await s.direct(`/api/download/archive?key=${link.key}`, { method: 'POST', headers: json, body });
  assert.equal(zip.status, 200);
  const first = readZip(zip.body)[0]!;
  assert.ok(leaks(await exiftoolTags(first.data, first.name)).length > 0);
  const refused = await s.share(`/api/download/archive?key=${link.key}`, { method: 'POST', headers: json, body });
  assert.equal(refused.status, 415);
  assert.match(refused.text, /Zip downloads are not available/);
});

test('/search/metadata returns EXIF and GPS whatever showMetadata says: open directly, closed through Porthole', async () => {
  const link = lib().createLink({ showMetadata: false });
  const body = JSON.stringify({ albumIds: [lib().album.id], withExif: true });
  const direct = await s.direct(`/api/search/metadata?key=${link.key}`, { method: 'POST', headers: json, body });
  assert.equal(direct.status, 200);
  assert.equal(direct.json<{ assets: { items: { exifInfo: { latitude: number } }[] } }>().assets.items[0]!.exifInfo.latitude, 48.858222);
  assert.equal((await s.share(`/api/search/metadata?key=${link.key}`, { method: 'POST', headers: json, body })).status, 404);
});

test('/albums/:id returns members e-mail addresses: open directly, closed through Porthole', async () => {
  const link = lib().createLink({});
  const direct = await s.direct(`/api/albums/${lib().album.id}?key=${link.key}`);
  assert.match(direct.text, /member@example\.com/);
  assert.equal((await s.share(`/api/albums/${lib().album.id}?key=${link.key}`)).status, 404);
});

test('the x-immich-checksum probe finds unshared files in the owner library: open directly, closed through Porthole', async () => {
  const link = lib().createLink({ allowUpload: false, password: 'pw' });
  const probe = { 'content-type': 'multipart/form-data; boundary=x', 'x-immich-checksum': lib().privateAsset.sha1.toString('hex') };
  const direct = await s.direct(`/api/assets?key=${link.key}`, { method: 'POST', headers: probe, body: '--x--' });
  assert.equal(direct.status, 200);
  assert.deepEqual(direct.json(), { id: lib().privateAsset.id, status: 'duplicate' });
  assert.equal((await s.share(`/api/assets?key=${link.key}`, { method: 'POST', headers: probe, body: '--x--' })).status, 404);
  // Even with uploads enabled end to end, the header never reaches Immich: the upload is a plain new file.
  const t = await startShare({ share: { allowUploads: true } });
  try {
    const open = t.origin.library.createLink({});
    const headers = { ...probe, 'x-immich-checksum': t.origin.library.privateAsset.sha1.toString('hex') };
    const reply = await t.share(`/api/assets?key=${open.key}`, { method: 'POST', headers, body: '--x--' });
    assert.equal(reply.status, 201);
    assert.equal(reply.json().status, 'created');
  } finally {
    await t.close();
  }
});

test('new links allow uploads by default: open directly, closed through Porthole (share.allowUploads off)', async () => {
  const link = lib().createLink({});
  const multipart = { 'content-type': 'multipart/form-data; boundary=x' };
  assert.equal((await s.direct(`/api/assets?key=${link.key}`, { method: 'POST', headers: multipart, body: 'data' })).status, 201);
  const count = lib().uploads.length;
  assert.equal((await s.share(`/api/assets?key=${link.key}`, { method: 'POST', headers: multipart, body: 'data' })).status, 404);
  assert.equal(lib().uploads.length, count);
});

test('slugs can be guessed without limit directly; Porthole limits unknown lookups', async () => {
  const t = await startShare();
  try {
    for (let i = 0; i < 60; i++) assert.equal((await t.direct(`/api/shared-links/me?slug=guess-${i}`)).status, 401);
    t.origin.library.createLink({ slug: 'guess-60' });
    assert.equal((await t.direct('/api/shared-links/me?slug=guess-60')).status, 200, 'Immich answers the 61st guess');
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) statuses.push((await t.share(`/api/shared-links/me?slug=guess-${i}`)).status);
    assert.deepEqual(new Set(statuses.slice(0, 30)), new Set([404]));
    assert.equal(statuses[30], 429);
    assert.equal((await t.share('/api/shared-links/me?slug=guess-60')).status, 429, 'a hit after the limit reveals nothing');
  } finally {
    await t.close();
  }
});

test('a stolen session works on a share host that points straight at Immich; not through Porthole', async () => {
  const bearer = { authorization: `Bearer ${SAMPLE_SESSION_TOKEN}` };
  assert.equal((await s.direct('/api/users/me', { headers: bearer })).status, 200);
  assert.equal((await s.direct('/api/albums', { headers: { cookie: `immich_access_token=${SAMPLE_SESSION_TOKEN}` } })).status, 200);
  assert.equal((await s.share('/api/users/me', { headers: bearer })).status, 404);
  assert.equal((await s.share('/api/albums', { headers: { cookie: `immich_access_token=${SAMPLE_SESSION_TOKEN}` } })).status, 404);
});

test('first-admin sign-up is open on a fresh Immich; never reachable through the share host', async () => {
  const body = JSON.stringify({ email: 'attacker@example.com', password: 'x', name: 'x' });
  assert.equal((await s.share('/api/auth/admin-sign-up', { method: 'POST', headers: json, body })).status, 404);
  assert.equal((await s.share('/api/admin/database-backups/start-restore', { method: 'POST', headers: json, body: '{}' })).status, 404);
  assert.equal(lib().initialized, false, 'nothing reached the origin');
  assert.equal((await s.direct('/api/auth/admin-sign-up', { method: 'POST', headers: json, body })).status, 201);
});

test('bbox narrows locations even when metadata is hidden: open directly, closed through Porthole', async () => {
  const link = lib().createLink({ showMetadata: false });
  const base = `/api/timeline/buckets?albumId=${lib().album.id}&key=${link.key}`;
  const inside = await s.direct(`${base}&bbox=2.2,48.8,2.3,48.9`);
  const outside = await s.direct(`${base}&bbox=13.3,52.4,13.5,52.6`);
  assert.notDeepEqual(inside.json(), outside.json(), 'the answer reveals where the photos were taken');
  assert.equal((await s.share(`${base}&bbox=2.2,48.8,2.3,48.9`)).status, 404);
});

test('every non-API path answers with the web app directly (login page included); only share pages through Porthole', async () => {
  for (const p of ['/auth/login', '/admin/users', '/photos', '/']) {
    assert.equal((await s.direct(p)).status, 200, p);
    assert.equal((await s.share(p)).status, 404, p);
  }
});
