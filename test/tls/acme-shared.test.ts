// Two real gateways on one real redis-server (store.kind: redis) and one real ACME CA (Debian's pebble) that
// really validates against gateway ONE's ports only. Gateway TWO orders, so the CA's validation succeeds only
// because ONE answers a challenge TWO asked for (HTTP-01 from Redis, TLS-ALPN-01 from the pub/sub message).
// Pebble's own log counts the certificates: one per name for the two gateways, and one per renewal, which
// the other gateway serves without a restart. A gateway moving from SQLite brings its account and certificate;
// Redis unreachable at renewal time orders nothing and says so.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import tls from 'node:tls';
import { after, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';
import { Redis } from 'ioredis';
import { redisAcme, redisAcmeKeys } from '../../src/store/redis/acme.js';
import { AcmeManager, LiveCertificates, acmeDirFor, acmeTagFor, type AdoptedEvent, type FailedEvent, type IssuedEvent } from '../../src/tls/index.js';
import { loadGatewayCertificate } from '../../src/tunnel/index.js';
import { startTestRedis, type TestRedis } from '../store/redis-server.js';
import { freePort, startPebble, type Pebble } from './pebble.js';
import { until as waitUntil } from '../until.js';

/** A CA's pace (pebble, orders and renewals) is slower than anything else the tests wait for. */
const until = (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 120_000) => waitUntil(check, what, timeoutMs, 100);

const PRIVATE = 'photos.porthole.test';
const SHARE = 'share.porthole.test';
const PREFIX = 'porthole:';
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Started {
  gateway: Gateway;
  acme: AcmeManager;
  dataDir: string;
  httpPort: number;
  httpsPort: number;
  issued: IssuedEvent[];
  adopted: AdoptedEvent[];
  failed: FailedEvent[];
}

async function startShared(
  pebble: Pebble,
  redis: TestRedis,
  extra: { challenge?: 'http-01' | 'tls-alpn-01'; share?: boolean; lockRetryMs: number; ports?: { httpPort: number; httpsPort: number }; dataDir?: string },
): Promise<Started> {
  const ports = extra.ports ?? { httpPort: await freePort(), httpsPort: await freePort() };
  const dataDir = extra.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-acme-shared-'));
  const config = parseConfig(
    {
      listen: { address: '127.0.0.1', ...ports },
      hosts: { private: PRIVATE, ...(extra.share === false ? {} : { share: SHARE }) },
      origin: { url: 'http://127.0.0.1:9' },
      gate: { allow: ['alice@example.com'] },
      mail: { from: 'porthole@example.com', transport: 'console' },
      dataDir,
      store: { kind: 'redis', url: redis.url },
      tls: { acme: { directory: pebble.directoryUrl, email: 'admin@example.com', challenge: extra.challenge ?? 'http-01' } },
    },
    'test config',
  );
  const gateway = await startGateway(config, createConsoleMailer(), createLogger('warn', new PassThrough().resume()), {
    // No jitter: both gateways want to renew at the same moment, and the lock decides.
    acme: { pollMinMs: 200, backoff: { baseMs: 60_000, maxMs: 60_000 }, lockRetryMs: extra.lockRetryMs, random: () => 0.5 },
  });
  cleanups.push(() => gateway.close());
  const started: Started = { gateway, acme: gateway.acme!, dataDir, ...ports, issued: [], adopted: [], failed: [] };
  started.acme.on('issued', (e: IssuedEvent) => started.issued.push(e));
  started.acme.on('adopted', (e: AdoptedEvent) => started.adopted.push(e));
  started.acme.on('failed', (e: FailedEvent) => started.failed.push(e));
  return started;
}

/** The leaf the HTTPS port presents for `servername`, chain checked against pebble's root. */
async function served(port: number, servername: string, ca: string): Promise<tls.PeerCertificate> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['http/1.1'], ca });
  await once(socket, 'secureConnect');
  const cert = socket.getPeerCertificate();
  socket.destroy();
  return cert;
}

function plainGet(port: number, host: string, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, headers: { host } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Holds the renewal lock of `names` as a third party would, so that neither gateway orders until it is freed. */
async function holdLock(redis: TestRedis, pebble: Pebble, names: string[]): Promise<() => Promise<void>> {
  const keys = redisAcmeKeys(PREFIX);
  const ca = acmeTagFor(pebble.directoryUrl);
  for (const name of names) assert.match(await redis.command('SET', keys.lock(ca, name), 'test-holder', 'PX', '600000', 'NX'), /^\+OK/);
  return async () => {
    for (const name of names) await redis.command('DEL', keys.lock(ca, name));
  };
}

test('HTTP-01: gateway two orders, the CA validates against gateway one, one certificate per name serves on both', { timeout: 300_000 }, async () => {
  const redis = await startTestRedis();
  cleanups.push(() => redis.close());
  const onePorts = { httpPort: await freePort(), httpsPort: await freePort() };
  const pebble = await startPebble(onePorts);
  cleanups.push(() => pebble.stop());
  const release = await holdLock(redis, pebble, [PRIVATE, SHARE]);
  // One would look again only minutes later; two every few hundred milliseconds: two takes the freed lock.
  const one = await startShared(pebble, redis, { ports: onePorts, lockRetryMs: 600_000 });
  const two = await startShared(pebble, redis, { lockRetryMs: 300 });
  await release();

  await until(() => two.issued.length === 2, 'gateway two to be issued both certificates');
  await until(() => one.adopted.length === 2, 'gateway one to take both certificates from the store');
  assert.deepEqual(one.issued, [], 'gateway one ordered nothing');
  assert.deepEqual(two.failed, []);
  const serials = pebble.issuedSerials();
  assert.equal(serials.length, 2, `the CA issued one certificate per name for both gateways (${serials.join(', ')})`);

  const root = await pebble.root();
  for (const name of [PRIVATE, SHARE]) {
    const mine = two.issued.find((e) => e.name === name)!;
    assert.equal((await served(two.httpsPort, name, root)).serialNumber, mine.serial, `two serves ${name}`);
    assert.equal((await served(one.httpsPort, name, root)).serialNumber, mine.serial, `one serves ${name}`);
    assert.equal(one.acme.current(name)?.serial, mine.serial);
  }
  // The answers are removed once the order ends, and a made-up token is no answer on either gateway.
  const left = await redis.command('KEYS', `${PREFIX}acme:http-01:*`);
  assert.doesNotMatch(left, /acme:http-01:/, 'no challenge answer is left in Redis');
  for (const g of [one, two]) assert.equal((await plainGet(g.httpPort, PRIVATE, '/.well-known/acme-challenge/madeUpToken')).status, 404);
  // On Redis, the certificates and the account are not written to either gateway's dataDir.
  for (const g of [one, two]) assert.equal(fs.existsSync(path.join(acmeDirFor(g.dataDir, pebble.directoryUrl), 'account.key.pem')), false);
});

test('TLS-ALPN-01 and renewal: one gateway renews, the other serves the renewed certificate without a restart', { timeout: 300_000 }, async () => {
  const redis = await startTestRedis();
  cleanups.push(() => redis.close());
  const onePorts = { httpPort: await freePort(), httpsPort: await freePort() };
  const pebble = await startPebble({ ...onePorts, validitySeconds: 45 });
  cleanups.push(() => pebble.stop());
  const release = await holdLock(redis, pebble, [PRIVATE]);
  const one = await startShared(pebble, redis, { ports: onePorts, challenge: 'tls-alpn-01', share: false, lockRetryMs: 600_000 });
  const two = await startShared(pebble, redis, { challenge: 'tls-alpn-01', share: false, lockRetryMs: 300 });
  await release();

  // Two orders; the CA's TLS-ALPN-01 handshake reaches gateway one, which got the challenge certificate from two.
  await until(() => two.issued.length === 1 && one.adopted.length === 1, 'the first certificate on both gateways');
  const first = two.issued[0]!;
  assert.equal(one.issued.length, 0);
  const root = await pebble.root();
  assert.equal((await served(one.httpsPort, PRIVATE, root)).serialNumber, first.serial);

  // Both want to renew at two thirds of the lifetime; exactly one orders, and the other swaps the result in.
  const renewals = () => [...one.issued, ...two.issued].filter((e) => e.renewal);
  await until(() => renewals().length >= 1, 'a renewal', 180_000);
  const renewed = renewals()[0]!;
  const other = one.issued.some((e) => e.serial === renewed.serial) ? two : one;
  await until(() => other.acme.current(PRIVATE)?.serial === renewed.serial, 'the other gateway to take the renewed certificate');
  assert.equal(renewals().length, 1, 'one gateway renewed');
  assert.equal(pebble.issuedSerials().length, 2, `the CA issued the first certificate and one renewal (${pebble.issuedSerials().join(', ')})`);
  assert.notEqual(renewed.serial, first.serial);
  for (const g of [one, two]) assert.equal((await served(g.httpsPort, PRIVATE, root)).serialNumber, renewed.serial);
  assert.deepEqual([...one.failed, ...two.failed], []);
});

test('moving to Redis: the account and certificate a single gateway already has are imported, not ordered again', { timeout: 300_000 }, async () => {
  const redis = await startTestRedis();
  cleanups.push(() => redis.close());
  const ports = { httpPort: await freePort(), httpsPort: await freePort() };
  const pebble = await startPebble(ports);
  cleanups.push(() => pebble.stop());
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-acme-move-'));
  const config = (store: object) =>
    parseConfig(
      {
        listen: { address: '127.0.0.1', ...ports },
        hosts: { private: PRIVATE },
        origin: { url: 'http://127.0.0.1:9' },
        gate: { allow: ['alice@example.com'] },
        mail: { from: 'porthole@example.com', transport: 'console' },
        dataDir,
        ...store,
        tls: { acme: { directory: pebble.directoryUrl, email: 'admin@example.com', challenge: 'http-01' } },
      },
      'test config',
    );
  const single = await startGateway(config({}), createConsoleMailer(), createLogger('warn', new PassThrough().resume()), {
    acme: { pollMinMs: 200, backoff: { baseMs: 60_000, maxMs: 60_000 } },
  });
  const first = await new Promise<IssuedEvent>((resolve) => single.acme!.once('issued', resolve));
  await single.close();
  const accountFile = path.join(acmeDirFor(dataDir, pebble.directoryUrl), 'account.key.pem');
  const accountKey = fs.readFileSync(accountFile, 'utf8');

  const moved = await startShared(pebble, redis, { ports, dataDir, share: false, lockRetryMs: 300 });
  assert.equal(moved.acme.current(PRIVATE)?.serial, first.serial, 'the existing certificate serves at once');
  const another = await startShared(pebble, redis, { share: false, lockRetryMs: 300 });
  assert.equal(another.acme.current(PRIVATE)?.serial, first.serial, 'a second gateway serves it from Redis');
  const root = await pebble.root();
  assert.equal((await served(another.httpsPort, PRIVATE, root)).serialNumber, first.serial);
  assert.equal(pebble.issuedSerials().length, 1, 'nothing was ordered again');
  const stored = await redis.command('GET', `${PREFIX}acme:account:${acmeTagFor(pebble.directoryUrl)}`);
  assert.ok(stored.includes(accountKey.trim().split('\n')[1]!), 'the account key in Redis is the one from dataDir');
  assert.equal(fs.readFileSync(accountFile, 'utf8'), accountKey, 'the file is left as it was');
});

test('Redis unreachable when a renewal is due: nothing is ordered, the failure names the store, and the retry is scheduled', { timeout: 60_000 }, async () => {
  const redis = await startTestRedis();
  cleanups.push(() => redis.close());
  // The connection the store uses for ACME: no offline queue, so a step fails at once instead of waiting.
  const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 2_000 });
  client.on('error', () => undefined);
  cleanups.push(() => client.disconnect());
  await new Promise<void>((resolve) => client.once('ready', () => resolve()));
  await redis.kill();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-acme-down-'));
  const standIn = await loadGatewayCertificate({ dataDir, hostnames: [PRIVATE] });
  const live = new LiveCertificates(standIn);
  let logged = '';
  const stream = new PassThrough();
  stream.setEncoding('utf8').on('data', (c: string) => (logged += c));
  // A directory nobody serves: reaching the CA at all would fail differently (and the test would see it).
  const manager = new AcmeManager({
    directoryUrl: 'https://127.0.0.1:9/dir',
    challenge: 'http-01',
    names: [PRIVATE],
    dataDir,
    store: redisAcme(client, PREFIX),
    live,
    logger: createLogger('info', stream),
    backoff: { baseMs: 60_000, maxMs: 60_000 },
  });
  cleanups.push(() => manager.stop());
  const failure = new Promise<FailedEvent>((resolve) => manager.once('failed', resolve));
  await manager.start();
  const event = await failure;
  assert.match(event.reason, /^the shared store did not answer/);
  assert.match(event.check, /store\.url/);
  assert.ok(event.retryInMs >= 30_000, 'retried later, with backoff');
  assert.match(logged, /not issued: the shared store did not answer/);
  assert.equal(manager.current(PRIVATE), undefined);
  assert.equal(fs.existsSync(path.join(acmeDirFor(dataDir, 'https://127.0.0.1:9/dir'), 'account.key.pem')), false, 'no account was made');
});
