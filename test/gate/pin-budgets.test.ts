// PIN budgets against the two attacks of the review, over real sockets and real SMTP, each client a different
// loopback address (127.0.0.2, …): guessing against invented addresses of a `*@domain` entry from many clients
// (wrong codes are counted per domain across clients, so it does not scale with addresses or clients), and a
// third party asking for codes for a named person (budgets per address and client, codes bound to the browser
// that asked: it neither uses up her allowance nor replaces nor spends her code).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CookieJar, startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
before(async () => {
  // The shipped defaults: 5 codes per address and client, 20 per client, 30 tries per client, 10 wrong per domain.
  gate = await startTestGate();
});
after(() => gate.close());

const client = (n: number) => `127.0.0.${n}`;
/** A code that is certainly wrong: the mailed one shifted. */
const wrongFor = (code: string, k: number) => String((Number(code) + 1 + k) % 1_000_000).padStart(6, '0');

test('300 guesses against 60 invented addresses of *@family.example from 10 clients: only the domain budget is ever checked', async () => {
  const budget = gate.config.gate.rateLimits.wrongCodesPerDomainPerHour;
  const statuses = await Promise.all(
    Array.from({ length: 10 }, async (_, c) => {
      const from = client(2 + c);
      const seen: Array<{ status: number; body: string; retryAfter?: string }> = [];
      for (let i = 0; i < 6; i++) {
        const email = `invented-${c}-${i}@family.example`;
        const jar = new CookieJar();
        const requested = await gate.submit('/.porthole/login', { email }, jar, {}, from);
        assert.equal(requested.status, 303, `code request ${email}`);
        const mail = await gate.smtp.next(email, 0);
        for (let k = 0; k < 5; k++) {
          const res = await gate.submit('/.porthole/code', { code: wrongFor(mail.code, k) }, jar, {}, from).catch(() => null);
          // After a code dies the page has no form left: that guess was never made.
          if (res) seen.push({ status: res.status, body: res.body, retryAfter: res.headers['retry-after'] as string | undefined });
        }
      }
      return seen;
    }),
  );
  const all = statuses.flat();
  const checked = all.filter((r) => r.status === 400);
  const limited = all.filter((r) => r.status === 429);
  console.log(`guesses made: ${all.length}; checked: ${checked.length}; refused unchecked: ${limited.length}`);
  assert.equal(all.length, 300);
  assert.ok(checked.length <= budget, `${checked.length} guesses were checked against codes (budget ${budget})`);
  assert.equal(checked.length + limited.length, 300);
  assert.ok(
    limited.every((r) => Number(r.retryAfter) > 0 && /sign-in link in the email/.test(r.body)),
    'the refusal names the way that still works',
  );
  const sessions = gate.gateway.deps.store.sessions.list(gate.clock.now).filter((s) => s.email.startsWith('invented-'));
  assert.equal(sessions.length, 0);
  gate.gateway.deps.store.audit.flush();
  const wrong = gate.gateway.deps.store.audit.list({ type: 'code.wrong', limit: 10_000 }).filter((e) => e.email?.startsWith('invented-'));
  assert.ok(wrong.length <= budget, `${wrong.length} code.wrong events`);

  // A real member of the domain is not locked out: while typed codes for the domain wait, the mailed link works.
  const bob = new CookieJar();
  assert.equal((await gate.submit('/.porthole/login', { email: 'bob@family.example' }, bob, {}, client(12))).status, 303);
  const mail = await gate.smtp.next('bob@family.example', 0);
  const typed = await gate.submit('/.porthole/code', { code: mail.code }, bob, {}, client(12));
  assert.equal(typed.status, 429);
  const link = new URL(mail.link);
  const confirmed = await gate.submit(link.pathname + link.search, {}, bob, {}, client(12));
  assert.equal(confirmed.status, 303);
  assert.equal((await gate.request('GET', '/', { jar: bob, headers: { accept: 'text/html' }, from: client(12) })).status, 200);
});

test('five code requests for alice from other clients, in other spellings, neither lock her out nor spend the code she has', async () => {
  const aliceFrom = client(20);
  const aliceJar = new CookieJar();
  assert.equal((await gate.submit('/.porthole/login', { email: 'alice@example.com' }, aliceJar, {}, aliceFrom)).status, 303);
  const hers = await gate.smtp.next('alice@example.com', 0);

  const spellings = ['ALICE@example.com', 'Alice@Example.COM', ' alice@EXAMPLE.com', 'alice@example.com', 'aLiCe@eXaMpLe.CoM'];
  const strangers: CookieJar[] = [];
  for (const [i, email] of spellings.entries()) {
    const jar = new CookieJar();
    const res = await gate.submit('/.porthole/login', { email }, jar, {}, client(21 + i));
    assert.equal(res.status, 303, `request ${i + 1} from ${client(21 + i)}`);
    strangers.push(jar);
  }
  // Each was mailed to her (she sees someone tried), none replaced hers.
  await gate.smtp.next('alice@example.com', 5);
  // One of them guesses until its own code dies: that is its code, not hers.
  const max = gate.config.gate.maxCodeAttempts;
  for (let k = 0; k < max; k++) {
    const res = await gate.submit('/.porthole/code', { code: wrongFor(hers.code, k) }, strangers[0]!, {}, client(21));
    assert.equal(res.status, 400);
  }

  // The code she already has works, for its lifetime.
  const signedIn = await gate.submit('/.porthole/code', { code: hers.code }, aliceJar, {}, aliceFrom);
  assert.equal(signedIn.status, 303, signedIn.body.slice(0, 300));
  assert.equal((await gate.request('GET', '/', { jar: aliceJar, headers: { accept: 'text/html' }, from: aliceFrom })).status, 200);

  // And her own client still gets a new code and uses it.
  const before = gate.smtp.count('alice@example.com');
  const laptop = new CookieJar();
  const again = await gate.submit('/.porthole/login', { email: 'alice@example.com' }, laptop, {}, aliceFrom);
  assert.equal(again.status, 303);
  const fresh = await gate.smtp.next('alice@example.com', before);
  assert.equal((await gate.submit('/.porthole/code', { code: fresh.code }, laptop, {}, aliceFrom)).status, 303);
});
