// The HTTPS port without ACME: certificate files and the self-signed mode keep working, HSTS is on by default
// and can be turned off, and the HTTP port redirects to HTTPS only when asked (tls.redirectHttp).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, test } from 'node:test';
import { generate } from 'selfsigned';
import { parseConfig } from '../../src/config/load.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';

const PRIVATE = 'photos.localhost';
const opened: Gateway[] = [];
after(async () => {
  for (const g of opened) await g.close();
});

async function gatewayWith(tlsConfig: Record<string, unknown>): Promise<Gateway> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-tls-modes-'));
  const config = parseConfig({
    listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    hosts: { private: PRIVATE, share: 'share.localhost' },
    origin: { url: 'http://127.0.0.1:9' },
    gate: { allow: ['a@example.com'] },
    mail: { from: 'p@example.com', transport: 'console' },
    dataDir,
    tls: tlsConfig,
  });
  const gateway = await startGateway(config, createConsoleMailer(), silentLogger);
  opened.push(gateway);
  return gateway;
}

function httpsGet(gateway: Gateway, ca: string): Promise<{ res: http.IncomingMessage; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port: gateway.https!.port, servername: PRIVATE, ca, path: '/', headers: { host: PRIVATE }, agent: false }, (res) => {
        res.resume();
        resolve({ res, fingerprint: (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256.replace(/:/g, '').toLowerCase() });
      })
      .on('error', reject);
  });
}

function httpGet(gateway: Gateway): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: gateway.httpPort, path: '/x', headers: { host: PRIVATE }, agent: false }, (res) => {
        res.resume();
        resolve(res);
      })
      .on('error', reject);
  });
}

test('certificate files are served as given, with HSTS, and plain HTTP is not redirected unless asked', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-tls-files-'));
  const pems = await generate([{ name: 'commonName', value: PRIVATE }], {
    keyType: 'ec',
    curve: 'P-256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2 as const, value: PRIVATE }] }],
  });
  fs.writeFileSync(path.join(dir, 'cert.pem'), pems.cert);
  fs.writeFileSync(path.join(dir, 'key.pem'), pems.private);
  const gateway = await gatewayWith({ certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') });
  const { res, fingerprint } = await httpsGet(gateway, pems.cert);
  assert.equal(fingerprint, gateway.https!.certificate.fingerprint);
  assert.equal(gateway.https!.certificate.selfSigned, false);
  assert.equal(res.headers['strict-transport-security'], 'max-age=31536000');
  const plain = await httpGet(gateway);
  assert.notEqual(plain.statusCode, 308);
  assert.equal(plain.headers['strict-transport-security'], undefined, 'never over plain HTTP');
});

test('self-signed mode still works; HSTS can be turned off; redirectHttp sends plain HTTP to HTTPS', async () => {
  const gateway = await gatewayWith({ hsts: false, redirectHttp: true });
  assert.equal(gateway.https!.certificate.selfSigned, true);
  const { res } = await httpsGet(gateway, gateway.https!.certificate.cert);
  assert.equal(res.headers['strict-transport-security'], undefined);
  const plain = await httpGet(gateway);
  assert.equal(plain.statusCode, 308);
  assert.equal(plain.headers.location, `https://${PRIVATE}:${gateway.https!.port}/x`);

  const withSubdomains = await gatewayWith({ hsts: { maxAge: '30d', includeSubDomains: true } });
  const again = await httpsGet(withSubdomains, withSubdomains.https!.certificate.cert);
  assert.equal(again.res.headers['strict-transport-security'], 'max-age=2592000; includeSubDomains');
});
