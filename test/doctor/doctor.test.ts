import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { parseConfig } from '../../src/config/load.js';
import { runDoctor, type CheckResult } from '../../src/doctor/checks.js';
import { startSampleImmich, type SampleImmich } from '../fixtures/sample-immich/server.js';

let immich: SampleImmich;
let smtp: SMTPServer;
let smtpPort: number;
let dataDir: string;

before(async () => {
  immich = await startSampleImmich();
  smtp = new SMTPServer({
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    onAuth(auth, _session, callback) {
      if (auth.username === 'porthole' && auth.password === 'right') return callback(null, { user: 'porthole' });
      callback(new Error('Invalid username or password'));
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  smtpPort = (smtp.server.address() as net.AddressInfo).port;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-doctor-'));
});

after(async () => {
  await immich.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function configWith(origin: string, password = 'right') {
  return parseConfig({
    listen: { address: '127.0.0.1', httpPort: 0 },
    hosts: { private: 'photos.example.com', share: 'share.example.com' },
    origin: { url: origin },
    gate: { allow: ['a@example.com'] },
    mail: { from: 'p@example.com', smtp: { host: '127.0.0.1', port: smtpPort, security: 'none', user: 'porthole', password } },
    dataDir,
  });
}

const find = (results: CheckResult[], name: string) => {
  const found = results.find((r) => r.name === name);
  assert.ok(found, `no check named ${name}`);
  return found;
};

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('a healthy setup passes every check', async () => {
  const results = await runDoctor(configWith(immich.url));
  for (const name of ['origin host name resolves', 'origin answers like Immich', 'data directory is writable', 'mail server accepts us', 'listen port is free']) {
    assert.equal(find(results, name).verdict, 'pass', JSON.stringify(find(results, name)));
  }
});

test('an origin name that does not resolve points at the Docker network', async () => {
  const results = await runDoctor(configWith('http://immich-server.invalid:2283'));
  const check = find(results, 'origin host name resolves');
  assert.equal(check.verdict, 'fail');
  assert.match(check.fix ?? '', /same Docker network/);
});

test('a closed origin port says Immich is not running or the port is wrong', async () => {
  const port = await closedPort();
  const check = find(await runDoctor(configWith(`http://127.0.0.1:${port}`)), 'origin answers like Immich');
  assert.equal(check.verdict, 'fail');
  assert.match(check.detail, /ECONNREFUSED/);
  assert.match(check.fix ?? '', /is Immich running/);
});

test('an origin that is not Immich is recognised', async () => {
  const other = http.createServer((_req, res) => res.end('hello'));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const { port } = other.address() as net.AddressInfo;
  const check = find(await runDoctor(configWith(`http://127.0.0.1:${port}`)), 'origin answers like Immich');
  other.closeAllConnections();
  await new Promise<void>((resolve) => other.close(() => resolve()));
  assert.equal(check.verdict, 'fail');
  assert.match(check.fix ?? '', /points at something else/);
});

test('a wrong SMTP password is reported as such', async () => {
  const check = find(await runDoctor(configWith(immich.url, 'wrong')), 'mail server accepts us');
  assert.equal(check.verdict, 'fail');
  assert.match(check.detail, /EAUTH/);
  assert.match(check.fix ?? '', /user or password is wrong/);
});

test('porthole doctor exits 1 and prints the fix when a check fails', async () => {
  const port = await closedPort();
  const file = path.join(dataDir, 'porthole.yaml');
  fs.writeFileSync(
    file,
    [
      'listen: { address: 127.0.0.1, httpPort: 0 }',
      'hosts: { private: photos.example.com }',
      `origin: { url: "http://127.0.0.1:${port}" }`,
      'gate: { allow: [a@example.com] }',
      'mail: { from: p@example.com, transport: console }',
      `dataDir: ${JSON.stringify(dataDir)}`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['bin/porthole.js', 'doctor', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 1);
  assert.match(out, /\[FAIL\] origin answers like Immich/);
  assert.match(out, /fix: Nothing listens there/);
  assert.match(out, /\[warn\] mail server accepts us: mail.transport is console/);
});
