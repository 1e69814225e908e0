// ACME against a real CA on loopback (Debian's pebble) that really validates: HTTP-01 on the gateway's HTTP
// port, TLS-ALPN-01 on its HTTPS port. Proves issuance for two names, live renewal of short-lived
// certificates (checked by the serial served over a real TLS connection, with an open connection kept),
// and that a failing challenge is reported with the CA's reason while the old certificate keeps serving.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import tls from 'node:tls';
import { after, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';
import { acmeDirFor, type AcmeManager, type FailedEvent, type IssuedEvent } from '../../src/tls/index.js';
import { freePort, startPebble, type Pebble } from './pebble.js';

const PRIVATE = 'photos.porthole.test';
const EAB_HMAC = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';
const SHARE = 'share.porthole.test';
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
  log: () => string;
}

async function startAcmeGateway(
  pebble: Pebble,
  ports: { httpPort: number; httpsPort: number },
  extra: { challenge?: 'http-01' | 'tls-alpn-01'; share?: boolean; dataDir?: string; eab?: unknown } = {},
): Promise<Started> {
  const dataDir = extra.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-acme-'));
  const config = parseConfig(
    {
      listen: { address: '127.0.0.1', httpPort: ports.httpPort, httpsPort: ports.httpsPort },
      hosts: { private: PRIVATE, ...(extra.share === false ? {} : { share: SHARE }) },
      origin: { url: 'http://127.0.0.1:9' },
      gate: { allow: ['alice@example.com'] },
      mail: { from: 'porthole@example.com', transport: 'console' },
      dataDir,
      tls: { acme: { directory: pebble.directoryUrl, email: 'admin@example.com', challenge: extra.challenge ?? 'http-01', ...(extra.eab ? { eab: extra.eab } : {}) } },
    },
    'test config',
    { ...process.env, TEST_EAB_HMAC: EAB_HMAC },
  );
  let logged = '';
  const stream = new PassThrough();
  stream.setEncoding('utf8').on('data', (c: string) => (logged += c));
  // Retries are a minute away: within a test every attempt is one the test asked for.
  const gateway = await startGateway(config, createConsoleMailer(), createLogger('info', stream), { acme: { pollMinMs: 200, backoff: { baseMs: 60_000, maxMs: 60_000 } } });
  cleanups.push(() => gateway.close());
  return { gateway, acme: gateway.acme!, dataDir, ...ports, log: () => logged };
}

/** Resolves with the first issuance for `name` that matches (already done counts). */
function issued(acme: AcmeManager, name: string, match: (e: IssuedEvent) => boolean = () => true): Promise<IssuedEvent> {
  return new Promise((resolve, reject) => {
    const onIssued = (e: IssuedEvent) => {
      if (e.name !== name || !match(e)) return;
      acme.off('issued', onIssued);
      acme.off('failed', onFailed);
      resolve(e);
    };
    const onFailed = (e: FailedEvent) => {
      if (e.name !== name) return;
      acme.off('issued', onIssued);
      acme.off('failed', onFailed);
      reject(new Error(`issuance for ${name} failed: ${e.reason}`));
    };
    acme.on('issued', onIssued);
    acme.on('failed', onFailed);
  });
}

function failed(acme: AcmeManager, name: string): Promise<FailedEvent> {
  return new Promise((resolve) => {
    const onFailed = (e: FailedEvent) => {
      if (e.name !== name) return;
      acme.off('failed', onFailed);
      resolve(e);
    };
    acme.on('failed', onFailed);
  });
}

/** The leaf the HTTPS port presents for `servername`, over a fresh TLS connection (chain checked when `ca` is given). */
async function served(port: number, servername: string, ca?: string): Promise<tls.PeerCertificate> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['http/1.1'], ...(ca ? { ca } : { rejectUnauthorized: false }) });
  await once(socket, 'secureConnect');
  const cert = socket.getPeerCertificate();
  socket.destroy();
  return cert;
}

function plainGet(port: number, host: string, urlPath: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, headers: { host } }, (res) => {
        res.resume();
        resolve(res);
      })
      .on('error', reject);
  });
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

test('HTTP-01: certificates for the private and the share host are issued, served by name, and kept owner-only', { timeout: 180_000 }, async () => {
  const ports = { httpPort: await freePort(), httpsPort: await freePort() };
  const pebble = await startPebble(ports);
  cleanups.push(() => pebble.stop());
  const g = await startAcmeGateway(pebble, ports);
  const [a, b] = await Promise.all([issued(g.acme, PRIVATE), issued(g.acme, SHARE)]);
  const root = await pebble.root();
  const privateLeaf = await served(g.httpsPort, PRIVATE, root);
  const shareLeaf = await served(g.httpsPort, SHARE, root);
  assert.equal(privateLeaf.serialNumber, a.serial);
  assert.equal(shareLeaf.serialNumber, b.serial);
  assert.notEqual(a.serial, b.serial);
  assert.match(privateLeaf.subjectaltname ?? '', new RegExp(`DNS:${PRIVATE.replace(/\./g, '\\.')}`));
  assert.match(shareLeaf.subjectaltname ?? '', new RegExp(`DNS:${SHARE.replace(/\./g, '\\.')}`));

  const dir = acmeDirFor(g.dataDir, pebble.directoryUrl);
  assert.equal(mode(dir), 0o700);
  assert.equal(mode(path.join(dir, 'certs')), 0o700);
  assert.equal(mode(path.join(dir, 'account.key.pem')), 0o600);
  for (const name of [PRIVATE, SHARE]) {
    assert.equal(mode(path.join(dir, 'certs', `${name}.key.pem`)), 0o600);
    assert.equal(mode(path.join(dir, 'certs', `${name}.crt.pem`)), 0o600);
  }

  // The HTTP port now sends browsers to HTTPS, keeps unknown hosts out, and answers no made-up challenge.
  const redirect = await plainGet(g.httpPort, PRIVATE, '/photos?x=1');
  assert.equal(redirect.statusCode, 308);
  assert.equal(redirect.headers.location, `https://${PRIVATE}:${g.httpsPort}/photos?x=1`);
  assert.equal((await plainGet(g.httpPort, 'elsewhere.test', '/')).statusCode, 421);
  assert.equal((await plainGet(g.httpPort, PRIVATE, '/.well-known/acme-challenge/not-a-token-we-made')).statusCode, 404);

  // HSTS on the HTTPS port, on both hosts.
  for (const host of [PRIVATE, SHARE]) {
    const res: http.IncomingMessage = await new Promise((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: g.httpsPort, servername: host, ca: root, path: '/', headers: { host } }, (r) => {
          r.resume();
          resolve(r);
        })
        .on('error', reject);
    });
    assert.equal(res.headers['strict-transport-security'], 'max-age=31536000', host);
  }

  // A restart serves the stored certificates at once, without asking the CA again.
  await g.gateway.close();
  const again = await startAcmeGateway(pebble, ports, { dataDir: g.dataDir });
  assert.equal((await served(again.httpsPort, PRIVATE, root)).serialNumber, a.serial);
  assert.equal(again.acme.current(SHARE)?.serial, b.serial);
});

test('TLS-ALPN-01: certificates are issued through the HTTPS port alone', { timeout: 180_000 }, async () => {
  const ports = { httpPort: await freePort(), httpsPort: await freePort() };
  const pebble = await startPebble(ports);
  cleanups.push(() => pebble.stop());
  const g = await startAcmeGateway(pebble, ports, { challenge: 'tls-alpn-01' });
  const [a, b] = await Promise.all([issued(g.acme, PRIVATE), issued(g.acme, SHARE)]);
  const root = await pebble.root();
  assert.equal((await served(g.httpsPort, PRIVATE, root)).serialNumber, a.serial);
  assert.equal((await served(g.httpsPort, SHARE, root)).serialNumber, b.serial);
  // Browsers still negotiate HTTP as before.
  const socket = tls.connect({ host: '127.0.0.1', port: g.httpsPort, servername: PRIVATE, ca: root, ALPNProtocols: ['http/1.1'] });
  await once(socket, 'secureConnect');
  assert.equal(socket.alpnProtocol, 'http/1.1');
  socket.destroy();
});

test('short-lived certificates are renewed and served without a restart; a failing challenge is reported and the old one keeps serving', { timeout: 240_000 }, async () => {
  const ports = { httpPort: await freePort(), httpsPort: await freePort() };
  const pebble = await startPebble({ ...ports, validitySeconds: 12 });
  cleanups.push(() => pebble.stop());
  const g = await startAcmeGateway(pebble, ports, { share: false });
  const first = await issued(g.acme, PRIVATE, (e) => !e.renewal);
  assert.equal((await served(g.httpsPort, PRIVATE)).serialNumber, first.serial);

  // A connection opened before the renewal, its request half sent (headers are allowed 20 s)...
  const open = tls.connect({ host: '127.0.0.1', port: g.httpsPort, servername: PRIVATE, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  await once(open, 'secureConnect');
  assert.equal(open.getPeerCertificate().serialNumber, first.serial);
  open.write(`GET / HTTP/1.1\r\nHost: ${PRIVATE}\r\n`);

  const renewed = await issued(g.acme, PRIVATE, (e) => e.renewal);
  assert.notEqual(renewed.serial, first.serial);
  // ...new handshakes get the new certificate, with no restart...
  assert.equal((await served(g.httpsPort, PRIVATE)).serialNumber, renewed.serial);
  // ...and the open connection was not dropped: it finishes its request on the old handshake.
  let answer = '';
  open.setEncoding('utf8').on('data', (c: string) => (answer += c));
  open.end('Connection: close\r\n\r\n');
  await once(open, 'close');
  assert.match(answer, /^HTTP\/1\.1 \d{3} /);

  // Now the name points where Porthole does not listen: the next renewal's challenge fails at the CA.
  await pebble.pointName(PRIVATE, '127.0.0.2');
  const failure = await failed(g.acme, PRIVATE);
  assert.match(failure.reason, /127\.0\.0\.2|connection refused|connect/i, 'the CA says what went wrong');
  assert.match(failure.check, /DNS/);
  assert.match(failure.check, /port 80/);
  assert.ok(failure.retryInMs > 0);
  const line = g
    .log()
    .split('\n')
    .find((l) => l.includes('not renewed'));
  assert.ok(line, 'the failure is logged');
  const entry = JSON.parse(line) as { level: number; msg: string; reason: string; check: string; name: string };
  assert.equal(entry.level, 50);
  assert.equal(entry.name, PRIVATE);
  assert.equal(entry.reason, failure.reason);
  assert.match(entry.msg, /keeps serving/);
  assert.equal((await served(g.httpsPort, PRIVATE)).serialNumber, renewed.serial, 'the last good certificate still serves');
  assert.equal(g.acme.current(PRIVATE)?.serial, renewed.serial);
});

test('a CA that requires external account binding: refused without the right key, issued with it (HMAC key from the environment)', { timeout: 180_000 }, async () => {
  const ports = { httpPort: await freePort(), httpsPort: await freePort() };
  const pebble = await startPebble({ ...ports, eabKeys: { 'kid-1': EAB_HMAC } });
  cleanups.push(() => pebble.stop());
  const without = await startAcmeGateway(pebble, ports, { share: false });
  const refused = await failed(without.acme, PRIVATE);
  assert.match(refused.reason, /externalAccountBinding/, 'the CA says what it wants');
  assert.match(refused.check, /tls\.acme\.eab/);
  await without.gateway.close();
  const bound = await startAcmeGateway(pebble, ports, { share: false, eab: { kid: 'kid-1', hmacKey: { env: 'TEST_EAB_HMAC' } } });
  const issuedNow = await issued(bound.acme, PRIVATE);
  assert.equal((await served(bound.httpsPort, PRIVATE, await pebble.root())).serialNumber, issuedNow.serial);
});
