// gate.allow changes without a restart: a reload (what SIGHUP does in `porthole serve`) takes someone off the
// list and their browser sessions, device tokens and pending codes stop working at once; other changed keys
// are named as needing a restart, with no values in the report; a broken file changes nothing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { changedKeys, planReload } from '../../src/config/reload.js';
import { addDevice } from '../../src/gate/devices.js';
import { CookieJar, startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
before(async () => {
  gate = await startTestGate({
    gate: { allow: ['alice@example.com', 'bob@example.com'], rateLimits: { verifiesPerIpPerHour: 1000, codesPerIpPerHour: 1000, codesPerAddressPerHour: 1000 } },
  });
});
after(() => gate?.close());

const ping = (jar: CookieJar, headers = {}) => gate.request('GET', '/api/server/ping', { jar, headers });
const withAllow = (allow: string[]) => ({ ...gate.config, gate: { ...gate.config.gate, allow } });

test('taking an address off gate.allow ends its session and device at once; putting it back restores them', async () => {
  const alice = await gate.signIn('alice@example.com');
  const bob = await gate.signIn('bob@example.com');
  const phone = addDevice(gate.gateway.deps.store, gate.config.gate.allow, { email: 'bob@example.com', name: 'phone' });
  const device = { 'x-porthole-device': phone.token };
  assert.equal((await ping(bob)).status, 200);
  assert.equal((await ping(new CookieJar(), device)).status, 200);

  const plan = gate.gateway.reload(withAllow(['alice@example.com']));
  assert.deepEqual(plan, { applied: ['gate.allow'], needRestart: [] });
  assert.equal((await ping(bob)).status, 401, 'a cached session must not outlive the reload');
  assert.equal((await ping(new CookieJar(), device)).status, 401);
  assert.equal((await ping(alice)).status, 200);
  // No code is mailed to the removed address any more (the answer looks the same as for anyone).
  const before = gate.smtp.count('bob@example.com');
  const handled = gate.codesHandled('bob@example.com');
  assert.equal((await gate.submit('/.porthole/login', { email: 'bob@example.com' }, new CookieJar())).status, 303);
  await gate.codeHandled('bob@example.com', handled + 1);
  assert.equal(gate.mailsHandedOver.filter((to) => to === 'bob@example.com').length, before, 'no mail handed to the mailer');
  assert.equal(gate.smtp.count('bob@example.com'), before);

  gate.gateway.reload(withAllow(['alice@example.com', 'bob@example.com']));
  assert.equal((await ping(bob)).status, 200);
});

test('a reload names other changed keys as needing a restart, without their values', () => {
  const next = {
    ...withAllow(gate.config.gate.allow),
    listen: { ...gate.config.listen, httpPort: 8081 },
    mail: { ...gate.config.mail, smtp: { ...gate.config.mail.smtp!, password: 'new-secret' } },
  };
  const plan = planReload(gate.config, next);
  assert.deepEqual(plan, { applied: [], needRestart: ['listen.httpPort', 'mail.smtp.password'] });
  assert.doesNotMatch(JSON.stringify(plan), /new-secret|8081/);
  assert.deepEqual(changedKeys({ a: [1, 2], b: { c: 1 } }, { a: [1, 2], b: { c: 1, d: 2 } }), ['b.d']);
});

test('porthole serve reloads on SIGHUP and keeps running when the new file is broken', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-reload-'));
  const file = path.join(dir, 'porthole.yaml');
  const config = (allow: string) =>
    `listen: { address: 127.0.0.1, httpPort: 0 }\nhosts: { private: photos.localhost }\npublicScheme: http\norigin: { url: "http://127.0.0.1:9" }\n` +
    `gate: { allow: [${allow}] }\nmail: { from: "porthole@example.com", transport: console }\ndataDir: ${JSON.stringify(path.join(dir, 'data'))}\n`;
  fs.writeFileSync(file, config('alice@example.com'));
  const child = spawn(process.execPath, ['bin/porthole.js', 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const waitFor = async (pattern: RegExp) => {
    for (let i = 0; i < 300 && !pattern.test(output); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.match(output, pattern);
  };
  try {
    await waitFor(/listening/);
    fs.writeFileSync(file, config('alice@example.com, bob@example.com'));
    child.kill('SIGHUP');
    await waitFor(/config reloaded.*gate\.allow|gate\.allow.*config reloaded/);
    fs.writeFileSync(file, config('"not an address"'));
    child.kill('SIGHUP');
    await waitFor(/config reload failed; nothing changed/);
    assert.match(output, /gate\.allow/);
    assert.equal(child.exitCode, null, 'a broken file must not stop the gateway');
  } finally {
    // An exit that already happened would never be announced again: wait only for a running child.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
