// `porthole store migrate --to redis` (the real command line, another process) copies a gateway's SQLite state
// into a real redis-server: a session, a device, a passkey with its user handle, a tunnel token and the audit log
// arrive intact (an expired session does not), a gateway on that Redis lets the migrated session through, and
// `porthole sessions revoke` on the Redis config reaches it; the command refuses clearly when Redis already holds
// state or the config still says sqlite.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { addDevice } from '../../src/gate/devices.js';
import { hashToken, issueSession } from '../../src/gate/session.js';
import { silentLogger } from '../../src/log.js';
import { openRedisStore } from '../../src/store/redis/index.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { startTestGate } from '../gate/harness.js';
import { startTestRedis, type TestRedis } from '../store/redis-server.js';

const CLI = path.resolve('src/cli/main.ts');
let redis: TestRedis;
let dir: string;
const ALLOW = ['alice@example.com', 'bob@example.com'];
const config = { publicScheme: 'http' as const, gate: { sessionLifetime: 3_600_000 } };

before(async () => {
  redis = await startTestRedis();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-migrate-'));
});
after(async () => {
  await redis?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeConfig(file: string, store: string): string {
  fs.writeFileSync(
    file,
    [
      'hosts: { private: photos.localhost }',
      'origin: { url: "http://127.0.0.1:9" }',
      `gate: { allow: ${JSON.stringify(ALLOW)} }`,
      'mail: { from: "p@example.com", transport: console }',
      `dataDir: ${JSON.stringify(path.join(dir, 'data'))}`,
      `store: ${store}`,
    ].join('\n'),
  );
  return file;
}

function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('the SQLite state is copied into Redis, and a gateway on Redis lets a migrated session through', async () => {
  const sqlite = openSqliteStore(path.join(dir, 'data'));
  const now = Date.now();
  const session = issueSession(sqlite, { ...config, gate: { ...config.gate } } as never, 'alice@example.com', { now });
  issueSession(sqlite, { ...config, gate: { sessionLifetime: 1 } } as never, 'bob@example.com', { now: now - 60_000 });
  const phone = addDevice(sqlite, ALLOW, { email: 'bob@example.com', name: "Bob's phone" }, now);
  const lost = addDevice(sqlite, ALLOW, { email: 'bob@example.com', name: 'lost phone' }, now);
  sqlite.devices.revokeById(lost.record.id, now + 1);
  const publicKey = Buffer.from([1, 2, 3, 250, 251, 252]);
  sqlite.passkeys.create({
    id: 'pk1',
    credentialId: 'cred-1',
    publicKey,
    counter: 7,
    email: 'alice@example.com',
    name: 'key',
    transports: 'usb',
    createdAt: now,
    lastUsedAt: null,
  });
  const handle = sqlite.passkeys.userHandle('alice@example.com');
  sqlite.tunnelTokens.insert({ id: 'tok1', name: 'home', secretHash: 'secret-hash-1', createdAt: now });
  sqlite.audit.record({ type: 'session.created', email: 'alice@example.com', detail: 'before the move' });
  sqlite.close();

  const configFile = writeConfig(path.join(dir, 'redis.yaml'), `{ kind: redis, url: "${redis.url}" }`);
  const migrated = await cli('store', 'migrate', '--to', 'redis', '--config', configFile);
  assert.equal(migrated.status, 0, migrated.stderr);
  assert.match(migrated.stdout, /1 sessions, 2 devices, 1 passkeys \(1 user handles\), 1 tunnel tokens, [1-9]\d* audit events/);

  const store = await openRedisStore({ url: redis.url, logger: silentLogger });
  try {
    assert.equal(store.sessions.findByTokenHash(hashToken(session.cookieValue))?.email, 'alice@example.com');
    assert.equal(store.sessions.list(0).length, 1, 'the expired session stayed behind');
    assert.equal(store.devices.findByTokenHash(phone.record.tokenHash)?.revokedAt, null);
    assert.equal(store.devices.findByTokenHash(lost.record.tokenHash)?.revokedAt, now + 1, 'a revoked device stays revoked');
    const passkey = store.passkeys.findByCredentialId('cred-1');
    assert.ok(passkey && passkey.publicKey.equals(publicKey) && passkey.counter === 7);
    assert.equal(store.passkeys.userHandle('alice@example.com'), handle, 'the WebAuthn user handle is kept');
    assert.deepEqual(store.tunnelTokens.findHash('tok1'), { secretHash: 'secret-hash-1', revokedAt: null });
    assert.ok(store.audit.list({ type: 'session.created' }).some((e) => e.detail === 'before the move'));
  } finally {
    await store.closeAsync();
  }

  const gate = await startTestGate({ store: { kind: 'redis', url: redis.url }, gate: { allow: ALLOW } });
  try {
    const answer = await gate.request('GET', '/api/server/ping', { headers: { accept: 'application/json', cookie: `${session.cookieName}=${session.cookieValue}` } });
    assert.equal(answer.status, 200, 'the migrated session signs its browser in on the Redis gateway');
    // The command line works on the Redis store too: a revocation from another process reaches the gateway.
    const revoked = await cli('sessions', 'revoke', session.id, '--config', configFile);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.match(revoked.stdout, /Revoked 1 session \(alice@example\.com\)/);
    const after = await gate.request('GET', '/api/server/ping', { headers: { accept: 'application/json', cookie: `${session.cookieName}=${session.cookieValue}` } });
    assert.equal(after.status, 401, 'revoked by the command line, refused by the gateway');
  } finally {
    await gate.close();
  }

  const again = await cli('store', 'migrate', '--to', 'redis', '--config', configFile);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already holds Porthole state .*--force/);
});

test('migrate refuses a config that still says sqlite, and a Redis it cannot reach', async () => {
  const sqliteConfig = writeConfig(path.join(dir, 'sqlite.yaml'), '{ kind: sqlite }');
  const refused = await cli('store', 'migrate', '--to', 'redis', '--config', sqliteConfig);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /store\.kind is sqlite .*set store\.kind: redis and store\.url first/);
  const nowhere = writeConfig(path.join(dir, 'nowhere.yaml'), '{ kind: redis, url: "redis://127.0.0.1:9" }');
  const unreachable = await cli('store', 'migrate', '--to', 'redis', '--config', nowhere);
  assert.equal(unreachable.status, 1);
  assert.match(unreachable.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:9/);
  const usage = await cli('store', 'migrate', '--config', sqliteConfig);
  assert.equal(usage.status, 2, 'without --to it is a usage error');
});
