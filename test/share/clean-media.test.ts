// Originals and playback of links that hide metadata: a format Porthole cannot clean is refused with a clear
// message (never sent with its metadata); links that show metadata get the file untouched; Immich's answer
// about a link is read strictly (anything odd means "unknown link", refused).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { after, before, test } from 'node:test';
import { parseLinkState } from '../../src/share/links.js';
import { sampleUuid } from '../../src/demo/sample-immich/server.js';
import { startShare, type ShareSetup } from './harness.js';

let s: ShareSetup;
let dir: string;
before(async () => {
  s = await startShare();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-clean-media-'));
});
after(async () => {
  await s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a format that cannot be cleaned is refused with a message, never sent', async () => {
  const file = path.join(dir, 'scan.gif');
  fs.writeFileSync(file, Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(64, 1)]));
  const lib = s.origin.library;
  const id = sampleUuid(0x1fe);
  lib.assets.set(id, { ...lib.assets.get(lib.album.assetIds[0]!)!, id, file, mime: 'image/gif', originalFileName: 'SCAN.GIF', size: 70 });
  const link = lib.createLink({ assetIds: [id], showMetadata: false });
  lib.updateLink(link.id, { allowDownload: true });
  assert.equal((await s.direct(`/api/assets/${id}/original?key=${link.key}`)).status, 200);
  const refused = await s.share(`/api/assets/${id}/original?key=${link.key}`);
  assert.equal(refused.status, 415);
  assert.match(refused.text, /cannot be downloaded without its location and camera data/);
  assert.doesNotMatch(refused.text, /GIF89a/);
  // The web app shows the message to a person: in their language, with the technical cause after it.
  const german = await s.share(`/api/assets/${id}/original?key=${link.key}`, { headers: { accept: 'application/json', 'accept-language': 'de' } });
  assert.equal(german.status, 415);
  assert.match(german.json<{ message: string }>().message, /^Diese Datei kann nicht ohne ihre Orts- und Kameradaten heruntergeladen werden\. \(.+\)$/);
});

test("links that show metadata get originals byte for byte, with Immich's file name", async () => {
  const link = s.origin.library.createLink({});
  const id = s.origin.library.album.assetIds[0]!;
  const direct = await s.direct(`/api/assets/${id}/original?key=${link.key}`);
  const through = await s.share(`/api/assets/${id}/original?key=${link.key}`);
  assert.equal(through.status, 200);
  assert.deepEqual(through.body, direct.body);
  assert.equal(through.headers['content-disposition'], direct.headers['content-disposition']);
});

test('video playback of a link that hides metadata stays inline and seekable', async () => {
  const lib = s.origin.library;
  const video = [...lib.assets.values()].find((a) => a.type === 'VIDEO' && lib.album.assetIds.includes(a.id));
  if (!video) return void assert.fail('the media fixtures include a video');
  const link = lib.createLink({ showMetadata: false });
  const full = await s.share(`/api/assets/${video.id}/video/playback?key=${link.key}`);
  assert.equal(full.status, 200);
  assert.match(full.headers['content-disposition'] ?? '', new RegExp(`^inline; filename="${video.id}\\.`));
  const tail = await s.share(`/api/assets/${video.id}/video/playback?key=${link.key}`, { headers: { range: 'bytes=-100' } });
  assert.equal(tail.status, 206);
  assert.deepEqual(tail.body, full.body.subarray(full.body.length - 100));
});

test('Immich answers about a link are read strictly', () => {
  const good = {
    id: 'x',
    key: 'k',
    type: 'ALBUM',
    album: { id: '00000000-0000-4000-8000-000000000200' },
    allowDownload: true,
    allowUpload: false,
    showMetadata: false,
    password: null,
    slug: null,
    expiresAt: null,
  };
  assert.deepEqual(parseLinkState(good), {
    id: 'x',
    key: 'k',
    slug: null,
    albumId: '00000000-0000-4000-8000-000000000200',
    allowDownload: true,
    allowUpload: false,
    showMetadata: false,
    passwordProtected: false,
    expiresAt: null,
  });
  assert.equal(parseLinkState({ ...good, allowDownload: 'yes' }), null);
  assert.equal(parseLinkState({ ...good, showMetadata: undefined }), null);
  assert.equal(parseLinkState({ ...good, expiresAt: 'soon' }), null);
  assert.equal(parseLinkState(null), null);
  assert.equal(parseLinkState({ ...good, type: 'INDIVIDUAL' })?.albumId, null, 'only album links have an album');
  assert.equal(parseLinkState({ ...good, album: { id: '../x' } })?.albumId, null);
  assert.equal(parseLinkState({ ...good, password: 'pw' })?.passwordProtected, true);
});

test('a cached overwrite plan is never applied to a file that changed: Porthole plans afresh', async () => {
  const lib = s.origin.library;
  const [first, second] = lib.album.assetIds.map((id) => lib.assets.get(id)!).filter((a) => a.type === 'IMAGE' && a.file.endsWith('.jpg'));
  if (!first || !second) return void assert.fail('two JPEG assets expected');
  const id = sampleUuid(0x1fd);
  lib.assets.set(id, { ...first, id });
  const link = lib.createLink({ assetIds: [id], showMetadata: false });
  lib.updateLink(link.id, { allowDownload: true });
  const before = await s.share(`/api/assets/${id}/original?key=${link.key}`);
  assert.equal(before.status, 200);
  assert.equal(before.body.length, fs.statSync(first.file).size);
  lib.assets.set(id, { ...second, id });
  const after = await s.share(`/api/assets/${id}/original?key=${link.key}`);
  assert.equal(after.status, 200);
  assert.equal(after.body.length, fs.statSync(second.file).size);
  assert.doesNotMatch(after.body.toString('latin1'), /FixtureCam|SampleCam/);
});

test('an original that reaches Porthole compressed (a proxy in front of Immich) is refused, never passed on', async () => {
  // A misconfigured proxy between Porthole and Immich that gzips originals, ignoring no-transform.
  let target = 0;
  const compressing = http.createServer((req, res) => {
    const upstream = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (!req.url!.includes('/original')) return void (res.writeHead(answer.statusCode ?? 502, answer.headers), answer.pipe(res));
      const headers = { ...answer.headers, 'content-encoding': 'gzip' };
      delete headers['content-length'];
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(zlib.createGzip()).pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => compressing.listen(0, '127.0.0.1', resolve));
  const behind = await startShare({ origin: { url: `http://127.0.0.1:${(compressing.address() as AddressInfo).port}` } });
  target = behind.origin.port;
  try {
    const lib = behind.origin.library;
    const link = lib.createLink({ showMetadata: false });
    lib.updateLink(link.id, { allowDownload: true });
    const id = lib.album.assetIds.find((a) => lib.assets.get(a)!.mime === 'image/jpeg')!;
    const refused = await behind.share(`/api/assets/${id}/original?key=${link.key}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(refused.status, 415);
    assert.match(refused.text, /reached Porthole compressed/);
    // Porthole asked for the plain file; it was the proxy that compressed it anyway.
    const asked = behind.origin.received.filter((r) => r.url.includes('/original'));
    assert.ok(asked.length > 0 && asked.every((r) => r.headers['accept-encoding'] === 'identity'));
  } finally {
    await behind.close();
    compressing.close();
  }
});
