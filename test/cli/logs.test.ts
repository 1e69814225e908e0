// What `porthole serve` writes: readable lines on a terminal (pino-pretty), JSON lines on a pipe, and
// `log.format` overriding the guess; a warning at start while Immich cannot be reached, and one line when it
// answers again; one line per sign-in and share refusal kind, never one per request.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { watchOrigin } from '../../src/cli/origin-watch.js';
import { createLogger, createLogThrottle } from '../../src/log.js';
import { createDirectOrigin } from '../../src/origin/direct.js';

const BIN = path.resolve('bin/porthole.js');
const TERMINAL = path.resolve('test/cli/terminal.py');
let dir: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-logs-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function writeConfig(name: string, format?: string): Promise<string> {
  const file = path.join(dir, name);
  const origin = await closedPort();
  fs.writeFileSync(
    file,
    [
      `listen: { address: 127.0.0.1, httpPort: 0 }`,
      'hosts: { private: photos.porthole.test }',
      `origin: { url: "http://127.0.0.1:${origin}" }`,
      'gate: { allow: [me@porthole.test] }',
      'mail: { from: p@porthole.test, transport: console }',
      `dataDir: ./data-${name}`,
      ...(format ? [`log: { format: ${format} }`] : []),
    ].join('\n'),
  );
  return file;
}

/** Runs serve with stdout on a pipe until both lines are out, then stops it. */
async function serveOnPipe(file: string, until: RegExp[]): Promise<string> {
  const child = spawn(process.execPath, [BIN, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      if (until.every((r) => r.test(out))) resolve();
    });
    child.on('close', () => reject(new Error(`serve exited early: ${out}`)));
  });
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  return out;
}

test('on a pipe serve writes JSON lines, with a warning at start while Immich cannot be reached', { timeout: 120_000 }, async () => {
  const out = await serveOnPipe(await writeConfig('pipe.yaml'), [/"msg":"listening"/, /Immich cannot be reached/]);
  const lines = out
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { level: number; msg: string; problem?: string });
  const warning = lines.find((l) => /Immich cannot be reached/.test(l.msg));
  assert.ok(warning);
  assert.equal(warning.level, 40);
  assert.equal(warning.problem, 'ECONNREFUSED');
});

test('on a pseudo-terminal serve writes readable lines; log.format: json keeps JSON there', { timeout: 180_000 }, async () => {
  const onTerminal = (file: string) =>
    new Promise<{ code: number | null; transcript: string }>((resolve) => {
      const child = spawn('python3', [TERMINAL, JSON.stringify([['Immich cannot be reached', '\x03']]), process.execPath, BIN, 'serve', '--config', file], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TERM: 'xterm-256color' },
      });
      let transcript = '';
      child.stdout.on('data', (chunk: Buffer) => (transcript += chunk));
      child.stderr.on('data', (chunk: Buffer) => (transcript += chunk));
      child.on('close', (code) => resolve({ code, transcript }));
    });
  const pretty = await onTerminal(await writeConfig('tty.yaml'));
  assert.equal(pretty.code, 0, pretty.transcript);
  const plain = pretty.transcript.replace(/\x1b\[[0-9;]*m/g, '');
  assert.match(plain, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] INFO: listening/m);
  assert.match(plain, /WARN: Immich cannot be reached \(ECONNREFUSED\)/);
  assert.doesNotMatch(plain, /\{"level"/);

  const json = await onTerminal(await writeConfig('tty-json.yaml', 'json'));
  assert.equal(json.code, 0, json.transcript);
  assert.match(json.transcript, /\{"level":30,.*"msg":"listening"/);
});

test('the origin watch warns while Immich is down, again on the next check, and says when it answers again', { timeout: 60_000 }, async () => {
  const port = await closedPort();
  const sink = new PassThrough();
  let written = '';
  sink.on('data', (chunk: Buffer) => (written += chunk));
  const logger = createLogger('info', sink, 'json');
  const origin = createDirectOrigin(new URL(`http://127.0.0.1:${port}`));
  const watch = watchOrigin(origin, logger, 50);
  try {
    assert.equal(await watch.checked(), false);
    assert.equal(await watch.checked(), false);
    const immich = http.createServer((req, res) => res.end(req.url === '/api/server/ping' ? '{"res":"pong"}' : ''));
    await new Promise<void>((resolve) => immich.listen(port, '127.0.0.1', resolve));
    assert.equal(await watch.checked(), true);
    assert.equal(await watch.checked(), true);
    immich.closeAllConnections();
    await new Promise<void>((resolve) => immich.close(() => resolve()));
  } finally {
    watch.stop();
    await origin.close();
  }
  const lines = written
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { level: number; msg: string; downForSeconds?: number });
  const warnings = lines.filter((l) => l.level === 40 && /Immich cannot be reached/.test(l.msg));
  assert.ok(warnings.length >= 2, 'a warning on every check while down');
  const recovered = lines.filter((l) => l.msg === 'Immich answers again');
  assert.equal(recovered.length, 1, 'one recovery line, not one per check');
  assert.equal(recovered[0]!.level, 30);
  assert.equal(lines.indexOf(recovered[0]!), lines.length - 1, 'nothing after the recovery while it stays up');
});

test('the log throttle lets one line per kind through per interval and counts the rest', () => {
  let now = 0;
  const throttle = createLogThrottle(60_000, 1_000, () => now);
  const emitted: Array<[string, number]> = [];
  for (let i = 0; i < 1_000; i++) throttle.pass('not-found', (held) => emitted.push(['not-found', held]));
  throttle.pass('rate-limited', (held) => emitted.push(['rate-limited', held]));
  now = 61_000;
  throttle.pass('not-found', (held) => emitted.push(['not-found', held]));
  assert.deepEqual(emitted, [
    ['not-found', 0],
    ['rate-limited', 0],
    ['not-found', 999],
  ]);
});

test('one log line per sign-in and sign-out; share refusals: one line per kind, not one per request', { timeout: 120_000 }, async () => {
  const { startTestGate, SHARE_HOST } = await import('../gate/harness.js');
  const sink = new PassThrough();
  let written = '';
  sink.on('data', (chunk: Buffer) => (written += chunk));
  const gate = await startTestGate({}, { logger: createLogger('info', sink, 'json') });
  try {
    const jar = await gate.signIn('alice@example.com');
    const out = await gate.submit('/.porthole/logout', {}, jar);
    assert.equal(out.status, 303);
    for (let i = 0; i < 40; i++) {
      const refused = await gate.request('GET', `/api/albums/${i}`, { host: `${SHARE_HOST}:${gate.port}` });
      assert.equal(refused.status, 404);
    }
  } finally {
    await gate.close();
  }
  const lines = written
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { level: number; msg: string; email?: string; refusal?: string });
  const signedIn = lines.filter((l) => l.msg === 'signed in');
  const signedOut = lines.filter((l) => l.msg === 'signed out');
  assert.equal(signedIn.length, 1);
  assert.equal(signedIn[0]!.email, 'alice@example.com');
  assert.equal(signedOut.length, 1);
  const refusals = lines.filter((l) => l.msg === 'share host refused a request');
  assert.equal(refusals.length, 1, JSON.stringify(refusals));
  assert.match(refusals[0]!.refusal!, /^not-found: /);
});

test('a device token seen from a new address is one log line, not one per request', { timeout: 120_000 }, async () => {
  const { startTestGate } = await import('../gate/harness.js');
  const { addDevice, DEVICE_HEADER_NAME } = await import('../../src/gate/devices.js');
  const sink = new PassThrough();
  let written = '';
  sink.on('data', (chunk: Buffer) => (written += chunk));
  // The test's requests come through a "proxy" on loopback, which may name the phone's address.
  const gate = await startTestGate({ trustedProxies: ['127.0.0.1'] }, { logger: createLogger('info', sink, 'json') });
  try {
    const { token } = addDevice(gate.gateway.deps.store, gate.config.gate.allow, { email: 'alice@example.com', name: 'phone' });
    const from = async (ip: string) => {
      const reply = await gate.request('GET', '/api/server/ping', { headers: { [DEVICE_HEADER_NAME]: token, 'x-forwarded-for': ip } });
      assert.equal(reply.status, 200);
    };
    for (let i = 0; i < 5; i++) await from('203.0.113.5');
    for (let i = 0; i < 5; i++) await from('198.51.100.7');
  } finally {
    await gate.close();
  }
  const lines = written
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { msg: string; ip?: string; previousIp?: string | null });
  const seen = lines.filter((l) => l.msg === 'device token used from a new address');
  assert.deepEqual(
    seen.map((l) => [l.ip, l.previousIp]),
    [
      ['203.0.113.5', null],
      ['198.51.100.7', '203.0.113.5'],
    ],
  );
});
