// CSRF on every gate form: a submission without the cookie, without the token, with a forged token, with a
// token bound to another cookie, from another origin or site (including the share host) is refused with 403,
// audited, and has no effect.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CookieJar, csrfFrom, SHARE_HOST, startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
before(async () => {
  gate = await startTestGate();
});
after(() => gate.close());

const form = { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' };

async function pageToken(path: string, jar: CookieJar): Promise<string> {
  return csrfFrom((await gate.request('GET', path, { jar, headers: { accept: 'text/html' } })).body);
}

test('login form: missing, forged and foreign tokens and cross-site requests are refused and audited', async () => {
  const jar = new CookieJar();
  const token = await pageToken('/.porthole/login', jar);
  const other = new CookieJar();
  const otherToken = await pageToken('/.porthole/login', other);
  const sameOrigin = { origin: `http://${gate.host}`, 'sec-fetch-site': 'same-origin' };
  const email = 'alice@example.com';
  const cases: Array<[string, { body: string; jar?: CookieJar; headers: Record<string, string> }]> = [
    ['no token', { body: new URLSearchParams({ email }).toString(), jar, headers: sameOrigin }],
    ['empty token', { body: new URLSearchParams({ email, csrf: '' }).toString(), jar, headers: sameOrigin }],
    ['forged token', { body: new URLSearchParams({ email, csrf: 'f'.repeat(64) }).toString(), jar, headers: sameOrigin }],
    ['token of another cookie', { body: new URLSearchParams({ email, csrf: otherToken }).toString(), jar, headers: sameOrigin }],
    ['no cookie', { body: new URLSearchParams({ email, csrf: token }).toString(), headers: sameOrigin }],
    ['two tokens', { body: `${new URLSearchParams({ email, csrf: token })}&csrf=${token}`, jar, headers: sameOrigin }],
    ['cross-site', { body: new URLSearchParams({ email, csrf: token }).toString(), jar, headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } }],
    ['evil origin only', { body: new URLSearchParams({ email, csrf: token }).toString(), jar, headers: { origin: 'https://evil.example' } }],
    ['null origin', { body: new URLSearchParams({ email, csrf: token }).toString(), jar, headers: { origin: 'null' } }],
    [
      'share host (same-site)',
      { body: new URLSearchParams({ email, csrf: token }).toString(), jar, headers: { origin: `http://${SHARE_HOST}:${gate.port}`, 'sec-fetch-site': 'same-site' } },
    ],
  ];
  const mailsBefore = gate.smtp.count(email);
  // Refusals from one client fold into counted rows (src/store/audit-guard.ts): count events, not rows.
  const audited = () => (gate.gateway.deps.store.audit.flush(), gate.gateway.deps.store.audit.list({ type: 'csrf.rejected', limit: 1000 }).reduce((n, e) => n + (e.count ?? 1), 0));
  const auditBefore = audited();
  for (const [name, c] of cases) {
    const res = await gate.request('POST', '/.porthole/login', { body: c.body, jar: c.jar, headers: { ...form, ...c.headers } });
    assert.equal(res.status, 403, name);
    assert.match(res.body, /form has expired|reload/i, name);
    assert.equal(res.headers.location, undefined, name);
  }
  assert.equal(audited() - auditBefore, cases.length);
  // The good submission still works (proves the cases above failed for their own reason).
  const good = await gate.request('POST', '/.porthole/login', { body: new URLSearchParams({ email, csrf: token }).toString(), jar, headers: { ...form, ...sameOrigin } });
  assert.equal(good.status, 303);
  await gate.smtp.next(email, mailsBefore);
  assert.equal(gate.smtp.count(email), mailsBefore + 1, 'only the good submission sent mail');
});

test('code, link and logout forms are protected too', async () => {
  const jar = await gate.signIn('alice@example.com');
  const cross = { ...form, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' };
  const logout = await gate.request('POST', '/.porthole/logout', { body: `csrf=${await pageToken('/.porthole/logout', jar)}`, jar, headers: cross });
  assert.equal(logout.status, 403);
  assert.equal((await gate.request('GET', '/api/server/ping', { jar })).status, 200, 'still signed in after a forged logout');
  const logoutNoToken = await gate.request('POST', '/.porthole/logout', { body: '', jar, headers: form });
  assert.equal(logoutNoToken.status, 403);

  const pending = gate.pendingJar('alice@example.com');
  const code = await gate.request('POST', '/.porthole/code', { body: 'code=123456', jar: pending, headers: form });
  assert.equal(code.status, 403);
  const link = await gate.request('POST', '/.porthole/link', { body: `t=${'a'.repeat(43)}`, headers: form });
  assert.equal(link.status, 403);
});

test('forms must be urlencoded and small', async () => {
  const jar = new CookieJar();
  const token = await pageToken('/.porthole/login', jar);
  const json = await gate.request('POST', '/.porthole/login', {
    body: JSON.stringify({ csrf: token, email: 'a@b.example' }),
    jar,
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(json.status, 400);
  const huge = await gate.request('POST', '/.porthole/login', { body: `csrf=${token}&email=${'a'.repeat(8000)}`, jar, headers: form });
  assert.equal(huge.status, 413);
});
