// Which headers cross the proxy: forwarding headers set from what Porthole knows (client-sent ones believed
// only from trusted proxies), hop-by-hop headers removed both ways, Host and cookies handled.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, rawExchange, request, statusOf, HOST, type Harness } from './harness.js';
import { startTestOrigin, type TestOrigin } from './test-origin.js';

let origin: TestOrigin;
let plain: Harness;
let trusting: Harness;

before(async () => {
  origin = await startTestOrigin();
  // Listening on all of 127.0.0.0/8 lets a client come from 127.0.0.2 as a second, distinct peer.
  plain = await startHarness({ originUrl: origin.url, listenAddress: '0.0.0.0', trustedProxies: ['127.0.0.1'] });
  trusting = await startHarness({
    originUrl: origin.url,
    trustedProxies: ['127.0.0.2'],
    listenAddress: '0.0.0.0',
    filterCookie: (cookie) =>
      cookie
        .split(';')
        .map((c) => c.trim())
        .filter((c) => !c.startsWith('porthole_session='))
        .join('; ') || undefined,
  });
});
after(async () => {
  await plain.close();
  await trusting.close();
  await origin.close();
});

const lastSeen = () => origin.seen[origin.seen.length - 1]!;
const SPOOFED = { 'x-forwarded-for': '203.0.113.9', 'x-real-ip': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', forwarded: 'for=203.0.113.9' };

test('X-Forwarded-For/Proto/Host and X-Real-IP describe the real peer', async () => {
  const res = await request(plain.port, { path: '/echo', localAddress: '127.0.0.2', headers: { host: `${HOST}:8080` } });
  assert.equal(res.status, 200);
  const seen = lastSeen().headers;
  assert.equal(seen['x-forwarded-for'], '127.0.0.2');
  assert.equal(seen['x-real-ip'], '127.0.0.2');
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.equal(seen['x-forwarded-host'], `${HOST}:8080`);
  assert.equal(seen.host, `${HOST}:8080`, 'Host is forwarded as the client sent it');
});

test('client-sent forwarding headers from an untrusted peer are replaced, not believed', async () => {
  // This listener trusts 127.0.0.1 only; the client comes from 127.0.0.2.
  await request(plain.port, { path: '/echo', localAddress: '127.0.0.2', headers: SPOOFED });
  const seen = lastSeen().headers;
  assert.equal(seen['x-forwarded-for'], '127.0.0.2');
  assert.equal(seen['x-real-ip'], '127.0.0.2');
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.equal(seen['x-forwarded-host'], HOST);
  assert.equal(seen.forwarded, undefined);
});

test('client-sent forwarding headers from a trusted proxy are believed and extended', async () => {
  await request(trusting.port, { path: '/echo', localAddress: '127.0.0.2', headers: SPOOFED });
  const seen = lastSeen().headers;
  assert.equal(seen['x-forwarded-for'], '203.0.113.9, 127.0.0.2');
  assert.equal(seen['x-real-ip'], '203.0.113.9');
  assert.equal(seen['x-forwarded-proto'], 'https');
  assert.equal(seen.forwarded, undefined, 'a header Porthole does not maintain is never passed on');
});

test('the same headers from a peer that is not the trusted proxy are not believed', async () => {
  // The trusting listener trusts 127.0.0.2; this client comes from 127.0.0.1.
  await request(trusting.port, { path: '/echo', localAddress: '127.0.0.1', headers: SPOOFED });
  const seen = lastSeen().headers;
  assert.equal(seen['x-forwarded-for'], '127.0.0.1');
  assert.equal(seen['x-real-ip'], '127.0.0.1');
  assert.equal(seen['x-forwarded-proto'], 'http');
});

test('hop-by-hop request headers are removed, including those named in Connection', async () => {
  const result = await rawExchange(plain.port, [
    `GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close, X-Private-Hop\r\nX-Private-Hop: secret\r\nKeep-Alive: timeout=99\r\n` +
      `TE: trailers\r\nTrailer: X-Foo\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nX-End-To-End: kept\r\n\r\n`,
  ]);
  assert.equal(statusOf(result.text), 200);
  const seen = lastSeen().headers;
  for (const name of ['x-private-hop', 'keep-alive', 'te', 'trailer', 'proxy-authorization', 'proxy-connection', 'upgrade', 'http2-settings']) {
    assert.equal(seen[name], undefined, `${name} reached the origin`);
  }
  assert.notEqual(seen.connection, 'close, X-Private-Hop');
  assert.equal(seen['x-end-to-end'], 'kept');
});

test('hop-by-hop response headers are removed, end-to-end ones kept (every Set-Cookie too)', async () => {
  const res = await request(plain.port, { path: '/hop' });
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-hop-secret'], undefined);
  assert.equal(res.headers['proxy-authenticate'], undefined);
  assert.notEqual(res.headers['keep-alive'], 'timeout=99');
  assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(res.headers['x-end-to-end'], 'kept');
  assert.equal(res.body.toString(), 'ok');
});

test("Porthole's own cookie is removed before forwarding; other cookies pass", async () => {
  await request(trusting.port, { path: '/echo', headers: { cookie: 'porthole_session=SECRET; immich_access_token=abc; immich_is_authenticated=true' } });
  assert.equal(lastSeen().headers.cookie, 'immich_access_token=abc; immich_is_authenticated=true');
  await request(trusting.port, { path: '/echo', headers: { cookie: 'porthole_session=SECRET' } });
  assert.equal(lastSeen().headers.cookie, undefined);
});

test("custom client headers (e.g. the Immich app's proxy headers) pass unchanged, duplicates included", async () => {
  const result = await rawExchange(plain.port, [`GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nCF-Access-Client-Id: id-1\r\nX-Custom: a\r\nX-Custom: b\r\nConnection: close\r\n\r\n`]);
  assert.equal(statusOf(result.text), 200);
  const raw = lastSeen().rawHeaders;
  assert.equal(raw[raw.indexOf('CF-Access-Client-Id') + 1], 'id-1');
  assert.deepEqual(
    raw.filter((_, i) => i % 2 === 1 && raw[i - 1] === 'X-Custom'),
    ['a', 'b'],
  );
});

test("headers the handler names (e.g. Porthole's own device headers) are removed before forwarding", async (t) => {
  const dropping = await startHarness({ originUrl: origin.url, dropRequestHeaders: new Set(['x-porthole-device']) });
  t.after(() => dropping.close());
  await request(dropping.port, { path: '/echo', headers: { 'X-Porthole-Device': 'secret-token', 'x-kept': '1' } });
  assert.equal(lastSeen().headers['x-porthole-device'], undefined);
  assert.equal(lastSeen().headers['x-kept'], '1');
});

test("extra response headers from the handler replace the origin's of the same name", async (t) => {
  const adding = await startHarness({ originUrl: origin.url, responseHeaders: { 'x-end-to-end': 'replaced', 'x-robots-tag': 'noindex' } });
  t.after(() => adding.close());
  const res = await request(adding.port, { path: '/hop' });
  assert.equal(res.headers['x-end-to-end'], 'replaced');
  assert.equal(res.headers['x-robots-tag'], 'noindex');
  assert.deepEqual(res.rawHeaders.filter((name) => name.toLowerCase() === 'x-end-to-end').length, 1);
});

test('a cookie the handler set before forwarding is sent along with every Set-Cookie from the origin', async (t) => {
  const renewing = await startHarness({ originUrl: origin.url, beforeForward: (res) => res.setHeader('set-cookie', 'porthole_session=renewed; HttpOnly') });
  t.after(() => renewing.close());
  const res = await request(renewing.port, { path: '/hop' });
  assert.deepEqual(res.headers['set-cookie'], ['porthole_session=renewed; HttpOnly', 'a=1', 'b=2']);
  assert.equal(res.headers['x-hop-secret'], undefined);
  assert.equal(res.headers['x-end-to-end'], 'kept');
});
