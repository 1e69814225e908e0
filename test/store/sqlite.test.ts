// The SQLite store: migrations run once and refuse a newer schema, codes replace each other per address,
// sessions revoke and expire, the revision notices writes from another connection (the CLI), audit filters,
// devices revoke softly and migrate in.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { DeviceRecord, SessionRecord } from '../../src/store/store.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-store-test-'));
  dirs.push(dir);
  return dir;
};
after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

const session = (id: string, email: string, expiresAt: number): SessionRecord => ({
  id,
  tokenHash: `hash-${id}`,
  email,
  createdAt: 0,
  expiresAt,
  lastSeenAt: 0,
  ip: null,
  userAgent: null,
});

test('migrations: applied once, reopen keeps data, a newer schema is refused', () => {
  const dir = tempDir();
  const store = openSqliteStore(dir);
  store.sessions.create(session('a', 'alice@example.com', 1000));
  store.close();
  const again = openSqliteStore(dir);
  assert.equal(again.sessions.findByTokenHash('hash-a')?.email, 'alice@example.com');
  again.close();
  const db = new Database(path.join(dir, 'porthole.db'));
  db.pragma('user_version = 999');
  db.close();
  assert.throws(() => openSqliteStore(dir), /written by a newer Porthole/);
});

test('sessions: touch, list, revoke by id/email/all, expiry sweep', () => {
  const store = openSqliteStore(':memory:');
  store.sessions.create(session('a', 'alice@example.com', 1000));
  store.sessions.create(session('b', 'bob@example.com', 1000));
  store.sessions.create(session('c', 'bob@example.com', 10));
  store.sessions.touch('a', 500, 2000);
  assert.deepEqual([store.sessions.findByTokenHash('hash-a')?.lastSeenAt, store.sessions.findByTokenHash('hash-a')?.expiresAt], [500, 2000]);
  assert.deepEqual(
    store.sessions.list(100).map((s) => s.id),
    ['a', 'b'],
  );
  assert.equal(store.sessions.deleteExpired(100), 1);
  assert.equal(store.sessions.revokeByEmail('BOB@example.com').length, 1);
  assert.equal(store.sessions.revokeById('a')?.email, 'alice@example.com');
  assert.equal(store.sessions.revokeById('a'), undefined);
  store.sessions.create(session('d', 'd@example.com', 1000));
  assert.equal(store.sessions.revokeAll().length, 1);
  store.close();
});

test('revision: moves on local revocations and on writes by another connection', async () => {
  const dir = tempDir();
  const store = openSqliteStore(dir);
  const start = store.sessions.revision();
  store.sessions.create(session('a', 'alice@example.com', Number.MAX_SAFE_INTEGER));
  assert.equal(store.sessions.revision(), start, 'creating a session invalidates nothing');
  store.sessions.revokeById('a');
  const afterLocal = store.sessions.revision();
  assert.notEqual(afterLocal, start);
  store.sessions.create(session('b', 'bob@example.com', Number.MAX_SAFE_INTEGER));
  const cli = openSqliteStore(dir);
  assert.equal(cli.sessions.revokeAll().length, 1);
  cli.close();
  let seen = afterLocal;
  for (let i = 0; i < 800 && seen === afterLocal; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    seen = store.sessions.revision();
  }
  assert.notEqual(seen, afterLocal);
  store.close();
});

test('codes: one per request, several per address at once, failures counted per code, link lookup', () => {
  const store = openSqliteStore(':memory:');
  const code = { id: 'c1', email: 'a@example.com', codeHash: 'h1', linkTokenHash: 'l1', createdAt: 0, expiresAt: 100, failedAttempts: 0, returnTo: '/', locale: 'en' };
  store.codes.put(code);
  assert.equal(store.codes.recordFailure('c1'), 1);
  assert.equal(store.codes.recordFailure('c1'), 2);
  store.codes.put({ ...code, id: 'c2', codeHash: 'h2', linkTokenHash: 'l2', expiresAt: 200 });
  assert.equal(store.codes.get('c1')?.codeHash, 'h1', 'a second request for the address leaves the first code alone');
  assert.equal(store.codes.get('c1')?.failedAttempts, 2);
  assert.equal(store.codes.get('c2')?.failedAttempts, 0);
  assert.equal(store.codes.getByLinkTokenHash('l1')?.id, 'c1');
  assert.equal(store.codes.getByLinkTokenHash('l2')?.id, 'c2');
  assert.equal(store.codes.recordFailure('nobody'), 0);
  store.codes.delete('c2');
  assert.equal(store.codes.getByLinkTokenHash('l2'), undefined);
  assert.equal(store.codes.get('c1')?.email, 'a@example.com');
  assert.equal(store.codes.deleteExpired(100), 1);
  assert.equal(store.codes.get('c1'), undefined);
  store.close();
});

test('audit: newest first, filters by type and email, bounded limit', () => {
  const store = openSqliteStore(':memory:');
  for (let i = 0; i < 5; i++) store.audit.record({ type: 'code.wrong', email: 'a@example.com', at: i });
  store.audit.record({ type: 'session.created', email: 'b@example.com', at: 10, ip: '10.0.0.1', detail: 'code' });
  assert.equal(store.audit.list().length, 6);
  assert.equal(store.audit.list({ limit: 2 }).length, 2);
  assert.equal(store.audit.list()[0]!.type, 'session.created');
  assert.equal(store.audit.list({ type: 'code.wrong' }).length, 5);
  assert.deepEqual(
    store.audit.list({ email: 'B@example.com' }).map((e) => [e.type, e.ip, e.detail]),
    [['session.created', '10.0.0.1', 'code']],
  );
  assert.equal(store.audit.list({ limit: -5 }).length, 1);
  store.close();
});

test('rate limiters persist across reopen', async () => {
  const dir = tempDir();
  const first = openSqliteStore(dir);
  const limiter = first.limiter('test_limit', { points: 2, durationSeconds: 3600 });
  // Used at once, before any event-loop turn: a limiter must work from the first request after start.
  await limiter.consume('k');
  await limiter.consume('k');
  first.close();
  const second = openSqliteStore(dir);
  await assert.rejects(second.limiter('test_limit', { points: 2, durationSeconds: 3600 }).consume('k'), (res: { msBeforeNext: number }) => res.msBeforeNext > 0);
  // Expired windows are swept; live ones stay.
  assert.equal(second.deleteExpiredLimits(Date.now()), 0);
  assert.equal(second.deleteExpiredLimits(Date.now() + 3601_000), 1);
  await second.limiter('test_limit', { points: 2, durationSeconds: 3600 }).consume('k');
  second.close();
});

const device = (id: string, email: string, createdAt = 0): DeviceRecord => ({
  id,
  tokenHash: `hash-${id}`,
  email,
  name: `phone ${id}`,
  createdAt,
  lastUsedAt: null,
  lastIp: null,
  revokedAt: null,
});

test('devices: find, touch, list, soft revocation by id/email/all, active count', () => {
  const store = openSqliteStore(':memory:');
  store.devices.create(device('a', 'alice@example.com', 1));
  store.devices.create(device('b', 'bob@example.com', 2));
  store.devices.create(device('c', 'bob@example.com', 3));
  assert.throws(() => store.devices.create({ ...device('d', 'd@example.com'), tokenHash: 'hash-a' }), /UNIQUE/);
  store.devices.touch('a', 50, '10.0.0.1');
  assert.deepEqual([store.devices.findByTokenHash('hash-a')?.lastUsedAt, store.devices.findByTokenHash('hash-a')?.lastIp], [50, '10.0.0.1']);
  assert.equal(store.devices.countActive('BOB@example.com'), 2);
  assert.equal(store.devices.revokeById('b', 100)?.revokedAt, 100);
  assert.equal(store.devices.revokeById('b', 200), undefined, 'already revoked');
  assert.equal(store.devices.findByTokenHash('hash-b')?.revokedAt, 100, 'the row stays, marked');
  assert.deepEqual(
    store.devices.list().map((d) => d.id),
    ['a', 'c'],
  );
  assert.deepEqual(
    store.devices.list({ includeRevoked: true }).map((d) => d.id),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(
    store.devices.revokeByEmail('bob@EXAMPLE.com', 300).map((d) => d.id),
    ['c'],
  );
  assert.equal(store.devices.countActive('bob@example.com'), 0);
  assert.deepEqual(
    store.devices.revokeAll(400).map((d) => d.id),
    ['a'],
  );
  assert.deepEqual(store.devices.list(), []);
  store.close();
});

test('devices revision: moves on local revocations and on writes by another connection', async () => {
  const dir = tempDir();
  const store = openSqliteStore(dir);
  const start = store.devices.revision();
  store.devices.create(device('a', 'alice@example.com'));
  store.devices.touch('a', 1, null);
  assert.equal(store.devices.revision(), start, 'adding and touching invalidate nothing');
  store.devices.revokeById('a', 2);
  const afterLocal = store.devices.revision();
  assert.notEqual(afterLocal, start);
  store.devices.create(device('b', 'bob@example.com'));
  const cli = openSqliteStore(dir);
  assert.equal(cli.devices.revokeAll(3).length, 1);
  cli.close();
  let seen = afterLocal;
  for (let i = 0; i < 800 && seen === afterLocal; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    seen = store.devices.revision();
  }
  assert.notEqual(seen, afterLocal);
  store.close();
});

test('migration 2 adds devices to a schema-1 database and keeps its sessions', () => {
  const dir = tempDir();
  const first = openSqliteStore(dir);
  first.sessions.create(session('a', 'alice@example.com', 1000));
  first.close();
  // Back to how a first release left it: schema 1, no devices table.
  const db = new Database(path.join(dir, 'porthole.db'));
  db.exec('DROP TABLE devices; ALTER TABLE audit DROP COLUMN count');
  db.exec('DROP TABLE passkeys; DROP TABLE passkey_users; DROP TABLE passkey_challenges');
  db.exec('DROP TABLE link_events; DROP TABLE link_names');
  db.pragma('user_version = 1');
  db.close();
  const upgraded = openSqliteStore(dir);
  assert.equal(upgraded.sessions.findByTokenHash('hash-a')?.email, 'alice@example.com');
  upgraded.devices.create(device('d', 'alice@example.com'));
  assert.equal(upgraded.devices.list().length, 1);
  upgraded.close();
  const check = new Database(path.join(dir, 'porthole.db'));
  // Every migration after it ran too: the upgraded file is at the version a new file starts at.
  const freshDir = tempDir();
  openSqliteStore(freshDir).close();
  const fresh = new Database(path.join(freshDir, 'porthole.db'));
  assert.equal(check.pragma('user_version', { simple: true }), fresh.pragma('user_version', { simple: true }));
  fresh.close();
  check.close();
});

test('migration 5 adds passkeys to a schema-4 database and keeps its devices; a challenge works once', () => {
  const dir = tempDir();
  const first = openSqliteStore(dir);
  first.devices.create(device('d', 'alice@example.com'));
  first.close();
  const db = new Database(path.join(dir, 'porthole.db'));
  db.exec('DROP TABLE passkeys; DROP TABLE passkey_users; DROP TABLE passkey_challenges');
  db.exec('DROP TABLE link_events; DROP TABLE link_names');
  db.pragma('user_version = 4');
  db.close();
  const upgraded = openSqliteStore(dir);
  assert.equal(upgraded.devices.list().length, 1);
  const handle = upgraded.passkeys.userHandle('Alice@Example.com');
  assert.equal(upgraded.passkeys.userHandle('alice@example.com'), handle, 'one handle per address, kept');
  assert.match(handle, /^[A-Za-z0-9_-]{43}$/);
  upgraded.passkeys.putChallenge('c1', 'authenticate', 'browser-a', null, 2000, 1000);
  assert.equal(upgraded.passkeys.takeChallenge('c1', 'authenticate', 'browser-b', 1500), undefined, 'another browser');
  upgraded.passkeys.putChallenge('c2', 'authenticate', 'browser-a', null, 2000, 1000);
  assert.equal(upgraded.passkeys.takeChallenge('c2', 'register', 'browser-a', 1500), undefined, 'another ceremony');
  upgraded.passkeys.putChallenge('c3', 'authenticate', 'browser-a', null, 2000, 1000);
  assert.deepEqual(upgraded.passkeys.takeChallenge('c3', 'authenticate', 'browser-a', 1500), { email: null });
  assert.equal(upgraded.passkeys.takeChallenge('c3', 'authenticate', 'browser-a', 1500), undefined, 'spent');
  upgraded.passkeys.putChallenge('c4', 'authenticate', 'browser-a', null, 2000, 1000);
  assert.equal(upgraded.passkeys.takeChallenge('c4', 'authenticate', 'browser-a', 2000), undefined, 'expired');
  upgraded.close();
});

test('migration 6 adds the share-link records to a schema-5 database; a link learned survives a restart', () => {
  const dir = tempDir();
  const first = openSqliteStore(dir);
  first.devices.create(device('d', 'alice@example.com'));
  first.close();
  const db = new Database(path.join(dir, 'porthole.db'));
  db.exec('DROP TABLE link_events; DROP TABLE link_names');
  db.pragma('user_version = 5');
  db.close();
  const upgraded = openSqliteStore(dir);
  assert.equal(upgraded.devices.list().length, 1);
  upgraded.linkRecords.learn(['tag-of-a-slug'], '00000000-0000-4000-8000-000000000abc');
  upgraded.linkRecords.note({ tag: 'tag-of-a-slug', kind: 'view', client: '192.0.2.0/24' });
  upgraded.linkRecords.note({ tag: 'tag-nobody-confirmed', kind: 'view', client: '192.0.2.0/24' });
  upgraded.close();
  const reopened = openSqliteStore(dir);
  assert.ok(reopened.linkRecords.knows('tag-of-a-slug'));
  assert.equal(reopened.linkRecords.knows('tag-nobody-confirmed'), false);
  const record = reopened.linkRecords.read('00000000-0000-4000-8000-000000000abc');
  assert.equal(record?.totals.view, 1);
  assert.equal(record?.events[0]?.client, '192.0.2.0/24');
  reopened.close();
});
