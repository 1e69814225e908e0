// The whole gateway in tunnel mode, as `porthole serve` runs it: the HTTPS port split between browsers and
// the home connector (the real `porthole connect` in its own process), the gate's PIN flow, Immich's
// WebSocket and the share host, all reaching the sample Immich only through the tunnel.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { createTunnelToken, encodeToken, openTunnelTokenStore } from '../../src/tunnel/index.js';
import { startTestGate, SHARE_HOST, type TestGate } from '../gate/harness.js';
import { until } from '../until.js';

let gate: TestGate;
let connector: ChildProcess | undefined;
let token: string;

function startConnector(): ChildProcess {
  const child = spawn(process.execPath, ['bin/porthole.js', 'connect', '--origin', gate.origin.url, '--name', 'test-home'], {
    env: { ...process.env, PORTHOLE_TUNNEL_TOKEN: token },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.resume();
  return child;
}

before(async () => {
  gate = await startTestGate({
    listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    tunnel: { enabled: true, publicAddress: '127.0.0.1:443' },
  });
  const tokens = openTunnelTokenStore(gate.dataDir);
  const { id, secret } = createTunnelToken(tokens.store, 'test-home');
  tokens.close();
  const { port, certificate } = gate.gateway.https!;
  token = encodeToken({ id, secret, gateway: `127.0.0.1:${port}`, fingerprint: certificate.fingerprint });
});

after(async () => {
  if (connector && connector.exitCode === null) {
    connector.kill('SIGKILL');
    await new Promise((resolve) => connector!.once('exit', resolve));
  }
  await gate.close();
});

test('without a connector the private host says the home connector is offline, and nothing is forwarded', async () => {
  assert.match(gate.gateway.deps.origin.describe(), /^tunnel/);
  const jar = await gate.signIn('alice@example.com');
  const before = gate.origin.received.length;
  const page = await gate.request('GET', '/photos', { jar, headers: { accept: 'text/html' } });
  assert.equal(page.status, 503);
  assert.match(page.body, /home connector is offline/);
  const share = await gate.request('GET', '/api/server/config', { host: `${SHARE_HOST}:${gate.port}` });
  assert.equal(share.status, 503);
  assert.equal(gate.origin.received.length, before);
});

test('with the connector running, the PIN flow, the API and the share host work through the tunnel', async () => {
  connector = startConnector();
  await until(() => gate.gateway.deps.origin.unavailable() === null, 'the connector to attach');
  const jar = await gate.signIn('alice@example.com');
  const ping = await gate.request('GET', '/api/server/ping', { jar });
  assert.equal(ping.status, 200);
  assert.deepEqual(JSON.parse(ping.body), { res: 'pong' });
  assert.equal((await gate.request('GET', '/api/server/ping')).status, 401, 'the gate still comes first');
  const share = await gate.request('GET', '/api/server/config', { host: `${SHARE_HOST}:${gate.port}` });
  assert.equal(share.status, 200);
  assert.ok(gate.origin.received.some((r) => r.url === '/api/server/ping'));
});

test('browsers on the HTTPS port get the same gate, and Immich hears X-Forwarded-Proto https', async () => {
  const { port, certificate } = gate.gateway.https!;
  const get = (cookie?: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const headers: Record<string, string> = { host: `photos.localhost:${port}` };
      if (cookie) headers.cookie = cookie;
      const req = https.request(
        { host: '127.0.0.1', port, path: '/api/debug/echo', method: 'GET', headers, ca: certificate.cert, servername: 'photos.localhost', agent: false },
        (response) => {
          let body = '';
          response.on('data', (c: Buffer) => (body += c));
          response.on('end', () => resolve({ status: response.statusCode!, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  assert.equal((await get()).status, 401, 'unauthenticated over HTTPS too');
  const jar = await gate.signIn('alice@example.com');
  const echoed = await get(jar.header());
  assert.equal(echoed.status, 200);
  const seen = JSON.parse(echoed.body) as { headers: Record<string, string> };
  assert.equal(seen.headers['x-forwarded-proto'], 'https');
  assert.equal(seen.headers.cookie, undefined, "Porthole's cookie never reaches Immich");
});

test('a WebSocket to Immich passes through the gate and the tunnel', async () => {
  const jar = await gate.signIn('alice@example.com');
  const ws = new WebSocket(`ws://127.0.0.1:${gate.port}/api/socket.io/?EIO=4&transport=websocket`, {
    headers: { host: gate.host, cookie: jar.header() },
  });
  const echoed = await new Promise<string>((resolve, reject) => {
    ws.once('open', () => ws.send('hello through the tunnel'));
    ws.once('message', (data) => resolve(String(data)));
    ws.once('error', reject);
  });
  ws.close();
  assert.equal(echoed, 'hello through the tunnel');
});

test('after the connector is killed the offline page is back; a new connector restores service', async () => {
  connector!.kill('SIGKILL');
  await new Promise((resolve) => connector!.once('exit', resolve));
  await until(() => gate.gateway.deps.origin.unavailable() !== null, 'the gateway to notice the connector is gone');
  const jar = await gate.signIn('alice@example.com');
  assert.equal((await gate.request('GET', '/api/server/ping', { jar })).status, 503);
  connector = startConnector();
  await until(() => gate.gateway.deps.origin.unavailable() === null, 'the new connector to attach');
  assert.equal((await gate.request('GET', '/api/server/ping', { jar })).status, 200);
});
