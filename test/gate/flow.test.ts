// The whole email-PIN flow over real sockets: a code mailed through a real SMTP exchange (STARTTLS + AUTH),
// entered on the code page, a session cookie that opens the sample library, the mailed link's confirmation
// step, single use, newer-code-replaces-older, expiry by the injected clock, lockout after wrong tries.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CookieJar, startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
before(async () => {
  gate = await startTestGate({
    gate: { maxCodeAttempts: 3, rateLimits: { verifiesPerIpPerHour: 1000, codesPerIpPerHour: 1000, codesPerAddressPerHour: 1000, wrongCodesPerDomainPerHour: 1000 } },
  });
});
after(() => gate.close());

const html = { accept: 'text/html' };

test('a code mailed over SMTP (STARTTLS, AUTH) signs in and the library loads', async () => {
  const jar = new CookieJar();
  const start = await gate.request('GET', '/photos?id=1', { headers: html, jar });
  assert.equal(start.status, 302);
  assert.equal(start.headers.location, '/.porthole/login?next=%2Fphotos%3Fid%3D1');

  const requested = await gate.submit(start.headers.location!, { email: 'Alice@Example.com' }, jar);
  assert.equal(requested.status, 303);
  assert.equal(requested.headers.location, '/.porthole/code');
  const mail = await gate.smtp.next('alice@example.com', 0);
  assert.match(mail.code, /^\d{6}$/);
  // mail.codeInSubject is off by default: lock screens show subjects (test/mail/code-in-subject.test.ts).
  assert.ok(!mail.subject.includes(mail.code), mail.subject);
  assert.ok(mail.html.includes(mail.code), 'the HTML part carries the code too');
  assert.ok(mail.link.startsWith(`http://${gate.host}/.porthole/link?t=`), mail.link);
  assert.ok(gate.smtp.logins.length > 0 && gate.smtp.logins.every((l) => l.secure), 'AUTH happened only after STARTTLS');

  const codePage = await gate.request('GET', '/.porthole/code', { headers: html, jar });
  assert.equal(codePage.status, 200);
  assert.match(codePage.body, /alice@example\.com/);
  assert.match(codePage.body, /autocomplete="one-time-code"/);
  assert.match(codePage.body, /inputmode="numeric"/);

  const verified = await gate.submit('/.porthole/code', { code: mail.code }, jar);
  assert.equal(verified.status, 303);
  // First the offer of a passkey, whose "Not now" leads on to the page asked for.
  assert.equal(verified.headers.location, '/.porthole/passkeys/offer?next=%2Fphotos%3Fid%3D1');
  const offer = await gate.request('GET', verified.headers.location!, { headers: html, jar });
  assert.equal(offer.status, 200);
  assert.match(offer.body, /<a href="\/photos\?id=1" id="passkey-skip">Not now<\/a>/);

  const library = await gate.request('GET', '/photos?id=1', { headers: html, jar });
  assert.equal(library.status, 200);
  assert.match(library.body, /Sample photo library/);

  const events = gate.gateway.deps.store.audit.list({ email: 'alice@example.com' }).map((e) => e.type);
  for (const type of ['code.requested', 'code.sent', 'session.created']) assert.ok(events.includes(type as never), `audit has ${type}: ${events}`);
});

async function requestCode(email: string, jar = new CookieJar(), headers = {}) {
  const before = gate.smtp.count(email);
  const res = await gate.submit('/.porthole/login', { email }, jar, headers);
  assert.equal(res.status, 303);
  return { jar, mail: await gate.smtp.next(email, before) };
}

test('the mailed link: GET only shows a confirmation (scanners spend nothing), POST signs in once', async () => {
  const { mail } = await requestCode('bob@family.example');
  const path = new URL(mail.link).pathname + new URL(mail.link).search;
  // A mail scanner follows the link twice, without cookies.
  for (let i = 0; i < 2; i++) {
    const scanned = await gate.request('GET', path, { headers: html });
    assert.equal(scanned.status, 200);
    assert.match(scanned.body, /bob@family\.example/);
    assert.match(scanned.body, /<form method="post" action="\/\.porthole\/link">/);
  }
  assert.equal(gate.gateway.deps.store.sessions.list(gate.clock.now).filter((s) => s.email === 'bob@family.example').length, 0);
  // The person, on another device, presses the button.
  const phone = new CookieJar();
  const confirmed = await gate.submit(path, {}, phone);
  assert.equal(confirmed.status, 303);
  assert.equal(confirmed.headers.location, '/.porthole/passkeys/offer?next=%2F');
  assert.equal((await gate.request('GET', '/', { headers: html, jar: phone })).status, 200);
  // The link and the code are spent.
  const again = await gate.request('GET', path, { headers: html });
  assert.equal(again.status, 404);
  const late = await gate.submit('/.porthole/code', { code: mail.code }, gate.pendingJar('bob@family.example'));
  assert.equal(late.status, 400);
});

test('a code works once', async () => {
  const { jar, mail } = await requestCode('carol@family.example');
  const stored = gate.pendingCode(jar)!;
  assert.equal((await gate.submit('/.porthole/code', { code: mail.code }, jar)).status, 303);
  // A fresh pending sign-in bound to the same code (without asking for a new one) cannot reuse it.
  const reuse = gate.pendingJar('carol@family.example', stored.id);
  const again = await gate.submit('/.porthole/code', { code: mail.code }, reuse);
  assert.equal(again.status, 400);
  assert.match(again.body, /expired or was already used/);
  assert.equal(reuse.cookies.has('porthole_session'), false);
});

test('a newer code replaces the older one (code and link)', async () => {
  const jar = new CookieJar();
  const first = await requestCode('dave@family.example', jar);
  const second = await requestCode('dave@family.example', jar);
  const oldLink = new URL(first.mail.link);
  assert.equal((await gate.request('GET', oldLink.pathname + oldLink.search, { headers: html })).status, 404);
  if (first.mail.code !== second.mail.code) {
    const old = await gate.submit('/.porthole/code', { code: first.mail.code }, jar);
    assert.equal(old.status, 400);
    assert.match(old.body, /not right/);
  }
  assert.equal((await gate.submit('/.porthole/code', { code: second.mail.code }, jar)).status, 303);
  assert.ok(jar.cookies.has('porthole_session'));
});

test('a code and its link expire after gate.codeLifetime (injected clock)', async () => {
  const { jar, mail } = await requestCode('erin@family.example');
  const link = new URL(mail.link);
  const stored = gate.pendingCode(jar)!;
  const saved = gate.clock.now;
  try {
    gate.clock.now += gate.config.gate.codeLifetime + 1;
    // The pending cookie ran out with the code: back to the start.
    const stale = await gate.submit('/.porthole/code', { code: mail.code }, jar).catch(() => null);
    assert.equal(stale, null, 'the code page is gone, so there is no form to submit');
    const code = await gate.request('GET', '/.porthole/code', { jar, headers: html });
    assert.equal(code.status, 303);
    // Even with a fresh pending cookie bound to it the stored code is dead.
    const fresh = await gate.submit('/.porthole/code', { code: mail.code }, gate.pendingJar('erin@family.example', stored.id));
    assert.equal(fresh.status, 400);
    assert.equal(fresh.headers['set-cookie']?.some((c) => c.startsWith('porthole_session=')) ?? false, false);
    assert.equal((await gate.request('GET', link.pathname + link.search, { headers: html })).status, 404);
    assert.ok(gate.gateway.deps.store.audit.list({ email: 'erin@family.example', type: 'code.expired' }).length >= 1);
  } finally {
    gate.clock.now = saved;
  }
});

test('wrong codes: counted, audited, and after gate.maxCodeAttempts the code is dead', async () => {
  const { jar, mail } = await requestCode('frank@family.example');
  const stored = gate.pendingCode(jar)!;
  const wrong = mail.code === '000000' ? '111111' : '000000';
  for (let i = 1; i < 3; i++) {
    const res = await gate.submit('/.porthole/code', { code: wrong }, jar);
    assert.equal(res.status, 400);
    assert.match(res.body, /not right/);
  }
  const locked = await gate.submit('/.porthole/code', { code: wrong }, jar);
  assert.equal(locked.status, 400);
  assert.match(locked.body, /Too many wrong tries/);
  assert.doesNotMatch(locked.body, /name="code"/, 'no code field once the code is dead');
  // The right code no longer works either.
  const right = await gate.submit('/.porthole/code', { code: mail.code }, gate.pendingJar('frank@family.example', stored.id));
  assert.equal(right.status, 400);
  const types = gate.gateway.deps.store.audit.list({ email: 'frank@family.example' }).map((e) => e.type);
  assert.equal(types.filter((t) => t === 'code.wrong').length >= 2, true);
  assert.ok(types.includes('code.locked'));
});

test('malformed codes are refused without spending a try', async () => {
  const { jar, mail } = await requestCode('gina@family.example');
  for (const code of ['12345', 'abcdef', '1234567', '']) {
    const res = await gate.submit('/.porthole/code', { code }, jar);
    assert.equal(res.status, 400);
    assert.match(res.body, /6 digits/);
  }
  assert.equal(gate.pendingCode(jar)?.failedAttempts, 0);
  // Spaces and dashes people paste are fine.
  const spaced = `${mail.code.slice(0, 3)} ${mail.code.slice(3)}`;
  assert.equal((await gate.submit('/.porthole/code', { code: spaced }, jar)).status, 303);
});

test('German: pages and mail follow Accept-Language', async () => {
  const jar = new CookieJar();
  const de = { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' };
  const login = await gate.request('GET', '/.porthole/login', { headers: { ...html, ...de }, jar });
  assert.match(login.body, /<html lang="de">/);
  assert.match(login.body, /E-Mail-Adresse/);
  const { mail } = await requestCode('hans@family.example', jar, de);
  assert.match(mail.subject, /^Dein Anmeldecode für /);
  assert.match(mail.text, /Mit diesem Code meldest du dich/);
  assert.match(mail.html, /<html lang="de">/);
  const code = await gate.request('GET', '/.porthole/code', { headers: { ...html, ...de }, jar });
  assert.match(code.body, /6-stelliger Code/);
});

test('logout: POST with CSRF ends the session; the cookie no longer opens anything', async () => {
  const jar = await gate.signIn('alice@example.com');
  const cookie = jar.header()!;
  const page = await gate.request('GET', '/.porthole/logout', { headers: html, jar });
  assert.match(page.body, /alice@example\.com/);
  // A GET never signs out.
  assert.equal((await gate.request('GET', '/', { headers: html, jar })).status, 200);
  const out = await gate.submit('/.porthole/logout', {}, jar);
  assert.equal(out.status, 303);
  assert.equal(out.headers.location, '/.porthole/login?out=1');
  assert.ok(out.headers['set-cookie']!.some((c) => /^porthole_session=; .*Max-Age=0/.test(c)));
  // Even a client that keeps the old cookie is refused.
  const replay = await gate.request('GET', '/api/server/ping', { headers: { cookie } });
  assert.equal(replay.status, 401);
  assert.ok(gate.gateway.deps.store.audit.list({ email: 'alice@example.com', type: 'session.ended' }).length >= 1);
});
