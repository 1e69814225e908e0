// The ACME part of the store (Store.acme), the same rules for both backends: SQLite (files in dataDir for the
// account and certificates, owner-only; answers and locks in the database) and Redis (a real redis-server, two
// store connections standing for two gateways). One account key however many ask at once; the renewal lock is
// exclusive until released or expired; answers expire; a saved certificate is announced to the other gateway.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { openRedisStore, type RedisStore } from '../../src/store/redis/index.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { AcmeStore, AcmeStoreEvent } from '../../src/store/store.js';
import { startTestRedis, type TestRedis } from './redis-server.js';

const CA = 'ca.example-0123abcd';
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function nextEvent(store: AcmeStore, match: (e: AcmeStoreEvent) => boolean): Promise<AcmeStoreEvent> {
  return new Promise((resolve) => {
    const stop = store.watch((e) => {
      if (!match(e)) return;
      stop();
      resolve(e);
    });
  });
}

/** Waits on the clock for an expiry (Redis and SQLite both judge expiry by time, not by an event). */
const pass = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `hearOn`: where a save by `one` is announced (SQLite: within its own process only). */
async function contract(one: AcmeStore, two: AcmeStore, hearOn: AcmeStore = two): Promise<void> {
  // Two gateways creating the account at once end up with the same key.
  let made = 0;
  const create = async () => `key-${++made}`;
  const [a, b] = await Promise.all([one.accountKey(CA, create), two.accountKey(CA, create)]);
  assert.equal(a, b);
  assert.equal(await one.accountKey(CA, create), a, 'an existing key is kept');

  // The lock: one holder at a time; its holder may extend it; released only by its holder; expires.
  assert.equal(await one.lock(CA, 'a.test', 'gw-1', 60_000), true);
  assert.equal(await two.lock(CA, 'a.test', 'gw-2', 60_000), false, 'another holder is refused');
  assert.equal(await one.lock(CA, 'a.test', 'gw-1', 60_000), true, 'the holder keeps it');
  assert.equal(await two.lock(CA, 'b.test', 'gw-2', 60_000), true, 'locks are per name');
  await two.unlock(CA, 'a.test', 'gw-2');
  assert.equal(await two.lock(CA, 'a.test', 'gw-2', 60_000), false, 'only the holder releases');
  await one.unlock(CA, 'a.test', 'gw-1');
  assert.equal(await two.lock(CA, 'a.test', 'gw-2', 300), true, 'released, it can be taken');
  await pass(600);
  assert.equal(await one.lock(CA, 'a.test', 'gw-1', 60_000), true, 'a dead holder’s lock expires');

  // Challenge answers: put by one, answered by both, gone when removed or expired.
  await one.putChallenge({ type: 'http-01', token: 'tok1', keyAuthorization: 'tok1.thumb' }, 60_000);
  assert.equal(await two.httpChallenge('tok1'), 'tok1.thumb');
  await one.removeChallenge('http-01', 'tok1');
  assert.equal(await two.httpChallenge('tok1'), undefined);
  await one.putChallenge({ type: 'http-01', token: 'tok2', keyAuthorization: 'tok2.thumb' }, 300);
  await pass(600);
  assert.equal(await two.httpChallenge('tok2'), undefined, 'an answer expires');
  await one.putChallenge({ type: 'tls-alpn-01', name: 'A.test', cert: 'C', key: 'K' }, 60_000);
  assert.deepEqual(await two.alpnChallenge('a.test'), { cert: 'C', key: 'K' });

  // Certificates: saved by one, read and announced on the other.
  assert.equal(await two.certificate(CA, 'a.test'), undefined);
  const heard = nextEvent(hearOn, (e) => e.kind === 'certificate');
  await one.saveCertificate(CA, 'a.test', { cert: 'CERT', key: 'KEY' });
  assert.deepEqual(await heard, { kind: 'certificate', ca: CA, name: 'a.test' });
  assert.deepEqual(await two.certificate(CA, 'a.test'), { cert: 'CERT', key: 'KEY' });
}

test('SQLite: the ACME part keeps account and certificates as owner-only files; answers and locks in the database', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-acme-store-'));
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  // Two connections to one file stand for the gateway and a second process beside it.
  const first = openSqliteStore(dataDir);
  const second = openSqliteStore(dataDir);
  cleanups.push(() => (first.close(), second.close()));
  assert.equal(first.acme!.shared, false);
  // A save announces to this process's listeners; another process reads the files.
  const heardHere = nextEvent(first.acme!, (e) => e.kind === 'certificate');
  await first.acme!.saveCertificate(CA, 'x.test', { cert: 'X', key: 'Y' });
  await heardHere;
  assert.deepEqual(await second.acme!.certificate(CA, 'x.test'), { cert: 'X', key: 'Y' });
  await contract(first.acme!, second.acme!, first.acme!);
  const dir = path.join(dataDir, 'acme', CA);
  const mode = (f: string) => fs.statSync(f).mode & 0o777;
  assert.equal(mode(dir), 0o700);
  assert.equal(mode(path.join(dir, 'account.key.pem')), 0o600);
  assert.equal(mode(path.join(dir, 'certs', 'a.test.key.pem')), 0o600);
  assert.equal(mode(path.join(dir, 'certs', 'a.test.crt.pem')), 0o600);
});

test('Redis: two gateways share the account, answers, lock and certificates, and hear of a saved certificate', { timeout: 60_000 }, async () => {
  const redis: TestRedis = await startTestRedis();
  cleanups.push(() => redis.close());
  const stores: RedisStore[] = [await openRedisStore({ url: redis.url }), await openRedisStore({ url: redis.url })];
  cleanups.push(async () => {
    for (const s of stores) await s.closeAsync();
  });
  assert.equal(stores[0]!.acme!.shared, true);
  await contract(stores[0]!.acme!, stores[1]!.acme!);
  // The secrets sit under the store's prefix, and nothing ACME is kept without one.
  const keys = await redis.command('KEYS', 'porthole:acme:*');
  assert.match(keys, /porthole:acme:account:/);
  assert.match(keys, /porthole:acme:cert:/);
});
