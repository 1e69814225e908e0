// Per-client limits of the gate and IPv6: a client usually owns a whole /64 and can rotate through it, so the
// gate counts a /64 as one client (like the share host does). Clients are told apart by a trusted proxy's
// X-Forwarded-For here, since the test can only connect from one address.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CookieJar, startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
before(async () => {
  gate = await startTestGate({ trustedProxies: ['127.0.0.1/32'], gate: { rateLimits: { codesPerAddressPerHour: 50, codesPerIpPerHour: 2, verifiesPerIpPerHour: 3 } } });
});
after(() => gate.close());

const from = (n: number) => ({ 'x-forwarded-for': `2001:db8:1:2::${n.toString(16)}` });

test('code verify attempts per IP: rotating addresses inside one IPv6 /64 does not reset the limit', async () => {
  const jar = gate.pendingJar('alice@example.com');
  const statuses: number[] = [];
  for (let i = 1; i <= 5; i++) statuses.push((await gate.submit('/.porthole/code', { code: '000000' }, jar, from(i))).status);
  assert.deepEqual(statuses, [400, 400, 400, 429, 429]);
  // Another /64 is another client.
  assert.equal((await gate.submit('/.porthole/code', { code: '000000' }, jar, { 'x-forwarded-for': '2001:db8:1:3::1' })).status, 400);
});

test('code requests per IP: rotating addresses inside one IPv6 /64 does not reset the limit', async () => {
  const statuses: number[] = [];
  for (let i = 1; i <= 4; i++) statuses.push((await gate.submit('/.porthole/login', { email: `p${i}@family.example` }, new CookieJar(), from(0x100 + i))).status);
  assert.deepEqual(statuses, [303, 303, 429, 429]);
});
