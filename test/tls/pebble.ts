// Test harness: Debian's pebble (a small ACME CA made for tests) on loopback with its own TLS certificate,
// and pebble-challtestsrv as its DNS server, so every name resolves to 127.0.0.1 unless a test points one
// elsewhere. Pebble then really validates HTTP-01 and TLS-ALPN-01 against the gateway's ports.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import acme from 'acme-client';
import { generate } from 'selfsigned';

import { freePort } from '../ports.js';

export { freePort };

export interface Pebble {
  directoryUrl: string;
  /** Pebble's root for the certificates it issues (regenerated at every start). */
  root(): Promise<string>;
  /** Points `name` at `address` in the test DNS (127.0.0.2 has nobody listening: validation fails). */
  pointName(name: string, address: string): Promise<void>;
  /** Serials of the certificates pebble issued so far, in order (from its own log). */
  issuedSerials(): string[];
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** Where pebble validates HTTP-01 and TLS-ALPN-01: the gateway's plain and HTTPS ports. */
  httpPort: number;
  httpsPort: number;
  /** Certificate lifetime in seconds (pebble's default is five years). */
  validitySeconds?: number;
  /** Require external account binding with these key ids and base64url HMAC keys. */
  eabKeys?: Record<string, string>;
}

function waitForExitOnStop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res
          .setEncoding('utf8')
          .on('data', (c) => (body += c))
          .on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** pebble-challtestsrv's management API is plain HTTP on loopback. */
function post(url: string, json: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify(json));
  });
}

export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-pebble-'));
  const own = await generate([{ name: 'commonName', value: 'pebble' }], {
    keyType: 'ec',
    curve: 'P-256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7 as const, ip: '127.0.0.1' }] }],
  });
  fs.writeFileSync(path.join(dir, 'cert.pem'), own.cert);
  fs.writeFileSync(path.join(dir, 'key.pem'), own.private);
  const [acmePort, mgmtPort, dnsPort, dnsMgmtPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  fs.writeFileSync(
    path.join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: path.join(dir, 'cert.pem'),
        privateKey: path.join(dir, 'key.pem'),
        httpPort: options.httpPort,
        tlsPort: options.httpsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: Boolean(options.eabKeys),
        ...(options.eabKeys ? { externalAccountMACKeys: options.eabKeys } : {}),
        ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
      },
    }),
  );
  const dns = spawn(
    'pebble-challtestsrv',
    ['-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${dnsMgmtPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  dns.stderr!.resume();
  const pebble = spawn('pebble', ['-config', path.join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], {
    // No artificial validation delays, no nonce rejections, and every order validated afresh (no reused authorizations).
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  pebble.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
  pebble.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  // Ready when pebble says so on its output (it prints its listening line once serving).
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (/Listening on/i.test(output)) resolve();
    };
    pebble.stdout!.on('data', check);
    pebble.stderr!.on('data', check);
    pebble.once('exit', (code) => reject(new Error(`pebble exited (${code}): ${output}`)));
  });
  // acme-client's shared HTTP client must trust pebble's own certificate (tests only).
  acme.axios.defaults.httpsAgent = new https.Agent({ ca: own.cert });
  return {
    directoryUrl,
    async root() {
      const res = await get(`https://127.0.0.1:${mgmtPort}/roots/0`, own.cert);
      if (res.status !== 200) throw new Error(`pebble root: ${res.status}`);
      return res.body;
    },
    issuedSerials: () => [...output.matchAll(/Issued certificate serial ([0-9a-f]+) for order/gi)].map((m) => m[1]!),
    async pointName(name, address) {
      const status = await post(`http://127.0.0.1:${dnsMgmtPort}/add-a`, { host: `${name}.`, addresses: [address] });
      if (status !== 200) throw new Error(`challtestsrv add-a: ${status}`);
    },
    async stop() {
      await Promise.all([waitForExitOnStop(pebble), waitForExitOnStop(dns)]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
