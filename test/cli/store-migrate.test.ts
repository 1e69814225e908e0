// `porthole store migrate --to redis` (the real command line, another process) copies a gateway's SQLite state
// into a real redis-server: a session, a device, a passkey with its user handle, a tunnel token and the audit log
// arrive intact (an expired session does not), a gateway on that Redis lets the migrated session through, and
// `porthole sessions revoke` on the Redis config reaches it; the command refuses clearly when Redis already holds
// state or the config still says sqlite. The ACME account keys and certificates in dataDir/acme are copied too
// (every CA's, each announced to running gateways, and a gateway on that Redis serves the certificate without
// ordering or importing anything); identical ones are skipped, different ones refuse the migration before
// anything is written, and --force replaces them, except a certificate Redis holds for longer.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { Redis } from 'ioredis';
import { generate } from 'selfsigned';
import { parseConfig } from '../../src/config/load.js';
import { addDevice } from '../../src/gate/devices.js';
import { hashToken, issueSession } from '../../src/gate/session.js';
import { startGateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';
import { acmeFilesDir, fileAcmeStore } from '../../src/store/acme-files.js';
import { redisAcmeKeys } from '../../src/store/redis/acme.js';
import { openRedisStore } from '../../src/store/redis/index.js';
import type { AcmeStoreEvent } from '../../src/store/store.js';
import { acmeTagFor, LETS_ENCRYPT, LETS_ENCRYPT_STAGING } from '../../src/tls/acme.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { startTestGate } from '../gate/harness.js';
import { startTestRedis, type TestRedis } from '../store/redis-server.js';
import { freePort } from '../ports.js';

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

function writeConfig(file: string, store: string, dataDir = path.join(dir, 'data')): string {
  fs.writeFileSync(
    file,
    [
      'hosts: { private: photos.localhost }',
      'origin: { url: "http://127.0.0.1:9" }',
      `gate: { allow: ${JSON.stringify(ALLOW)} }`,
      'mail: { from: "p@example.com", transport: console }',
      `dataDir: ${JSON.stringify(dataDir)}`,
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
  assert.match(migrated.stdout, /^ACME: no account key or certificate in dataDir\/acme to copy\.$/m);

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
  // Nothing to copy: the hint names dataDir, not the Redis settings.
  const empty = writeConfig(path.join(dir, 'empty.yaml'), '{ kind: redis, url: "redis://127.0.0.1:9" }', path.join(dir, 'no-such-data'));
  const nothing = await cli('store', 'migrate', '--to', 'redis', '--config', empty);
  assert.equal(nothing.status, 1);
  assert.match(nothing.stderr, /no SQLite state to copy: .*no-such-data.*porthole\.db does not exist \(check dataDir/);
});

/** A certificate for `name` (with its key), valid from now for `days`, made as the other tests make theirs. */
async function certificateFor(name: string, days: number): Promise<{ cert: string; key: string }> {
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    curve: 'P-256',
    notBeforeDate: new Date(now - 60_000),
    notAfterDate: new Date(now + days * 86_400_000),
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2 as const, value: name }] }],
  });
  return { cert: pems.cert, key: pems.private };
}

const accountKey = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

/** A data folder with a SQLite file (nothing in it) and ACME files written the way a single gateway writes them. */
async function dataDirWithAcme(name: string, acme: Array<{ ca: string; account?: string; certificates?: Record<string, { cert: string; key: string }> }>): Promise<string> {
  const data = path.join(dir, name);
  openSqliteStore(data).close();
  const files = fileAcmeStore(data);
  for (const { ca, account, certificates = {} } of acme) {
    if (account) assert.equal(await files.accountKey(ca, async () => account), account);
    for (const [host, pair] of Object.entries(certificates)) await files.saveCertificate(ca, host, pair);
  }
  return data;
}

const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The leaf a gateway's HTTPS port presents for `servername`. */
async function servedFingerprint(port: number, servername: string): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const fingerprint = socket.getPeerCertificate().fingerprint256;
  socket.destroy();
  return fingerprint;
}

test('the ACME account keys and certificates are copied too, announced, said one by one, and served by a gateway on Redis', async () => {
  // A directory nobody can reach: the gateway below must serve what was copied without asking any CA.
  const directory = 'https://acme.invalid/directory';
  const ca = acmeTagFor(directory);
  const staging = acmeTagFor(LETS_ENCRYPT_STAGING);
  const account = accountKey();
  const stagingAccount = accountKey();
  const photos = await certificateFor('photos.example.com', 90);
  const share = await certificateFor('share.example.com', 60);
  const data = await dataDirWithAcme('acme-data', [
    { ca, account, certificates: { 'photos.example.com': photos, 'share.example.com': share } },
    { ca: staging, account: stagingAccount },
  ]);
  // Half a certificate (no key file) and a file that is no certificate: said, not copied.
  const certs = path.join(acmeFilesDir(data, ca), 'certs');
  fs.writeFileSync(path.join(certs, 'broken.example.com.crt.pem'), 'not a certificate');
  fs.writeFileSync(path.join(certs, 'broken.example.com.key.pem'), 'not a key');
  fs.writeFileSync(path.join(certs, 'half.example.com.crt.pem'), photos.cert);

  const prefix = 'acme-copy:';
  const listener = new Redis(redis.url);
  const announced: AcmeStoreEvent[] = [];
  await listener.subscribe(`${prefix}acme`);
  listener.on('message', (_channel: string, text: string) => announced.push(JSON.parse(text) as AcmeStoreEvent));
  try {
    const configFile = writeConfig(path.join(dir, 'acme.yaml'), `{ kind: redis, url: "${redis.url}", keyPrefix: "${prefix}" }`, data);
    const migrated = await cli('store', 'migrate', '--to', 'redis', '--config', configFile);
    assert.equal(migrated.status, 0, migrated.stderr);
    assert.match(migrated.stdout, /^ACME: copied 2 account keys and 2 certificates\.$/m);
    assert.match(migrated.stdout, new RegExp(`^  account key, CA ${escapeRe(ca)}: copied$`, 'm'));
    assert.match(migrated.stdout, new RegExp(`^  account key, CA ${escapeRe(staging)}: copied$`, 'm'));
    for (const name of ['photos.example.com', 'share.example.com']) {
      assert.match(migrated.stdout, new RegExp(`^  certificate ${escapeRe(name)} \\(valid until \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\), CA ${escapeRe(ca)}: copied$`, 'm'));
    }
    assert.match(migrated.stdout, /^ {2}certificate broken\.example\.com, CA .*: not copied: the certificate file cannot be read as a certificate$/m);
    assert.match(migrated.stdout, /^ {2}certificate half\.example\.com, CA .*: not copied: its certificate or key file is missing or empty$/m);

    // Read back the way the gateways read them (the Redis store's ACME part).
    const store = await openRedisStore({ url: redis.url, keyPrefix: prefix, logger: silentLogger });
    try {
      const acme = store.acme!;
      const never = async (): Promise<string> => assert.fail('the account key should have been copied');
      assert.equal(await acme.accountKey(ca, never), account);
      assert.equal(await acme.accountKey(staging, never), stagingAccount);
      assert.deepEqual(await acme.certificate(ca, 'photos.example.com'), photos);
      assert.deepEqual(await acme.certificate(ca, 'share.example.com'), share);
      assert.equal(await acme.certificate(ca, 'broken.example.com'), undefined);
      assert.equal(await acme.certificate(ca, 'half.example.com'), undefined);
    } finally {
      await store.closeAsync();
    }
    // Announced like a certificate a gateway saved, so gateways already running on this Redis swap it in.
    const deadline = Date.now() + 10_000;
    while (announced.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(
      announced.map((e) => JSON.stringify(e)).sort(),
      [
        { kind: 'certificate', ca, name: 'photos.example.com' },
        { kind: 'certificate', ca, name: 'share.example.com' },
      ].map((e) => JSON.stringify(e)),
    );
  } finally {
    listener.disconnect();
  }

  // A gateway of its own (empty data folder, nothing to import) on that Redis serves the copied certificates.
  const gatewayData = fs.mkdtempSync(path.join(dir, 'gateway-'));
  const config = parseConfig(
    {
      listen: { address: '127.0.0.1', httpPort: await freePort(), httpsPort: await freePort() },
      hosts: { private: 'photos.example.com', share: 'share.example.com' },
      origin: { url: 'http://127.0.0.1:9' },
      gate: { allow: ALLOW },
      mail: { from: 'porthole@example.com', transport: 'console' },
      dataDir: gatewayData,
      store: { kind: 'redis', url: redis.url, keyPrefix: prefix },
      tls: { acme: { directory, email: 'admin@example.com', challenge: 'http-01' } },
    },
    'test config',
  );
  const gateway = await startGateway(
    config,
    createConsoleMailer(() => {}),
    silentLogger,
  );
  try {
    const port = gateway.https!.port;
    assert.equal(await servedFingerprint(port, 'photos.example.com'), new crypto.X509Certificate(photos.cert).fingerprint256);
    assert.equal(await servedFingerprint(port, 'share.example.com'), new crypto.X509Certificate(share.cert).fingerprint256);
    assert.equal(gateway.acme!.current('photos.example.com')?.serial, new crypto.X509Certificate(photos.cert).serialNumber);
    assert.equal(fs.existsSync(path.join(gatewayData, 'acme')), false, 'nothing came from (or went to) its own data folder');
  } finally {
    await gateway.close();
  }
});

test('ACME state already in Redis: identical is skipped, different refuses before anything is written, --force replaces all but a longer-lived certificate', async () => {
  const ca = acmeTagFor(LETS_ENCRYPT);
  const prefix = 'acme-conflict:';
  const keys = redisAcmeKeys(prefix);
  const ours = accountKey();
  const theirs = accountKey();
  const photosOurs = await certificateFor('photos.example.com', 30);
  const photosTheirs = await certificateFor('photos.example.com', 80);
  const shared = await certificateFor('share.example.com', 60);
  const oldOurs = await certificateFor('old.example.com', 45);
  const oldTheirs = await certificateFor('old.example.com', 5);
  const data = await dataDirWithAcme('acme-conflict', [
    { ca, account: ours, certificates: { 'photos.example.com': photosOurs, 'share.example.com': shared, 'old.example.com': oldOurs } },
  ]);
  const client = new Redis(redis.url);
  try {
    // Another gateway got there first: its own account and certificates, one of them the same as ours.
    await client.set(keys.account(ca), theirs);
    await client.set(keys.cert(ca, 'photos.example.com'), JSON.stringify(photosTheirs));
    await client.set(keys.cert(ca, 'share.example.com'), JSON.stringify(shared));
    await client.set(keys.cert(ca, 'old.example.com'), JSON.stringify(oldTheirs));
    const before = (await client.keys(`${prefix}*`)).sort();

    const configFile = writeConfig(path.join(dir, 'conflict.yaml'), `{ kind: redis, url: "${redis.url}", keyPrefix: "${prefix}" }`, data);
    const refused = await cli('store', 'migrate', '--to', 'redis', '--config', configFile);
    assert.equal(refused.status, 1, refused.stdout);
    assert.match(
      refused.stderr,
      new RegExp(
        `already holds a different ACME account key for ${escapeRe(ca)}, a different ACME certificate for old\\.example\\.com \\(${escapeRe(ca)}\\), a different ACME certificate for photos\\.example\\.com`,
      ),
    );
    assert.match(refused.stderr, /--force/);
    assert.doesNotMatch(refused.stderr, /share\.example\.com/, 'the identical one is no conflict');
    assert.deepEqual((await client.keys(`${prefix}*`)).sort(), before, 'nothing was written: no records, no ACME keys');
    assert.equal(await client.get(keys.account(ca)), theirs);

    const forced = await cli('store', 'migrate', '--to', 'redis', '--config', configFile, '--force');
    assert.equal(forced.status, 0, forced.stderr);
    assert.match(forced.stdout, /^ACME: copied 1 account key and 1 certificate\.$/m);
    assert.match(forced.stdout, /^ {2}account key, CA .*: copied: replaced the different one Redis held \(--force\)$/m);
    assert.match(forced.stdout, /^ {2}certificate photos\.example\.com \(valid until .*\), CA .*: not copied: Redis holds one valid until \S+, later than this one$/m);
    assert.match(forced.stdout, /^ {2}certificate share\.example\.com \(valid until .*\), CA .*: already in Redis \(identical\), skipped$/m);
    assert.match(forced.stdout, /^ {2}certificate old\.example\.com \(valid until .*\), CA .*: copied: replaced the different one Redis held \(--force\)$/m);
    assert.equal(await client.get(keys.account(ca)), ours);
    assert.deepEqual(JSON.parse((await client.get(keys.cert(ca, 'photos.example.com')))!), photosTheirs, 'the longer-lived certificate stays');
    assert.deepEqual(JSON.parse((await client.get(keys.cert(ca, 'old.example.com')))!), oldOurs);
    assert.deepEqual(JSON.parse((await client.get(keys.cert(ca, 'share.example.com')))!), shared);

    // Run again: what it copied is identical now; only the certificate it kept still differs (the records were none).
    const again = await cli('store', 'migrate', '--to', 'redis', '--config', configFile);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already holds a different ACME certificate for photos\.example\.com \([^)]+\) \(pass --force to copy anyway\)/);
    assert.doesNotMatch(again.stderr, /account key|old\.example\.com|share\.example\.com/);
  } finally {
    client.disconnect();
  }
});
