// Rate limits: code requests per address and per client IP, verify attempts per IP. Over the limit: 429 with
// Retry-After, a localized message, an audit event, and no mail.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CookieJar, startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
before(async () => {
  gate = await startTestGate({ gate: { rateLimits: { codesPerAddressPerHour: 2, codesPerIpPerHour: 6, verifiesPerIpPerHour: 3 } } });
});
after(() => gate.close());

test('code requests per address: the third within the hour is refused (unknown addresses alike)', async () => {
  for (const email of ['alice@example.com', 'nobody@example.com']) {
    const before = gate.smtp.count(email);
    for (let i = 0; i < 2; i++) assert.equal((await gate.submit('/.porthole/login', { email }, new CookieJar())).status, 303);
    const limited = await gate.submit('/.porthole/login', { email }, new CookieJar(), { 'accept-language': 'de' });
    assert.equal(limited.status, 429, email);
    const retry = Number(limited.headers['retry-after']);
    assert.ok(retry > 0 && retry <= 3600, `Retry-After ${limited.headers['retry-after']}`);
    assert.match(limited.body, /Zu viele Versuche/);
    assert.match(limited.body, /Bitte in \d+ Minuten erneut versuchen/);
    if (email === 'alice@example.com') {
      await gate.smtp.next(email, before + 1);
      // The gateway runs in this process: by the time the 429 was read here, whatever its handler scheduled has
      // run; one more turn of the loop makes sure of it. Only the two accepted requests reached the mailer.
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(gate.mailsHandedOver.filter((to) => to === email).length, before + 2, 'no mail for the refused request');
      assert.equal(gate.smtp.count(email), before + 2, 'no mail for the refused request');
    }
    const events = gate.gateway.deps.store.audit.list({ email, type: 'rate.limited' });
    assert.equal(events.length, 1);
    assert.equal(events[0]!.detail, 'code request per address and IP');
  }
});

test('code requests per IP: the limit holds across addresses', async () => {
  // Six requests from this IP already happened above; any further address is refused.
  const limited = await gate.submit('/.porthole/login', { email: 'carol@example.com' }, new CookieJar());
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers['retry-after']) > 0);
  const api = await gate.submit('/.porthole/login', { email: 'dave@example.com' }, new CookieJar(), { accept: 'application/json' });
  assert.equal(api.status, 429);
  assert.equal(JSON.parse(api.body).error, 'rate-limited');
  assert.equal(gate.gateway.deps.store.audit.list({ email: 'carol@example.com', type: 'rate.limited' })[0]?.detail, 'code request per IP');
});

test('verify attempts per IP: guessing stops at the limit, even with a valid pending cookie', async () => {
  const jar = gate.pendingJar('alice@example.com');
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await gate.submit('/.porthole/code', { code: '000000' }, jar)).status);
  assert.deepEqual(statuses.slice(3), [429]);
  assert.ok(
    statuses.slice(0, 3).every((s) => s === 400),
    String(statuses),
  );
  const link = await gate.submit('/.porthole/link', { t: 'a'.repeat(43) }, new CookieJar()).catch(() => null);
  assert.equal(link, null, 'an unknown link shows no form');
  // Within a minute one client's refusals fold into one counted row (src/store/audit-guard.ts); flush writes it.
  gate.gateway.deps.store.audit.flush();
  assert.ok(gate.gateway.deps.store.audit.list({ type: 'rate.limited' }).some((e) => e.detail === 'code verify per IP'));
});
