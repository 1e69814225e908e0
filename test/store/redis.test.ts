// The Redis store on a real redis-server, two stores (two gateways' worth) on one Redis: what one writes the
// other reads; a revocation on one reaches the other's change feed and is never undone by the other's stale
// update; a rate limit counted on one applies on the other; Redis killed makes both report unavailable and
// refuse limits, and Redis back makes them reload and answer again by themselves.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { openRedisStore, type RedisStore } from '../../src/store/redis/index.js';
import { createRateLimit } from '../../src/store/rate-limit.js';
import type { SessionRecord, StoreChange } from '../../src/store/store.js';
import { startTestRedis, type TestRedis } from './redis-server.js';
import { until } from '../until.js';

let redis: TestRedis;
let a: RedisStore;
let b: RedisStore;

const open = () => openRedisStore({ url: redis.url, logger: silentLogger, maxReconnectDelayMs: 200 });

before(async () => {
  redis = await startTestRedis();
  [a, b] = await Promise.all([open(), open()]);
});
after(async () => {
  await a?.closeAsync();
  await b?.closeAsync();
  await redis?.close();
});

const session = (id: string, email = 'alice@example.com'): SessionRecord => ({
  id,
  tokenHash: `hash-${id}`,
  email,
  createdAt: 1_000,
  expiresAt: Date.now() + 3_600_000,
  lastSeenAt: 1_000,
  ip: '203.0.113.1',
  userAgent: null,
});

test('a session written on one store is read on the other, after catchUp at the latest', async () => {
  a.sessions.create(session('s1'));
  assert.equal(a.sessions.findByTokenHash('hash-s1')?.id, 's1', 'the writer sees its own write at once');
  await b.catchUp();
  assert.equal(b.sessions.findByTokenHash('hash-s1')?.email, 'alice@example.com');
  assert.deepEqual(
    b.sessions.list(Date.now()).map((s) => s.id),
    ['s1'],
  );
});

test('a revocation on one reaches the other change feed and is not undone by a stale touch', async () => {
  b.sessions.create(session('s2', 'bob@example.com'));
  await a.catchUp();
  assert.ok(a.sessions.findByTokenHash('hash-s2'));
  const seen: StoreChange[] = [];
  const stop = a.changes.subscribe((change) => seen.push(change));
  // b revokes; a touches right after from its (still unrevoked) mirror: the touch must not bring it back.
  b.sessions.revokeById('s2');
  a.sessions.touch('s2', 5_000, Date.now() + 7_200_000);
  await b.drain();
  await a.drain();
  await until(() => seen.some((c) => c.kind === 'session' && c.ids?.includes('s2')), 'the revocation on the other store');
  stop();
  await a.catchUp();
  await b.catchUp();
  assert.equal(a.sessions.findByTokenHash('hash-s2'), undefined);
  assert.equal(b.sessions.findByTokenHash('hash-s2'), undefined);
  assert.equal(await redis.command('HEXISTS', 'porthole:records:session', 's2'), ':0\r\n+OK\r\n', 'gone in Redis too');
});

test('share links announced on one reach the other change feed with their ids, or as every link', async () => {
  const onA: StoreChange[] = [];
  const onB: StoreChange[] = [];
  const stopA = a.changes.subscribe((change) => onA.push(change));
  const stopB = b.changes.subscribe((change) => onB.push(change));
  const id = '00000000-0000-4000-8000-000000000301';
  a.linkChanged([id, 'tag:AAAAAAAAAAAAAAAA']);
  assert.deepEqual(onA, [{ kind: 'link', ids: [id, 'tag:AAAAAAAAAAAAAAAA'] }], 'delivered on the announcing store before the call returns');
  a.linkChanged();
  await until(() => onB.length === 2, 'both announcements on the other store');
  assert.deepEqual(onB, [{ kind: 'link', ids: [id, 'tag:AAAAAAAAAAAAAAAA'] }, { kind: 'link' }]);
  // Numbered like the writes: a write after them is applied, not taken for a gap.
  b.sessions.create(session('s-after-links'));
  await a.catchUp();
  assert.ok(a.sessions.findByTokenHash('hash-s-after-links'));
  assert.equal(a.unavailable(), null, 'no reload was needed');
  assert.deepEqual(onA, [{ kind: 'link', ids: [id, 'tag:AAAAAAAAAAAAAAAA'] }, { kind: 'link' }], 'its own announcements are not delivered twice');
  stopA();
  stopB();
});

test('a revoked device stays revoked whatever the other gateway writes after', async () => {
  a.devices.create({ id: 'd1', tokenHash: 'dh1', email: 'carol@example.com', name: 'phone', createdAt: 1, lastUsedAt: null, lastIp: null, revokedAt: null });
  await b.catchUp();
  const revoked = b.devices.revokeByEmail('carol@example.com', 42);
  assert.deepEqual(
    revoked.map((d) => d.id),
    ['d1'],
  );
  a.devices.touch('d1', 99, '198.51.100.7');
  await Promise.all([a.drain(), b.drain()]);
  await a.catchUp();
  await b.catchUp();
  assert.equal(a.devices.findByTokenHash('dh1')?.revokedAt, 42);
  assert.equal(b.devices.findByTokenHash('dh1')?.revokedAt, 42);
  assert.equal(a.devices.countActive('carol@example.com'), 0);
});

test('a revocation by address reaches records the revoking mirror has not seen', async () => {
  // Put straight into Redis's copy, unannounced: no mirror knows it, as if its message were still on the way.
  const record = JSON.stringify(session('s3', 'dave@example.com'));
  await redis.command('HSET', 'porthole:records:session', 's3', `'${record}'`);
  assert.equal(await redis.command('HEXISTS', 'porthole:records:session', 's3'), ':1\r\n+OK\r\n');
  assert.deepEqual(b.sessions.revokeByEmail('dave@example.com'), [], 'this mirror knew nothing of it');
  await b.drain();
  assert.equal(await redis.command('HEXISTS', 'porthole:records:session', 's3'), ':0\r\n+OK\r\n', 'deleted in Redis all the same');
});

test('a rate limit counted on one store applies on the other', async () => {
  const options = { points: 3, durationSeconds: 60 };
  const onA = createRateLimit(a, 'test_shared', options, silentLogger);
  const onB = createRateLimit(b, 'test_shared', options, silentLogger);
  assert.equal((await onA.consume('k')).ok, true);
  assert.equal((await onA.consume('k')).ok, true);
  assert.equal((await onB.consume('k')).ok, true);
  const fourth = await onB.consume('k');
  assert.equal(fourth.ok, false);
  assert.equal(fourth.unavailable, false);
  assert.equal((await onA.peek('k')).ok, false);
});

test('audit events written on one are listed on the other', async () => {
  a.audit.record({ type: 'session.created', email: 'alice@example.com', detail: 'from a' });
  await until(() => b.audit.list({ type: 'session.created' }).some((e) => e.detail === 'from a'), 'the audit event on b');
});

test('Redis gone: both stores unavailable and limits refused; Redis back: both reload and answer', async () => {
  a.sessions.create(session('s4'));
  await a.drain();
  await redis.command('SAVE');
  const limit = createRateLimit(b, 'test_down', { points: 100, durationSeconds: 60 }, silentLogger);
  await redis.kill();
  await until(() => a.unavailable() !== null && b.unavailable() !== null, 'both stores to report Redis gone');
  const verdict = await limit.consume('k');
  assert.equal(verdict.ok, false);
  assert.equal(verdict.unavailable, true);
  await redis.start();
  await until(() => a.unavailable() === null && b.unavailable() === null, 'both stores to recover');
  assert.equal(b.sessions.findByTokenHash('hash-s4')?.id, 's4', 'the mirror was reloaded from the saved state');
  assert.equal((await limit.consume('k')).ok, true);
  // Writes work again, and reach the other store.
  b.sessions.revokeById('s4');
  await b.drain();
  await a.catchUp();
  assert.equal(a.sessions.findByTokenHash('hash-s4'), undefined);
});

test('Redis emptied under running stores: the sequence going back makes both reload instead of ignoring new writes', async () => {
  a.sessions.create(session('f1'));
  await a.drain();
  await b.catchUp();
  assert.ok(b.sessions.findByTokenHash('hash-f1'));
  assert.match(await redis.command('FLUSHALL'), /\+OK/);
  a.sessions.create(session('f2'));
  await a.drain();
  await until(() => b.sessions.findByTokenHash('hash-f2') !== undefined && b.sessions.findByTokenHash('hash-f1') === undefined, 'b to reload');
  await until(() => a.sessions.findByTokenHash('hash-f1') === undefined && a.unavailable() === null, 'a to reload');
});

test("each gateway's tunnel presence is seen by the other, and comes back after being swept as expired", async () => {
  a.tunnelPresence.upsert('gw-a', '{"connectors":[]}', Date.now() + 60_000);
  await a.drain();
  await b.catchUp();
  assert.deepEqual(
    b.tunnelPresence.list(Date.now()).map((e) => e.gatewayId),
    ['gw-a'],
  );
  // Swept as expired by b, then renewed by a: the same id must come back everywhere.
  a.tunnelPresence.upsert('gw-a', '{"connectors":[]}', Date.now() - 1);
  await a.drain();
  await b.catchUp();
  b.tunnelPresence.upsert('gw-b', '{"connectors":[]}', Date.now() + 60_000);
  await b.drain();
  a.tunnelPresence.upsert('gw-a', '{"connectors":[1]}', Date.now() + 60_000);
  await a.drain();
  await b.catchUp();
  assert.deepEqual(
    b.tunnelPresence.list(Date.now()).map((e) => [e.gatewayId, e.snapshot]),
    [
      ['gw-a', '{"connectors":[1]}'],
      ['gw-b', '{"connectors":[]}'],
    ],
  );
  a.tunnelPresence.remove('gw-a');
  await a.drain();
  await b.catchUp();
  assert.deepEqual(
    b.tunnelPresence.list(Date.now()).map((e) => e.gatewayId),
    ['gw-b'],
  );
});
