// The share host's limits fail closed: when the store cannot read or count them (the limiter tables dropped by
// another connection under the running gateway, so every count is an SQLite error), a link password is never
// sent to Immich (503, the share host's "temporarily unavailable"), and a client whose unknown-link lookup could
// not be counted is held off like one over its limit instead of guessing on uncounted.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { startShare } from './harness.js';

const json = { 'content-type': 'application/json' };

function dropLimits(dataDir: string, names: string[]): void {
  const db = new Database(path.join(dataDir, 'porthole.db'));
  for (const name of names) db.exec(`DROP TABLE ratelimit_${name}`);
  db.close();
}

test('a link password is not tried at Immich while the failure counters cannot be read', async () => {
  const s = await startShare();
  try {
    const link = s.origin.library.createLink({ password: 'family-secret' });
    const login = (password: string) =>
      s.share(`/api/shared-links/login?key=${link.key}`, { method: 'POST', headers: json, body: JSON.stringify({ password }), localAddress: '127.0.0.2' });
    const reachedImmich = () => s.origin.received.filter((r) => r.url.startsWith('/api/shared-links/login')).length;
    assert.equal((await login('family-secret')).status, 201, 'works while the store does');
    dropLimits(s.gateway.deps.config.dataDir, ['share_password_failures_ip', 'share_password_failures_link']);
    const before = reachedImmich();
    for (const password of ['guess', 'family-secret']) {
      const refused = await login(password);
      assert.equal(refused.status, 503, 'the share host\'s "temporarily unavailable"');
    }
    assert.equal(reachedImmich(), before, 'no password reached Immich on counters that could not be read');
  } finally {
    await s.close();
  }
});

test('an unknown-link lookup that cannot be counted holds the client off; other clients are not touched', async () => {
  const s = await startShare();
  try {
    const link = s.origin.library.createLink({});
    dropLimits(s.gateway.deps.config.dataDir, ['share_unknown_ip']);
    const get = (key: string, from: string) => s.share(`/api/shared-links/me?key=${key}`, { localAddress: from });
    assert.equal((await get('f'.repeat(100), '127.0.0.2')).status, 404);
    const lookups = s.origin.received.length;
    const held = await get(link.key, '127.0.0.2');
    assert.equal(held.status, 429, 'held off like a client over its limit');
    assert.equal(s.origin.received.length, lookups, 'nothing reached Immich for the held-off client');
    assert.equal((await get(link.key, '127.0.0.3')).status, 200, 'another client still opens the link');
  } finally {
    await s.close();
  }
});
