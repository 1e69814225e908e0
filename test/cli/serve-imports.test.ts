// `porthole serve` loads the heavy optional packages only when the config asks for what they do: the Redis
// client for store.kind redis, acme-client for tls.acme, prom-client for metrics.listen, the WebAuthn library at
// the first passkey ceremony, selfsigned when a certificate must be made, pino-pretty on a terminal. Together
// they were about 40 MiB of an idle gateway's 127 MiB (docs/performance.md). A module hook records every module
// the gateway resolves while it starts and answers a request; the list must hold none of them, and the same
// gateway with metrics switched on must load prom-client (so the hook is seen to work).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { moduleHook } from './module-hook.js';

const MAIN = path.resolve('src/cli/main.ts');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-serve-imports-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const OPTIONAL = /\/node_modules\/(ioredis|acme-client|prom-client|@simplewebauthn\/server|selfsigned|pino-pretty)\//;

/** Starts `porthole serve` with `extra` config lines, waits until it answers, and returns what it resolved. */
async function resolvedBy(name: string, extra: string): Promise<string[]> {
  const log = path.join(dir, `${name}.txt`);
  const config = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(
    config,
    [
      'listen: { address: 127.0.0.1, httpPort: 0 }',
      'hosts: { private: photos.localhost, share: share.localhost }',
      'publicScheme: http',
      'origin: { url: "http://127.0.0.1:9" }',
      'gate: { allow: ["alice@example.com"] }',
      'mail: { from: "Porthole <porthole@example.com>", transport: console }',
      `dataDir: ${JSON.stringify(path.join(dir, `${name}-data`))}`,
      'log: { format: json }',
      extra,
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', moduleHook(dir, log), MAIN, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk;
        const listening = /"port":(\d+)[^\n]*"msg":"listening"/.exec(out);
        if (listening) resolve(Number(listening[1]));
      });
      child.stderr.on('data', (chunk: Buffer) => (out += chunk));
      child.once('exit', (code) => reject(new Error(`porthole serve exited (${code}) before listening: ${out}`)));
    });
    // One request through the gate, so modules loaded on first use by every visitor would show up too.
    const status = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', headers: { host: 'photos.localhost', accept: 'text/html' } }, (res) => (res.resume(), resolve(res.statusCode ?? 0)))
        .on('error', reject);
    });
    assert.equal(status, 302, 'the gate sent the visitor to sign in');
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  return fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
}

test('porthole serve with a plain config loads none of the optional heavy packages', async () => {
  const resolved = await resolvedBy('plain', '');
  assert.ok(
    resolved.some((url) => url.endsWith('/src/gateway.ts')),
    'the hook saw the gateway start',
  );
  const loaded = [...new Set(resolved.filter((url) => OPTIONAL.test(url)))];
  assert.deepEqual(loaded, [], `porthole serve loaded packages its config does not use:\n${loaded.join('\n')}`);
});

test('the same gateway with metrics switched on loads prom-client', async () => {
  const resolved = await resolvedBy('metrics', 'metrics: { listen: "127.0.0.1:0" }');
  assert.ok(
    resolved.some((url) => /\/node_modules\/prom-client\//.test(url)),
    'prom-client was not loaded with metrics.listen set',
  );
});
