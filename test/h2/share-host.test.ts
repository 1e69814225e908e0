// The share host over HTTP/2: the same policy as over HTTP/1.1 on the same port (the same 404 bytes for every
// refusal, in each language and for scripts), a password link unlocked with a POST, and Range on originals, both
// untouched and through the metadata-stripping path, giving the same bytes as HTTP/1.1.
import assert from 'node:assert/strict';
import type http2 from 'node:http2';
import { after, before, test } from 'node:test';
import { assertOnlyAllowedReachedOrigin, SHARE_HOST, startShare, type ShareSetup } from '../share/harness.js';
import { connectH2, h1request, h2request } from './harness.js';

let s: ShareSetup;
let port: number;
let session: http2.ClientHttp2Session;
before(async () => {
  s = await startShare({
    listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    publicScheme: 'https',
    share: { linkCacheTtl: '60s', rateLimits: { unknownLinksPerIp: 1000 } },
  });
  port = s.gateway.https!.port;
  session = await connectH2(port, SHARE_HOST);
});
after(async () => {
  session?.close();
  try {
    assertOnlyAllowedReachedOrigin(s.origin);
  } finally {
    await s.close();
  }
});

const lib = () => s.origin.library;
const asset = () => lib().album.assetIds[0]!;

test('every policy refusal is the same 404 over HTTP/2 as over HTTP/1.1: status, headers, bytes', async () => {
  const link = lib().createLink({ allowDownload: false });
  const refused = [
    '/api/users/me',
    '/auth/login',
    '/api/albums',
    `/api/assets/${asset()}/original?key=${link.key}`,
    `/api/assets/${asset()}/thumbnail?key=notakey`,
    '/.porthole/login',
    '/%2e%2e/api/users',
  ];
  for (const headers of [{}, { accept: 'text/html' }, { accept: 'text/html', 'accept-language': 'de' }]) {
    for (const path of refused) {
      const over2 = await h2request(session, path, { headers });
      const over1 = await h1request(port, SHARE_HOST, path, headers);
      assert.equal(over2.status, 404, path);
      assert.equal(over1.status, 404, path);
      assert.deepEqual(over2.body, over1.body, `${path} ${JSON.stringify(headers)}`);
      for (const name of ['content-type', 'content-length', 'cache-control', 'x-robots-tag', 'content-security-policy', 'vary']) {
        assert.equal(over2.headers[name], over1.headers[name], `${name} of ${path}`);
      }
      // HTTP/2 has no Connection header; the answer is legal without it.
      assert.equal(over2.headers.connection, undefined);
    }
  }
});

test('a password link opens over HTTP/2 after the password is posted, and only then', async () => {
  const link = lib().createLink({ password: 'open sesame' });
  const thumb = `/api/assets/${asset()}/thumbnail?key=${link.key}`;
  assert.equal((await h2request(session, thumb)).status, 404);
  const wrong = await h2request(session, `/api/shared-links/login?key=${link.key}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"password":"nope"}',
  });
  assert.equal(wrong.status, 401);
  const login = await h2request(session, `/api/shared-links/login?key=${link.key}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"password":"open sesame"}',
  });
  assert.equal(login.status, 201);
  const setCookie = login.headers['set-cookie'];
  const cookie = String(Array.isArray(setCookie) ? setCookie[0] : setCookie).split(';')[0]!;
  assert.match(cookie, /^immich_shared_link_token=/);
  const opened = await h2request(session, thumb, { headers: { cookie } });
  assert.equal(opened.status, 200);
  assert.equal(opened.headers['content-type'], 'image/jpeg');
  assert.equal(opened.headers['cache-control'], 'private, no-store');
  // The password never leaves the share host, whatever the protocol.
  const me = await h2request(session, `/api/shared-links/me?key=${link.key}`, { headers: { cookie } });
  assert.equal(me.status, 200);
  assert.doesNotMatch(me.text, /open sesame/);
});

test('Range on an original: 206 with the right bytes over HTTP/2, untouched and cleaned, equal to HTTP/1.1', async () => {
  for (const showMetadata of [true, false]) {
    const link = lib().createLink({ showMetadata });
    lib().updateLink(link.id, { allowDownload: true });
    // The largest photo of the album (a JPEG with GPS and camera data).
    const photo = [...lib().assets.values()].filter((a) => lib().album.assetIds.includes(a.id) && a.mime === 'image/jpeg').sort((a, b) => b.size - a.size)[0]!;
    const path = `/api/assets/${photo.id}/original?key=${link.key}`;
    const whole = await h2request(session, path);
    assert.equal(whole.status, 200, `whole, showMetadata ${showMetadata}`);
    assert.ok(whole.body.length > 1000, `an original of ${whole.body.length} bytes`);
    const fromOrigin = await s.direct(path);
    if (showMetadata) assert.deepEqual(whole.body, fromOrigin.body);
    else assert.notDeepEqual(whole.body, fromOrigin.body, 'the original was cleaned');
    for (const range of ['bytes=0-99', 'bytes=500-999', 'bytes=-300']) {
      const part = await h2request(session, path, { headers: { range } });
      assert.equal(part.status, 206, `${range}, showMetadata ${showMetadata}`);
      const [, from, to, total] = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(part.headers['content-range']))!;
      assert.equal(Number(total), whole.body.length);
      assert.deepEqual(part.body, whole.body.subarray(Number(from), Number(to) + 1), range);
      const over1 = await h1request(port, SHARE_HOST, path, { range });
      assert.equal(over1.status, 206);
      assert.deepEqual(part.body, over1.body, `${range} over HTTP/1.1`);
    }
  }
});
