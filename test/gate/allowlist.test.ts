// Who may sign in, and that nobody can tell from the outside: exact addresses (any case) and *@domain get a
// code; unknown addresses get the very same answer (status, headers, body) and no mail; wrong tries and
// lockout look the same for both. Email input is bounded and cannot smuggle headers or extra recipients.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createAllowlist, normalizeEmail } from '../../src/gate/email.js';
import { CookieJar, startTestGate, type Response, type TestGate } from './harness.js';

let gate: TestGate;
before(async () => {
  gate = await startTestGate({ gate: { allow: ['alice@example.com', '*@family.example'], maxCodeAttempts: 2 } });
});
after(() => gate.close());

test('allowlist: exact (case-insensitive) and *@domain, nothing looser', () => {
  const allowed = createAllowlist(['alice@example.com', '*@family.example']);
  for (const email of ['alice@example.com', 'bob@family.example', 'x.y+z@family.example']) assert.ok(allowed(email), email);
  for (const email of ['bob@example.com', 'alice@example.com.evil', 'alice@sub.example.com', 'bob@sub.family.example', 'bob@family.example.evil', 'eve@evilfamily.example']) {
    assert.equal(allowed(email), false, email);
  }
  assert.equal(normalizeEmail('  Alice@Example.COM '), 'alice@example.com');
});

test('email input: bounded, one plain address, no header or recipient injection', () => {
  const bad = [
    'alice@example.com\r\nBcc: eve@evil.example',
    'alice@example.com\nbcc:eve@evil.example',
    'alice@example.com, eve@evil.example',
    'Alice <alice@example.com>',
    '"alice"@example.com',
    'alice@example.com;eve@evil.example',
    `${'a'.repeat(65)}@example.com`,
    `a@${'b'.repeat(250)}.com`,
    'alice',
    '@example.com',
    'alice@',
    'alice@localhost',
    'alice@@example.com',
    'alice@exa mple.com',
    'alice@-example.com',
    'al..ice@example.com',
    '',
  ];
  for (const input of bad) assert.equal(normalizeEmail(input), null, JSON.stringify(input));
});

/** Everything a response says, with cookie values and the per-request Date blanked. */
function shape(res: Response): unknown {
  const headers = { ...res.headers };
  delete headers.date;
  headers['set-cookie'] = (headers['set-cookie'] ?? []).map((c) => c.replace(/=[^;]*/, '=<value>'));
  return { status: res.status, headers, body: res.body };
}

test('allowed and unknown addresses get identical responses; only the allowed one gets mail', async () => {
  const answers = new Map<string, unknown>();
  const mailsBefore = gate.smtp.mails.length;
  const aliceBefore = gate.smtp.count('alice@example.com');
  const bobBefore = gate.smtp.count('bob@family.example');
  const emails = ['alice@example.com', 'mallory@example.com', 'bob@family.example', 'eve@evil.example'];
  const handledBefore = emails.map((e) => gate.codesHandled(e));
  for (const email of emails) {
    const res = await gate.submit('/.porthole/login', { email }, new CookieJar());
    answers.set(email, shape(res));
  }
  const [first, ...rest] = [...answers.values()];
  for (const other of rest) assert.deepEqual(other, first);
  assert.equal((first as { status: number }).status, 303);
  await gate.smtp.next('alice@example.com', aliceBefore);
  await gate.smtp.next('bob@family.example', bobBefore);
  // Mail goes out after the response: once the gate has handled every one of these requests, whatever it was
  // going to mail has been handed to the mailer.
  const handedBefore = gate.mailsHandedOver.length;
  await Promise.all(emails.map((e, i) => gate.codeHandled(e, handledBefore[i]! + 1)));
  assert.deepEqual(gate.mailsHandedOver.slice(handedBefore), [], 'no mail beyond the two already delivered');
  assert.deepEqual(
    gate.mailsHandedOver.filter((to) => to === 'mallory@example.com' || to === 'eve@evil.example'),
    [],
  );
  const recipients = gate.smtp.mails
    .slice(mailsBefore)
    .flatMap((m) => m.to)
    .sort();
  assert.deepEqual(recipients, ['alice@example.com', 'bob@family.example']);
  const refused = gate.gateway.deps.store.audit.list({ email: 'mallory@example.com' }).map((e) => e.type);
  assert.deepEqual(refused, ['code.refused']);
});

test('the code page, wrong tries and the lockout read the same for unknown addresses', async () => {
  const flows = new Map<string, unknown[]>();
  const aliceBefore = gate.smtp.count('alice@example.com');
  // Same length, so even Content-Length may not differ.
  for (const email of ['alice@example.com', 'malle@example.com']) {
    const jar = new CookieJar();
    await gate.submit('/.porthole/login', { email }, jar);
    const steps: unknown[] = [];
    const normalize = (res: Response) => shape({ ...res, body: res.body.replaceAll(email, '<email>').replace(/value="[0-9a-f]{64}"/g, 'value="<csrf>"') });
    steps.push(normalize(await gate.request('GET', '/.porthole/code', { jar, headers: { accept: 'text/html' } })));
    // Two wrong tries: the second locks the code (maxCodeAttempts is 2 here). 000000 is a wrong guess
    // unless it happens to be alice's code (one in a million): then the test reports a mismatch.
    steps.push(normalize(await gate.submit('/.porthole/code', { code: '000000' }, jar)));
    steps.push(normalize(await gate.submit('/.porthole/code', { code: '000000' }, jar)));
    flows.set(email, steps);
  }
  assert.deepEqual(flows.get('malle@example.com'), flows.get('alice@example.com'));
  await gate.smtp.next('alice@example.com', aliceBefore);
  const last = flows.get('alice@example.com')!.at(-1) as { body: string };
  assert.match(last.body, /Too many wrong tries/);
});
