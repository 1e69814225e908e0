// Only what a guest needs leaves the share host. Every row of the share policy is walked against the sample
// Immich (an owner and two members with e-mail addresses, a password link unlocked by the visitor), once as
// Immich v3.1.0 answers and once as an Immich that sends more (users and addresses in every JSON answer and a
// header): no answer of the share host, header or body, carries an e-mail address or the link password.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SHARE_POLICY } from '../../src/share/policy.js';
import { matchRoute } from '../../src/share/engine.js';
import { parseTarget } from '../../src/share/normalise.js';
import { guestAnswers, guestJson, HIDDEN } from '../../src/share/guest-answers.js';
import { assertOnlyAllowedReachedOrigin, startShare, type Reply, type ShareSetup } from './harness.js';

const PASSWORD = 'Pw-Secret-4711';
const ANY_EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/;

interface Call {
  method: string;
  target: string;
  body?: string | Buffer;
  type?: string;
}

/** One or more requests per policy row, for a link whose key and slug are given (and one that hides metadata). */
function calls(s: ShareSetup, key: string, slug: string, hiddenKey: string): Call[] {
  const lib = s.origin.library;
  const album = lib.album.id;
  const photo = lib.album.assetIds[0]!;
  const video = [...lib.assets.values()].find((a) => a.type === 'VIDEO' && lib.album.assetIds.includes(a.id))?.id ?? photo;
  const q = `key=${key}`;
  const boundary = 'porthole-test-boundary';
  const multipart = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="assetData"; filename="new.jpg"\r\nContent-Type: image/jpeg\r\n\r\nnot really a jpeg\r\n--${boundary}--\r\n`,
  );
  return [
    { method: 'GET', target: `/share/${key}` },
    { method: 'GET', target: `/share/${key}/photos/${photo}` },
    { method: 'GET', target: `/s/${slug}` },
    { method: 'GET', target: '/_app/immutable/entry/share.js' },
    { method: 'GET', target: '/manifest.json' },
    { method: 'GET', target: '/service-worker.js' },
    { method: 'GET', target: '/favicon.ico' },
    { method: 'GET', target: '/robots.txt' },
    { method: 'GET', target: '/' },
    { method: 'GET', target: `/albums/${album}` },
    { method: 'GET', target: '/api/server/config' },
    { method: 'GET', target: '/api/server/features' },
    { method: 'GET', target: '/api/server/media-types' },
    { method: 'GET', target: `/api/shared-links/me?${q}` },
    { method: 'GET', target: `/api/shared-links/me?slug=${slug}` },
    { method: 'POST', target: `/api/shared-links/login?${q}`, body: JSON.stringify({ password: PASSWORD }), type: 'application/json' },
    { method: 'POST', target: `/api/shared-links/login?slug=${slug}`, body: JSON.stringify({ password: 'not-it' }), type: 'application/json' },
    { method: 'GET', target: `/api/assets/${photo}?${q}` },
    { method: 'GET', target: `/api/assets/${lib.privateAsset.id}?${q}` },
    { method: 'GET', target: `/api/assets/${photo}/thumbnail?${q}&size=preview` },
    { method: 'GET', target: `/api/assets/${video}/video/playback?${q}` },
    { method: 'GET', target: `/api/assets/${photo}/original?${q}` },
    { method: 'GET', target: `/api/assets/${lib.privateAsset.id}/original?${q}` },
    // Served by Porthole's cleaning path: a cleaned original, and Immich's refusal passed on.
    { method: 'GET', target: `/api/assets/${photo}/original?key=${hiddenKey}` },
    { method: 'GET', target: `/api/assets/${lib.privateAsset.id}/original?key=${hiddenKey}` },
    { method: 'GET', target: `/api/assets/${video}/video/stream/main.m3u8?${q}` },
    { method: 'GET', target: `/api/assets/${video}/video/stream/session-1/0/playlist.m3u8?${q}` },
    { method: 'GET', target: `/api/assets/${video}/video/stream/session-1/0/segment-0.m4s?${q}` },
    { method: 'DELETE', target: `/api/assets/${video}/video/stream/session-1?${q}` },
    { method: 'GET', target: `/api/timeline/buckets?albumId=${album}&order=desc&${q}` },
    { method: 'GET', target: `/api/timeline/bucket?albumId=${album}&timeBucket=2024-05-01&withCoordinates=true&${q}` },
    { method: 'GET', target: `/api/albums/${album}/map-markers?${q}` },
    { method: 'POST', target: `/api/download/info?${q}`, body: JSON.stringify({ assetIds: [photo] }), type: 'application/json' },
    { method: 'POST', target: `/api/download/archive?${q}`, body: JSON.stringify({ assetIds: [photo] }), type: 'application/json' },
    { method: 'POST', target: `/api/assets?${q}`, body: multipart, type: `multipart/form-data; boundary=${boundary}` },
  ];
}

function assertNothingLeaks(s: ShareSetup, call: Call, reply: Reply, secrets: readonly string[]): void {
  const what = `${call.method} ${call.target.replace(/key=[^&]+/, 'key=…')} -> ${reply.status}`;
  const headerText = Object.entries(reply.headers)
    .map(([name, value]) => `${name}: ${String(value)}`)
    .join('\n');
  // JSON is read back as JSON too, so an address spelled with \u escapes is found as well.
  const isJson = /json/.test(reply.headers['content-type'] ?? '');
  const isText = isJson || /^text\/|javascript|mpegurl/.test(reply.headers['content-type'] ?? '');
  const texts = [headerText, reply.body.toString('utf8'), reply.body.toString('latin1')];
  if (isJson && reply.body.length > 0) texts.push(JSON.stringify(JSON.parse(reply.text)));
  for (const text of texts) for (const secret of secrets) assert.ok(!text.includes(secret), `${what} carries ${secret}`);
  assert.doesNotMatch(headerText, ANY_EMAIL, `${what}: an address in a header`);
  if (isText) assert.doesNotMatch(texts.at(-1)!, ANY_EMAIL, `${what}: an address in the body`);
  void s;
}

for (const leaky of [false, true]) {
  test(`every share policy row against ${leaky ? 'an Immich that sends guests users and addresses' : 'Immich v3.1.0'}: no e-mail address and no link password in any answer`, async () => {
    const s = await startShare({ share: { allowUploads: true, linkCacheTtl: '60s', rateLimits: { unknownLinksPerIp: 1000 } } }, { leaky });
    try {
      const lib = s.origin.library;
      const emails = [lib.owner.email, lib.member.email, lib.secondMember.email];
      assert.equal(new Set(emails).size, 3);
      const link = lib.createLink({ password: PASSWORD, slug: 'family-party', description: 'The party' });

      // The sample behaves like Immich: the owner's album answer names every member, the unlocked /me the password.
      const album = await s.direct(`/api/albums/${lib.album.id}?key=${link.key}`);
      for (const email of emails) assert.ok(album.text.includes(email), `Immich's album answer carries ${email}`);
      const unlock = await s.share(`/api/shared-links/login?key=${link.key}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ password: PASSWORD }),
      });
      assert.equal(unlock.status, 201);
      const cookie = String(unlock.headers['set-cookie']).split(';')[0]!;
      const me = await s.direct(`/api/shared-links/me?key=${link.key}`, { headers: { cookie } });
      assert.equal(me.json().password, PASSWORD, "Immich's /me answers an unlocked visitor with the password");
      if (!leaky) {
        const dto = me.json<{ album: { owner: unknown; albumUsers: unknown[] } }>();
        assert.equal(dto.album.owner, null, 'v3.1.0: no owner in /me for share access');
        assert.deepEqual(dto.album.albumUsers, []);
      } else {
        for (const email of emails.slice(0, 2)) assert.ok(me.text.includes(email), `the leaky sample's /me carries ${email}`);
      }

      const hidden = lib.createLink({ showMetadata: false });
      lib.updateLink(hidden.id, { allowDownload: true });
      const walked = new Set<string>();
      for (const call of calls(s, link.key, 'family-party', hidden.key)) {
        const parsed = parseTarget(call.target);
        assert.ok(parsed.ok, call.target);
        const rule = matchRoute(call.method, parsed.target.path)?.rule;
        if (rule) walked.add(rule.id);
        const headers: Record<string, string> = { cookie, accept: 'application/json, text/html' };
        if (call.type) headers['content-type'] = call.type;
        const reply = await s.share(call.target, { method: call.method, headers, body: call.body });
        assert.ok(reply.status < 500, `${call.method} ${call.target} -> ${reply.status}`);
        assertNothingLeaks(s, call, reply, [...emails, PASSWORD]);
      }
      assert.deepEqual([...walked].sort(), SHARE_POLICY.map((r) => r.id).sort(), 'every policy row walked');

      // What the share page needs is still there.
      const guestMe = await s.share(`/api/shared-links/me?key=${link.key}`, { headers: { cookie } });
      const guest = guestMe.json<{ key: string; password: unknown; allowDownload: boolean; album: { id: string; albumName: string; owner: unknown; albumUsers: unknown[] } }>();
      assert.equal(guest.key, link.keyBytes.toString('base64url'));
      assert.equal(guest.password, null);
      assert.equal(guest.album.id, lib.album.id);
      assert.equal(guest.album.albumName, 'Summer trip');
      assert.equal(guest.album.owner, null);
      assert.deepEqual(guest.album.albumUsers, []);
      assert.equal(guest.allowDownload, true);
      assertOnlyAllowedReachedOrigin(s.origin);
    } finally {
      await s.close();
    }
  });
}

test('JSON rewriting: escaped addresses and keys, compressed answers, answers that are not JSON', async () => {
  const zlib = await import('node:zlib');
  const escaped = Buffer.from('{"n\\u0061me":"x","c":"a\\u0040example.com","p\\u0061ssword":"s3cret","__proto__":{"email":"b@example.com"}}');
  const out = guestJson(escaped)!.toString();
  assert.doesNotMatch(out, /example\.com|s3cret/);
  assert.match(out, new RegExp(HIDDEN.replace(/[()]/g, '\\$&')));
  assert.match(out, /"__proto__":\{\}/, 'a __proto__ key stays plain data');
  assert.equal(guestJson(Buffer.from('not json @ all')), null, 'an answer that cannot be checked is not sent');
  const plain = Buffer.from('{"id":"x","count":3}');
  assert.equal(guestJson(plain), plain, 'nothing to hide: the very same bytes');

  for (const [coding, encode, decode] of [
    ['gzip', zlib.gzipSync, zlib.gunzipSync],
    ['br', zlib.brotliCompressSync, zlib.brotliDecompressSync],
    ['deflate', zlib.deflateSync, zlib.inflateSync],
  ] as const) {
    const raw = ['Content-Type', 'application/json; charset=utf-8', 'Content-Encoding', coding];
    const rewriter = guestAnswers.head(200, raw)!;
    const rewritten = rewriter.rewrite(encode(Buffer.from('{"owner":{"email":"o@example.com"},"password":"pw"}')))!;
    assert.deepEqual(JSON.parse(decode(rewritten).toString()), { owner: null, password: null }, coding);
  }
  assert.equal(guestAnswers.head(200, ['Content-Type', 'application/json', 'Content-Encoding', 'zstd'])!.rewrite(Buffer.from('{}')), null, 'an unknown coding is refused');
  assert.equal(guestAnswers.head(200, ['Content-Type', 'image/jpeg']), null, 'media streams untouched');
  const raw = ['Content-Disposition', "attachment; filename*=UTF-8''me%40example.com.jpg"];
  guestAnswers.head(200, raw);
  assert.doesNotMatch(raw[1]!, /example\.com/);
});
