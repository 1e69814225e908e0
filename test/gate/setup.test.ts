// Immich's unauthenticated set-up endpoints (first-admin sign-up, restore) on the private host: refused even
// for a signed-in person unless allowImmichSetup is on, in every spelling that could reach them: the guard
// matches the normalised path (dot segments, ';', NUL, blanks, an extension, case, encoded slashes).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestGate } from './harness.js';

const SPELLINGS = [
  ['POST', '/api/auth/admin-sign-up'],
  ['POST', '/api/auth/admin-sign-up/'],
  ['POST', '/API/Auth/Admin-Sign-Up'],
  ['POST', '/api/auth/admin%2Dsign-up'],
  ['POST', '/api//auth/admin-sign-up?x=1'],
  ['OPTIONS', '/api/auth/admin-sign-up'],
  ['POST', '/api/admin/database-backups/start-restore'],
  // Spellings that reached Immich before the guard matched on the normalised path:
  ['POST', '/api/auth/./admin-sign-up'],
  ['POST', '/api/auth/x/../admin-sign-up'],
  ['POST', '/api/auth/admin-sign-up;'],
  ['POST', '/api/auth/admin-sign-up;jsessionid=1'],
  ['POST', '/api/auth/admin-sign-up%00'],
  ['POST', '/api/auth/admin-sign-up%20'],
  ['POST', '/api/auth/admin-sign-up.json'],
  ['POST', '/api/auth/admin-sign-up%2E'],
  ['POST', '/api/admin/database-backups/start-restore/./'],
  ['POST', '/api/admin/database-backups/x/../start-restore'],
  ['POST', '/API/ADMIN/Database-Backups/START-RESTORE;'],
  ['post', '/Api/Auth/./Admin-Sign-Up.json'],
  ['POST', '/api%2Fauth%2Fadmin-sign-up'],
  ['POST', '/api/auth%2fadmin-sign-up'],
  ['POST', '/api/auth%5cadmin-sign-up'],
  ['POST', '/api/auth/admin-sign-up%253b'],
  ['OPTIONS', '/api/auth/./admin-sign-up'],
] as const;

const body = JSON.stringify({ email: 'attacker@example.com', password: 'x', name: 'x' });

test('set-up endpoints are refused for a signed-in person and never reach Immich', async () => {
  const gate = await startTestGate();
  try {
    const jar = await gate.signIn('alice@example.com');
    const before = gate.origin.received.length;
    for (const [method, target] of SPELLINGS) {
      const res = await gate.request(method, target, { jar, body, headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 403, `${method} ${target}`);
    }
    const reached = gate.origin.received.slice(before).filter((r) => /sign-up|restore/i.test(r.url));
    assert.deepEqual(reached, []);
    // Ordinary API calls still pass, and so do names that merely start alike.
    assert.equal((await gate.request('GET', '/api/server/ping', { jar })).status, 200);
    assert.notEqual((await gate.request('POST', '/api/auth/login', { jar, body, headers: { 'content-type': 'application/json' } })).status, 403);
    assert.notEqual((await gate.request('POST', '/api/auth/admin-sign-up-status', { jar, body, headers: { 'content-type': 'application/json' } })).status, 403);
  } finally {
    await gate.close();
  }
});

test('with allowImmichSetup the first-admin sign-up reaches Immich (behind the PIN)', async () => {
  const gate = await startTestGate({ allowImmichSetup: true });
  try {
    const anonymous = await gate.request('POST', '/api/auth/admin-sign-up', { body, headers: { 'content-type': 'application/json' } });
    assert.equal(anonymous.status, 401, 'the PIN still comes first');
    const jar = await gate.signIn('alice@example.com');
    await gate.request('POST', '/api/auth/admin-sign-up', { jar, body, headers: { 'content-type': 'application/json' } });
    assert.ok(gate.origin.received.some((r) => r.method === 'POST' && r.url === '/api/auth/admin-sign-up'));
  } finally {
    await gate.close();
  }
});
