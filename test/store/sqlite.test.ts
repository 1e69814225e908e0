// The SQLite store: migrations run once and refuse a newer schema, codes replace each other per address,
// sessions revoke and expire, the change feed announces revocations made here at once and those by another
// connection (the CLI) soon after, audit filters, devices revoke softly and migrate in, tunnel tokens made by an
// older gateway outside the schema survive the upgrade.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { ChangeKind, DeviceRecord, SessionRecord, Store, StoreChange } from '../../src/store/store.js';

/**
 * Back to schema 5: what migration 6 added is gone (its triggers go with their tables where those are dropped too),
 * and with it migration 10's link announcements, whose trigger moves a revision row.
 */
function undoMigration6(db: Database.Database): void {
  db.exec(`DROP TRIGGER IF EXISTS sessions_removed; DROP TRIGGER IF EXISTS devices_revoked; DROP TRIGGER IF EXISTS devices_removed;
           DROP TRIGGER IF EXISTS passkeys_removed; DROP TABLE link_changes; DROP TABLE revisions; DROP TABLE tunnel_tokens`);
}

/** Everything the feed announces from now on, and a wait for the next change of one kind (bounded, generous). */
function recordChanges(store: Store) {
  const seen: StoreChange[] = [];
  const waiters: Array<{ kind: ChangeKind; resolve: (change: StoreChange) => void }> = [];
  const stop = store.changes.subscribe((change) => {
    seen.push(change);
    for (const waiter of waiters.splice(0)) {
      if (waiter.kind === change.kind) waiter.resolve(change);
      else waiters.push(waiter);
    }
  });
  const next = (kind: ChangeKind, ms = 10_000) =>
    new Promise<StoreChange>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${kind} change announced within ${ms} ms`)), ms);
      waiters.push({ kind, resolve: (change) => (clearTimeout(timer), resolve(change)) });
    });
  return { seen, next, stop };
}

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

test('change feed: a local revocation is announced at once with its ids; one by another connection soon after', async () => {
  const dir = tempDir();
  const store = openSqliteStore(dir);
  const changes = recordChanges(store);
  store.sessions.create(session('a', 'alice@example.com', Number.MAX_SAFE_INTEGER));
  store.sessions.touch('a', 1, Number.MAX_SAFE_INTEGER);
  assert.deepEqual(changes.seen, [], 'creating and touching a session invalidate nothing');
  store.sessions.revokeById('a');
  assert.deepEqual(changes.seen, [{ kind: 'session', ids: ['a'] }], 'announced before revokeById returned');
  assert.equal(store.sessions.revokeById('a'), undefined);
  assert.equal(changes.seen.length, 1, 'revoking nothing announces nothing');
  store.sessions.create(session('b', 'bob@example.com', Number.MAX_SAFE_INTEGER));
  const cli = openSqliteStore(dir);
  const foreign = changes.next('session');
  assert.equal(cli.sessions.revokeAll().length, 1);
  cli.close();
  assert.deepEqual(await foreign, { kind: 'session' }, 'from elsewhere: no ids, anything of the kind may have changed');
  assert.equal(changes.seen.length, 2, 'announced once');
  changes.stop();
  store.close();
});

test('change feed: a local revocation right after one by another connection never swallows that one', async () => {
  const dir = tempDir();
  const store = openSqliteStore(dir);
  const changes = recordChanges(store);
  store.sessions.create(session('x', 'alice@example.com', Number.MAX_SAFE_INTEGER));
  store.sessions.create(session('y', 'bob@example.com', Number.MAX_SAFE_INTEGER));
  // The command line revokes x; before this process's watcher has looked, this process revokes y.
  const cli = openSqliteStore(dir);
  assert.equal(cli.sessions.revokeById('x')?.id, 'x');
  cli.close();
  store.sessions.revokeById('y');
  // Announcing only ['y'] would leave x's session alive in every cache that trusts the ids.
  assert.deepEqual(changes.seen, [{ kind: 'session' }], 'announced as "anything of the kind", at once');
  // The watcher has nothing left of x to announce again: the next thing it announces is the next foreign revocation.
  store.sessions.create(session('w', 'dave@example.com', Number.MAX_SAFE_INTEGER));
  const later = changes.next('session');
  const cli2 = openSqliteStore(dir);
  assert.equal(cli2.sessions.revokeById('w')?.id, 'w');
  cli2.close();
  await later;
  assert.deepEqual(changes.seen, [{ kind: 'session' }, { kind: 'session' }], 'x announced once, then w');
  store.sessions.create(session('z', 'carol@example.com', Number.MAX_SAFE_INTEGER));
  store.sessions.revokeById('z');
  assert.deepEqual(changes.seen[2], { kind: 'session', ids: ['z'] }, 'back to ids once nothing foreign is pending');
  changes.stop();
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

test('change feed: devices, passkeys and tunnel tokens revoked by another connection each reach the listener as their kind', async () => {
  const dir = tempDir();
  const store = openSqliteStore(dir);
  const changes = recordChanges(store);
  store.devices.create(device('a', 'alice@example.com'));
  store.devices.touch('a', 1, null);
  assert.deepEqual(changes.seen, [], 'adding and touching invalidate nothing');
  store.devices.revokeById('a', 2);
  assert.deepEqual(changes.seen, [{ kind: 'device', ids: ['a'] }]);
  store.devices.create(device('b', 'bob@example.com'));
  store.tunnelTokens.insert({ id: 't1', name: 'home', secretHash: 'x', createdAt: 1 });
  const cli = openSqliteStore(dir);
  const [deviceChange, tokenChange] = [changes.next('device'), changes.next('tunnel-token')];
  assert.equal(cli.devices.revokeAll(3).length, 1);
  assert.equal(cli.tunnelTokens.revoke('t1', 4), true);
  cli.close();
  assert.deepEqual(await deviceChange, { kind: 'device' });
  assert.deepEqual(await tokenChange, { kind: 'tunnel-token' });
  assert.equal((changes.seen as StoreChange[]).filter((change) => change.kind === 'passkey' || change.kind === 'session').length, 0, 'other kinds stay quiet');
  changes.stop();
  store.close();
});

test('change feed: share links announced here reach listeners at once; from another connection with their ids, in order, never absorbed', async () => {
  const dir = tempDir();
  const store = openSqliteStore(dir);
  const changes = recordChanges(store);
  const id = '00000000-0000-4000-8000-000000000301';
  store.linkChanged([id, 'tag:AAAAAAAAAAAAAAAA', id]);
  assert.deepEqual(changes.seen, [{ kind: 'link', ids: [id, 'tag:AAAAAAAAAAAAAAAA'] }], 'delivered before the call returns, each id once');
  store.linkChanged();
  store.linkChanged([]);
  store.linkChanged(Array.from({ length: 101 }, (_, i) => `id-${i}`));
  assert.deepEqual(changes.seen.slice(1), [{ kind: 'link' }, { kind: 'link' }, { kind: 'link' }], 'no ids, or too many to name, say every link');

  // The command line in another process: its announcements arrive with their ids, several at once folded into one.
  const cli = openSqliteStore(dir);
  let next = changes.next('link');
  cli.linkChanged(['a']);
  cli.linkChanged(['b', 'a']);
  assert.deepEqual(await next, { kind: 'link', ids: ['a', 'b'] });
  next = changes.next('link');
  cli.linkChanged(['c']);
  cli.linkChanged();
  assert.deepEqual(await next, { kind: 'link' }, 'one of them said every link');

  // An announcement made here while another process's is not handed on yet: both go out, the other's first.
  changes.seen.length = 0;
  cli.linkChanged(['d']);
  store.linkChanged(['e']);
  assert.deepEqual(changes.seen, [
    { kind: 'link', ids: ['d'] },
    { kind: 'link', ids: ['e'] },
  ]);
  next = changes.next('link');
  cli.linkChanged(['f']);
  assert.deepEqual(await next, { kind: 'link', ids: ['f'] });
  assert.deepEqual(changes.seen.slice(2), [{ kind: 'link', ids: ['f'] }], "the watcher did not hand 'd' on a second time");

  // More announcements than the table keeps before the watcher looks: some are gone, so every link.
  next = changes.next('link');
  for (let i = 0; i < 1001; i++) cli.linkChanged(['g']);
  assert.deepEqual(await next, { kind: 'link' });
  const check = new Database(path.join(dir, 'porthole.db'), { readonly: true });
  assert.equal(check.prepare('SELECT count(*) FROM link_changes').pluck().get(), 1000, 'only the newest announcements are kept');
  check.close();
  assert.equal(changes.seen.filter((change) => change.kind !== 'link').length, 0, 'other kinds stay quiet');
  cli.close();
  changes.stop();
  store.close();
});

test('migration 2 adds devices to a schema-1 database and keeps its sessions', () => {
  const dir = tempDir();
  const first = openSqliteStore(dir);
  first.sessions.create(session('a', 'alice@example.com', 1000));
  first.close();
  // Back to how a first release left it: schema 1, no devices table.
  const db = new Database(path.join(dir, 'porthole.db'));
  undoMigration6(db);
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
  undoMigration6(db);
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

test('migration 6: a database whose older gateway made the tunnel token table outside the schema keeps its tokens', () => {
  const dir = tempDir();
  // Exactly how gateways before migration 6 left the file: schema 5, and the tunnel's own table beside it.
  const first = openSqliteStore(dir);
  first.devices.create(device('d', 'alice@example.com'));
  first.close();
  const db = new Database(path.join(dir, 'porthole.db'));
  db.exec('DROP TABLE link_events; DROP TABLE link_names');
  undoMigration6(db);
  db.pragma('user_version = 5');
  db.exec(`CREATE TABLE IF NOT EXISTS tunnel_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_used_at INTEGER
  )`);
  db.prepare('INSERT INTO tunnel_tokens (id, name, secret_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)').run('a1b2c3d4e5f6', 'nas', 'h'.repeat(64), 10, null);
  db.prepare('INSERT INTO tunnel_tokens (id, name, secret_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)').run('0f0f0f0f0f0f', 'old', 'h'.repeat(64), 5, 7);
  db.close();
  const upgraded = openSqliteStore(dir);
  assert.deepEqual(
    upgraded.tunnelTokens.list().map(({ id, name, revokedAt }) => ({ id, name, revokedAt })),
    [
      { id: '0f0f0f0f0f0f', name: 'old', revokedAt: 7 },
      { id: 'a1b2c3d4e5f6', name: 'nas', revokedAt: null },
    ],
  );
  assert.deepEqual(upgraded.tunnelTokens.findHash('a1b2c3d4e5f6'), { secretHash: 'h'.repeat(64), revokedAt: null });
  assert.equal(upgraded.devices.list().length, 1);
  const changes = recordChanges(upgraded);
  assert.equal(upgraded.tunnelTokens.revoke('a1b2c3d4e5f6', 20), true);
  assert.deepEqual(changes.seen, [{ kind: 'tunnel-token', ids: ['a1b2c3d4e5f6'] }], 'the upgraded file carries the revision triggers');
  changes.stop();
  upgraded.close();
  const check = new Database(path.join(dir, 'porthole.db'), { readonly: true });
  assert.equal(check.pragma('user_version', { simple: true }), 10);
  check.close();
});

test('migration 7 adds the share-link records to a schema-6 database; a link learned survives a restart', () => {
  const dir = tempDir();
  const first = openSqliteStore(dir);
  first.devices.create(device('d', 'alice@example.com'));
  first.close();
  const db = new Database(path.join(dir, 'porthole.db'));
  db.exec('DROP TABLE link_events; DROP TABLE link_names');
  db.pragma('user_version = 6');
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

test('tunnel presence: two connections to one file see each other, entries expire and go on remove', () => {
  const dir = tempDir();
  const one = openSqliteStore(dir);
  const two = openSqliteStore(dir);
  const now = Date.now();
  one.tunnelPresence.upsert('gw-a:443', '{"connectors":[1]}', now + 10_000);
  two.tunnelPresence.upsert('gw-b:443', '{"connectors":[]}', now + 10_000);
  one.tunnelPresence.upsert('gw-a:443', '{"connectors":[2]}', now + 20_000);
  assert.deepEqual(two.tunnelPresence.list(now), [
    { gatewayId: 'gw-a:443', snapshot: '{"connectors":[2]}', expiresAt: now + 20_000 },
    { gatewayId: 'gw-b:443', snapshot: '{"connectors":[]}', expiresAt: now + 10_000 },
  ]);
  assert.deepEqual(
    one.tunnelPresence.list(now + 15_000).map((e) => e.gatewayId),
    ['gw-a:443'],
    'a gateway that stopped renewing (crashed) is no longer listed once its entry expired',
  );
  two.tunnelPresence.remove('gw-a:443');
  assert.deepEqual(
    one.tunnelPresence.list(now).map((e) => e.gatewayId),
    ['gw-b:443'],
  );
  // An expired entry is swept from the file by the next renewal of any gateway.
  one.tunnelPresence.upsert('gw-c:443', '{}', now + 10_000);
  two.tunnelPresence.upsert('gw-b:443', '{}', Date.now() - 1);
  one.tunnelPresence.upsert('gw-c:443', '{}', now + 10_000);
  const db = new Database(path.join(dir, 'porthole.db'), { readonly: true });
  assert.deepEqual(db.prepare('SELECT gateway_id FROM tunnel_presence ORDER BY gateway_id').pluck().all(), ['gw-c:443']);
  db.close();
  one.close();
  two.close();
});
