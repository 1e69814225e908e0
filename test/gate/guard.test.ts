// What the gate lets through and how it turns the rest away: page navigations to the sign-in page (never to
// another site), API calls with 401 JSON, WebSocket upgrades refused before the upgrade, /.porthole/ never
// forwarded, share links sent to the share host, and Porthole's cookies never reaching Immich.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { safeReturnTo } from '../../src/gate/return-to.js';
import { withoutOwnCookies } from '../../src/http/cookies.js';
import { CookieJar, expectUpload, SHARE_HOST, startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
let signedIn: CookieJar;
before(async () => {
  gate = await startTestGate();
  signedIn = await gate.signIn('alice@example.com');
});
after(() => gate.close());

const html = { accept: 'text/html,application/xhtml+xml' };

const ATTACKS = [
  '//evil.example',
  '//evil.example/path',
  '/\\evil.example',
  '/\\/evil.example',
  '\\\\evil.example',
  '\\/evil.example',
  '/%2F%2Fevil.example',
  '/%2f/evil.example',
  '%2F%2Fevil.example',
  '/%5Cevil.example',
  '/%255C%255Cevil.example',
  'https://evil.example',
  'http:evil.example',
  'HTTPS://evil.example/',
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  '/\r\nLocation: https://evil.example',
  '/%0d%0aLocation:%20https://evil.example',
  '/\tevil',
  '/ /evil.example',
  `/${'a'.repeat(5000)}`,
  '',
  'evil.example',
  '/.porthole/login',
  '/%2eporthole/logout',
];

test('safeReturnTo: every open-redirect form falls back to "/"', () => {
  for (const attack of ATTACKS) assert.equal(safeReturnTo(attack), '/', JSON.stringify(attack));
  assert.equal(safeReturnTo(undefined), '/');
  assert.equal(safeReturnTo(['/photos']), '/');
  // Ordinary targets survive, query included.
  assert.equal(safeReturnTo('/photos/abc?x=1&y=%2F'), '/photos/abc?x=1&y=%2F');
  assert.equal(safeReturnTo('/albums'), '/albums');
});

test('open-redirect attempts through ?next= and the sign-in redirect never leave the host', async () => {
  for (const attack of ATTACKS) {
    const jar = new CookieJar();
    const login = await gate.request('GET', `/.porthole/login?next=${encodeURIComponent(attack)}`, { headers: html, jar });
    assert.equal(login.status, 200, JSON.stringify(attack));
    assert.match(login.body, /name="next" value="\/"/, `next falls back to / for ${JSON.stringify(attack)}`);
    // Already signed in: the login page redirects to next, which must be local.
    const redirect = await gate.request('GET', `/.porthole/login?next=${encodeURIComponent(attack)}`, { headers: html, jar: signedIn });
    assert.equal(redirect.status, 303);
    assert.equal(redirect.headers.location, '/', JSON.stringify(attack));
  }
  // A forged next= in the form itself.
  const jar = new CookieJar();
  const requested = await gate.submit('/.porthole/login', { email: 'alice@example.com', next: '//evil.example' }, jar);
  assert.equal(requested.status, 303);
  const mail = await gate.smtp.next('alice@example.com');
  const verified = await gate.submit('/.porthole/code', { code: mail.code }, jar);
  assert.equal(verified.headers.location, '/.porthole/passkeys/offer?next=%2F');
  // The passkey offer's way on ("Not now", and where it goes once a passkey is made) is just as local.
  for (const attack of ATTACKS) {
    const offer = await gate.request('GET', `/.porthole/passkeys/offer?next=${encodeURIComponent(attack)}`, { headers: html, jar: signedIn });
    assert.equal(offer.status, 200, JSON.stringify(attack));
    assert.match(offer.body, /data-done="\/"/, JSON.stringify(attack));
    assert.match(offer.body, /<a href="\/" id="passkey-skip">/, JSON.stringify(attack));
  }
  // And so is where a passkey sign-in goes (the gate answers it with a location, see test/gate/passkeys.test.ts).
});

test('unauthenticated navigation to a scheme-relative path is not reflected', async () => {
  const res = await gate.request('GET', '//evil.example/x', { headers: html });
  assert.equal(res.status, 302);
  assert.equal(res.headers.location, '/.porthole/login');
});

test('navigations redirect to sign-in (Accept or Sec-Fetch-Mode); API and XHR get 401 JSON', async () => {
  const nav = await gate.request('GET', '/albums/1', { headers: { 'sec-fetch-mode': 'navigate', accept: '*/*' } });
  assert.equal(nav.status, 302);
  assert.equal(nav.headers.location, '/.porthole/login?next=%2Falbums%2F1');
  const head = await gate.request('HEAD', '/albums/1', { headers: html });
  assert.equal(head.status, 302);
  const xhr = await gate.request('GET', '/albums/1', { headers: { 'sec-fetch-mode': 'cors', accept: 'text/html' } });
  assert.equal(xhr.status, 401);
  const api = await gate.request('GET', '/api/server/ping', { headers: { accept: 'application/json' } });
  assert.equal(api.status, 401);
  assert.match(api.headers['content-type']!, /application\/json/);
  assert.equal(JSON.parse(api.body).error, 'unauthenticated');
  const post = await gate.request('POST', '/api/assets', { body: 'x'.repeat(1000), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(post.status, 401);
  assert.equal(post.headers.connection, 'close', 'a refused upload is not read');
  const before = gate.origin.received.length;
  await gate.request('GET', '/api/server/ping');
  assert.equal(gate.origin.received.length, before, 'nothing unauthenticated reached the origin');
});

test('/.porthole/ is never forwarded, even signed in and however it is spelled', async () => {
  const before = gate.origin.received.length;
  const passkeyPaths = ['/.porthole/passkeys', '/.porthole/passkeys/offer', '/.porthole/assets/webauthn.js', '/%2eporthole/passkeys', '/.PORTHOLE/passkeys/signin/options'];
  for (const path of ['/.porthole/nope', '/.porthole/static/x.css', '/%2eporthole/login', '/%2Eporthole/x', '/.PORTHOLE/login', '/.porthole', ...passkeyPaths]) {
    const res = await gate.request('GET', path, { headers: html, jar: signedIn });
    assert.ok([200, 303, 404].includes(res.status), `${path}: ${res.status}`);
  }
  assert.equal((await gate.request('DELETE', '/.porthole/login', { jar: signedIn })).status, 405);
  // The passkey endpoints answer (or refuse) themselves; a JSON POST without a token is a CSRF refusal, not a pass.
  for (const path of ['/.porthole/passkeys/signin/verify', '/.porthole/passkeys/register/options', '/%2eporthole/passkeys/signin/verify']) {
    const res = await gate.request('POST', path, { jar: signedIn, body: '{}', headers: { 'content-type': 'application/json', accept: 'application/json' } });
    assert.ok([403, 404].includes(res.status), `${path}: ${res.status}`);
  }
  assert.equal(gate.origin.received.length, before);
});

test('share links on the private host go to the share host without a session; with one they pass', async () => {
  const res = await gate.request('GET', '/share/AbC_123?x=1', { headers: html });
  assert.equal(res.status, 302);
  assert.equal(res.headers.location, `http://${SHARE_HOST}:${gate.port}/share/AbC_123?x=1`);
  const slug = await gate.request('GET', '/s/holiday', { headers: html });
  assert.equal(slug.headers.location, `http://${SHARE_HOST}:${gate.port}/s/holiday`);
  const api = await gate.request('GET', '/share/AbC_123', { headers: { accept: 'application/json' } });
  assert.equal(api.status, 401);
  const before = gate.origin.received.length;
  const mine = await gate.request('GET', '/share/AbC_123', { headers: html, jar: signedIn });
  assert.equal(mine.headers.location, undefined);
  assert.equal(
    gate.origin.received
      .slice(before)
      .map((r) => r.url)
      .join(),
    '/share/AbC_123',
    'signed in, the share page is proxied',
  );
});

test("Porthole's cookies never reach the origin; Immich's do", async () => {
  const before = gate.origin.received.length;
  const cookie = `immich_access_token=abc; ${signedIn.header()}; porthole_csrf=${'x'.repeat(43)}; porthole_pending=a.b.c; immich_is_authenticated=true`;
  const res = await gate.request('GET', '/api/debug/echo', { headers: { cookie } });
  assert.equal(res.status, 200);
  const seen = gate.origin.received.slice(before);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.headers.cookie, 'immich_access_token=abc; immich_is_authenticated=true');
  assert.equal(withoutOwnCookies('__Host-porthole_session=x; a=b'), 'a=b');
  assert.equal(withoutOwnCookies('porthole_session=x'), undefined);
  assert.equal(withoutOwnCookies('my_porthole_session=1'), 'my_porthole_session=1');
});

function openSocket(headers: Record<string, string>): Promise<{ opened: boolean; status?: number; echo?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gate.port}/api/socket.io/?EIO=4&transport=websocket`, { headers: { host: gate.host, ...headers } });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ opened: false, status: res.statusCode });
      ws.terminate();
    });
    ws.on('error', () => resolve({ opened: false }));
    ws.on('open', () => ws.send('hello'));
    ws.on('message', (data) => {
      resolve({ opened: true, echo: String(data) });
      ws.close();
    });
  });
}

test('WebSocket: refused with 401 before the upgrade without a session, proxied with one', async () => {
  const before = gate.origin.received.length;
  const refused = await openSocket({});
  assert.deepEqual(refused, { opened: false, status: 401 });
  const forged = await openSocket({ cookie: `porthole_session=${'A'.repeat(43)}` });
  assert.deepEqual(forged, { opened: false, status: 401 });
  assert.equal(gate.origin.received.length, before, 'the origin never saw the refused upgrades');
  const ok = await openSocket({ cookie: signedIn.header()! });
  assert.deepEqual(ok, { opened: true, echo: 'hello' });
  const upgrade = gate.origin.received.at(-1)!;
  assert.equal(upgrade.headers.cookie, undefined, 'the session cookie was stripped from the upgrade');
});

test('Expect: 100-continue uploads: continued and streamed with a session, refused without reading the body', async () => {
  const body = crypto.randomBytes(3 * 1024 * 1024);
  const ok = await expectUpload(gate, { cookie: signedIn.header() }, body);
  assert.equal(ok.status, 201);
  assert.equal(ok.continued, true);
  assert.equal(JSON.parse(ok.body).sha256, crypto.createHash('sha256').update(body).digest('hex'));
  const refused = await expectUpload(gate, {}, body);
  assert.equal(refused.status, 401);
  assert.equal(refused.continued, false, 'no 100 Continue for a request that will be refused');
});
