// `porthole connect` loads the connector and nothing of the gateway. A connector runs for months on a small box
// next to Immich; the gate, the stores, the config schema (zod), the logger and WebAuthn would add about 35 MiB
// to it (issue 10, docs/performance.md "Tunnel memory"). Every module the process resolves is recorded by a
// module hook while it runs against a gateway that hangs up, and the list is checked against what only the
// gateway needs. The full program still lists every command (the help of `porthole` with no command).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { encodeToken } from '../../src/tunnel/token.js';
import { moduleHook } from './module-hook.js';

const MAIN = path.resolve('src/cli/main.ts');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-connect-imports-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** What a connector has no use for: the gateway's own code and the packages only it loads. */
const GATEWAY_ONLY = [
  /\/src\/gate\//,
  /\/src\/store\//,
  /\/src\/config\/(load|schema)\./,
  /\/src\/gateway\./,
  /\/src\/log\./,
  /\/src\/(proxy|share|admin|origin|listener|metrics|mail)\//,
  /\/node_modules\/(zod|yaml|pino|pino-pretty|better-sqlite3|@simplewebauthn\/server|prom-client|acme-client|nodemailer|playwright-core|rate-limiter-flexible|selfsigned)\//,
];

test('porthole connect resolves the connector and none of the gateway-only modules', async () => {
  // A "gateway" that accepts and hangs up at once: the connector logs that it cannot reach it and retries.
  const hangUp = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => hangUp.listen(0, '127.0.0.1', resolve));
  const port = (hangUp.address() as net.AddressInfo).port;
  const log = path.join(dir, 'resolved.txt');
  const token = encodeToken({ id: '0123456789ab', secret: 'a'.repeat(32), gateway: `127.0.0.1:${port}`, fingerprint: null });
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', moduleHook(dir, log), MAIN, 'connect', '--origin', 'http://127.0.0.1:9'], {
    env: { ...process.env, PORTHOLE_TUNNEL_TOKEN: token },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk;
        if (/tunnel: cannot reach the gateway/.test(stderr)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`porthole connect exited (${code}) before dialling: ${stderr}`)));
    });
  } finally {
    child.kill('SIGTERM');
    await exited;
    hangUp.close();
  }

  const resolved = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
  // The hook saw the run: the command line and the connector itself are in the list.
  assert.ok(
    resolved.some((url) => url.endsWith('/src/tunnel/connector.ts')),
    `the connector was not among the resolved modules:\n${resolved.join('\n')}`,
  );
  assert.ok(resolved.some((url) => url.endsWith('/node_modules/commander/esm.mjs')));
  const gatewayOnly = [...new Set(resolved.filter((url) => GATEWAY_ONLY.some((re) => re.test(url))))];
  assert.deepEqual(gatewayOnly, [], `porthole connect loaded gateway-only modules:\n${gatewayOnly.join('\n')}`);
});

test('porthole with no command still lists every command', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0);
  const listed = [...out.matchAll(/^ {2}(\w+) \[/gm)].map((m) => m[1]);
  assert.deepEqual(listed, ['init', 'serve', 'doctor', 'demo', 'sessions', 'audit', 'connect', 'tunnel', 'devices', 'passkeys', 'links', 'store']);
});
