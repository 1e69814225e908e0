// Doctor checks for an internet-facing gateway: certificate state (ACME, files, self-signed), DNS for ACME
// names, and the home connector in tunnel mode (which replaces the origin checks on a VPS).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { generate } from 'selfsigned';
import { parseConfig } from '../../src/config/load.js';
import { Redis } from 'ioredis';
import { checkCertificates, checkConnector, checkPublicNames, checkRedisStore, sharedAcmeCertificates } from '../../src/doctor/deploy-checks.js';
import { redisAcme } from '../../src/store/redis/acme.js';
import { runDoctor } from '../../src/doctor/checks.js';
import { acmeDirFor, acmeTagFor, LETS_ENCRYPT } from '../../src/tls/index.js';
import { startTestRedis } from '../store/redis-server.js';
import { statusFilePath, writeStatusFile } from '../../src/tunnel/status.js';

const DAY = 24 * 3600_000;
const base = (dataDir: string, extra: Record<string, unknown> = {}) =>
  parseConfig({
    listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    hosts: { private: 'photos.example.com', share: 'share.example.com' },
    origin: { url: 'http://immich-server.invalid:2283' },
    gate: { allow: ['a@example.com'] },
    mail: { from: 'p@example.com', transport: 'console' },
    dataDir,
    ...extra,
  });

async function certificate(notBefore: number, notAfter: number): Promise<string> {
  const pems = await generate([{ name: 'commonName', value: 'photos.example.com' }], {
    keyType: 'ec',
    curve: 'P-256',
    notBeforeDate: new Date(notBefore),
    notAfterDate: new Date(notAfter),
  });
  return pems.cert;
}

test('ACME certificates: missing, healthy, overdue and expired are told apart', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-doctor-tls-'));
  const config = base(dataDir, { tls: { acme: {} } });
  const now = Date.now();
  const missing = checkCertificates(config, now);
  assert.deepEqual(
    missing.map((r) => [r.name, r.verdict]),
    [
      ['certificate for photos.example.com', 'warn'],
      ['certificate for share.example.com', 'warn'],
    ],
  );
  assert.match(missing[0]!.fix!, /not issued/);

  const certs = path.join(acmeDirFor(dataDir, LETS_ENCRYPT), 'certs');
  fs.mkdirSync(certs, { recursive: true });
  fs.writeFileSync(path.join(certs, 'photos.example.com.crt.pem'), await certificate(now - 10 * DAY, now + 80 * DAY));
  fs.writeFileSync(path.join(certs, 'share.example.com.crt.pem'), await certificate(now - 85 * DAY, now + 5 * DAY));
  const [healthy, overdue] = checkCertificates(config, now);
  assert.equal(healthy!.verdict, 'pass');
  assert.match(healthy!.detail, /renewed automatically/);
  assert.equal(overdue!.verdict, 'warn');
  assert.match(overdue!.fix!, /not renewed/);
  fs.writeFileSync(path.join(certs, 'share.example.com.crt.pem'), await certificate(now - 95 * DAY, now - 5 * DAY));
  assert.equal(checkCertificates(config, now)[1]!.verdict, 'fail');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('certificate files and the self-signed mode are judged too; plain HTTP has nothing to judge', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-doctor-tls-'));
  const now = Date.now();
  const certFile = path.join(dataDir, 'cert.pem');
  fs.writeFileSync(certFile, await certificate(now - DAY, now + 7 * DAY));
  const files = checkCertificates(base(dataDir, { tls: { certFile, keyFile: certFile } }), now);
  assert.deepEqual(
    files.map((r) => r.verdict),
    ['warn'],
  );
  assert.equal(checkCertificates(base(dataDir, { tls: { certFile: path.join(dataDir, 'nope.pem'), keyFile: certFile } }), now)[0]!.verdict, 'fail');
  assert.match(checkCertificates(base(dataDir), now)[0]!.detail, /self-signed/);
  assert.deepEqual(checkCertificates(base(dataDir, { listen: { address: '127.0.0.1', httpPort: 0 } }), now), []);
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('ACME names without DNS records fail with the record to create', async () => {
  const config = base(os.tmpdir(), { hosts: { private: 'photos.porthole.invalid', share: 'localhost' }, tls: { acme: {} } });
  const [photos, share] = await checkPublicNames(config);
  assert.equal(photos!.verdict, 'fail');
  assert.match(photos!.fix!, /A \(and AAAA.*photos\.porthole\.invalid/);
  assert.equal(share!.verdict, 'pass');
  assert.deepEqual(await checkPublicNames(base(os.tmpdir())), [], 'no ACME, no DNS demands');
});

test('tunnel mode: the connector check replaces the origin checks, from the gateway status file', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-doctor-tunnel-'));
  const config = base(dataDir, { tunnel: { enabled: true, publicAddress: 'photos.example.com:443' } });
  assert.equal(checkConnector(config)[0]!.verdict, 'warn');
  const now = Date.now();
  writeStatusFile(statusFilePath(dataDir), { writtenAt: new Date(now).toISOString(), pid: process.pid, offlineSince: new Date(now - 60_000).toISOString(), connectors: [] });
  const offline = checkConnector(config, now)[0]!;
  assert.equal(offline.verdict, 'fail');
  assert.match(offline.fix!, /porthole connect/);
  writeStatusFile(statusFilePath(dataDir), {
    writtenAt: new Date(now).toISOString(),
    pid: process.pid,
    offlineSince: null,
    connectors: [
      { id: 'c1', tokenId: 't1', name: 'home', since: new Date(now).toISOString(), remoteAddress: '192.0.2.1', openStreams: 0, streamsTotal: 0, bytesIn: 0, bytesOut: 0 },
    ],
  });
  assert.equal(checkConnector(config, now)[0]!.verdict, 'pass');
  const results = await runDoctor(config);
  assert.ok(!results.some((r) => r.name.startsWith('origin')), 'no origin checks from the VPS');
  assert.ok(results.some((r) => r.name === 'home connector attached'));
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('ACME certificates kept in Redis (store.kind: redis) are judged from Redis; Redis unreachable is a FAIL', { timeout: 60_000 }, async () => {
  const redis = await startTestRedis();
  try {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-doctor-redis-'));
    const config = base(dataDir, { tls: { acme: {} }, store: { kind: 'redis', url: redis.url } });
    const now = Date.now();
    const client = new Redis(redis.url);
    try {
      await redisAcme(client, 'porthole:').saveCertificate(acmeTagFor(LETS_ENCRYPT), 'photos.example.com', { cert: await certificate(now - DAY, now + 80 * DAY), key: 'unused' });
    } finally {
      client.disconnect();
    }
    const shared = await sharedAcmeCertificates(config);
    assert.ok(shared instanceof Map);
    const [stored, missing] = checkCertificates(config, now, shared);
    assert.equal(stored!.verdict, 'pass', 'the certificate in Redis is found (there are no files)');
    assert.equal(missing!.verdict, 'warn');
    assert.match(missing!.detail, /not issued yet/);
    await redis.kill();
    const down = await sharedAcmeCertificates(config);
    assert.ok(!(down instanceof Map));
    assert.equal(down.verdict, 'fail');
    assert.match(down.fix!, /store\.url/);
  } finally {
    await redis.close();
  }
});

test('store.kind redis: the doctor says whether Redis answers, and why not (a refused password, nothing listening), never the password', { timeout: 60_000 }, async () => {
  const redis = await startTestRedis({ password: 'doctor-right-password' });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-doctor-redis-'));
  try {
    const config = (password: string) => base(dataDir, { store: { kind: 'redis', url: redis.url, password } });
    assert.equal(await checkRedisStore(base(dataDir)), undefined, 'nothing to say with the SQLite store');
    const good = await checkRedisStore(config('doctor-right-password'));
    assert.deepEqual(good, { name: 'shared store (Redis) answers', verdict: 'pass', detail: `redis://127.0.0.1:${redis.port}` });

    const wrong = (await checkRedisStore(config('doctor-wrong-password')))!;
    assert.equal(wrong.verdict, 'fail');
    assert.match(wrong.detail, new RegExp(`^Redis refused the password at redis://127\\.0\\.0\\.1:${redis.port} \\(WRONGPASS`));
    assert.match(wrong.fix!, /store\.password/);
    assert.doesNotMatch(JSON.stringify(wrong), /doctor-(right|wrong)-password/);

    await redis.kill();
    const away = (await checkRedisStore(config('doctor-right-password')))!;
    assert.equal(away.verdict, 'fail');
    assert.match(away.detail, /^cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ \(connect ECONNREFUSED/);
    assert.match(away.fix!, /Redis runs and store\.url names its host and port/);
    assert.ok(
      (await runDoctor(config('doctor-right-password'))).some((r) => r.name === 'shared store (Redis) answers' && r.verdict === 'fail'),
      'and `porthole doctor` runs it',
    );
  } finally {
    await redis.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
