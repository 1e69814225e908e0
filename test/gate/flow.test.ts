// The whole email-PIN flow over real sockets: a code mailed through a real SMTP exchange (STARTTLS + AUTH),
// entered on the code page, a session cookie that opens the sample library, the mailed link's confirmation
// step, single use, newer-code-replaces-older, expiry by the injected clock, lockout after wrong tries.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CookieJar, startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
before(async () => {
  gate = await startTestGate({ gate: { maxCodeAttempts: 3, rateLimits: { verifiesPerIpPerHour: 1000, codesPerIpPerHour: 1000, codesPerAddressPerHour: 1000 } } });
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
  assert.ok(mail.subject.includes(mail.code));
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
  assert.equal(verified.headers.location, '/photos?id=1');

  const library = await gate.request('GET', '/photos?id=1', { headers: html, jar });
  assert.equal(library.status, 200);
  assert.match(library.body, /Sample photo library/);

  const events = gate.gateway.deps.store.audit.list({ email: 'alice@example.com' }).map((e) => e.type);
  for (const type of ['code.requested', 'code.sent', 'session.created']) assert.ok(events.includes(type as never), `audit has ${type}: ${events}`);
});
