// WebSocket upgrades through the proxy (Immich's socket.io lives at /api/socket.io): data both ways, close
// propagated from either side, an origin refusing the upgrade relayed as-is, an unreachable origin as 502.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { startHarness, HOST, type Harness } from './harness.js';
import { startTestOrigin, type TestOrigin } from './test-origin.js';
import { startSampleImmich, type SampleImmich } from '../../src/demo/sample-immich/server.js';

let immich: SampleImmich;
let origin: TestOrigin;
let toImmich: Harness;
let toOrigin: Harness;

before(async () => {
  immich = await startSampleImmich();
  origin = await startTestOrigin();
  toImmich = await startHarness({ originUrl: immich.url });
  toOrigin = await startHarness({ originUrl: origin.url });
});
after(async () => {
  await toImmich.close();
  await toOrigin.close();
  await immich.close();
  await origin.close();
});

function open(port: number, path: string): WebSocket {
  return new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host: HOST } });
}

const once = <T>(ws: WebSocket, event: string) =>
  new Promise<T>((resolve, reject) => {
    ws.once(event, (...args: unknown[]) => resolve((args.length > 1 ? args : args[0]) as T));
    if (event !== 'error') ws.once('error', reject);
  });

test('socket.io WebSocket is proxied with text and binary both ways', async () => {
  const ws = open(toImmich.port, '/api/socket.io/?EIO=4&transport=websocket');
  await once(ws, 'open');
  ws.send('hello immich');
  const [text] = await once<[Buffer, boolean]>(ws, 'message');
  assert.equal(String(text), 'hello immich');
  const blob = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i & 0xff));
  ws.send(blob);
  const [echoed, isBinary] = await once<[Buffer, boolean]>(ws, 'message');
  assert.equal(isBinary, true);
  assert.deepEqual(echoed, blob);
  const upgrade = immich.received.filter((r) => r.url.startsWith('/api/socket.io')).at(-1)!;
  assert.equal(upgrade.headers.upgrade, 'websocket');
  assert.equal(upgrade.headers['x-forwarded-for'], '127.0.0.1');
  ws.close();
  await once(ws, 'close');
});

test('a close from the client reaches the origin', async () => {
  const ws = open(toOrigin.port, '/ws');
  await once(ws, 'open');
  ws.send('ping');
  await once(ws, 'message');
  const originClosed = new Promise<void>((resolve) => origin.events.once('ws-closed', () => resolve()));
  ws.close(1000, 'bye');
  const [code] = await once<[number, Buffer]>(ws, 'close');
  assert.equal(code, 1000);
  await originClosed;
});

test('a close from the origin reaches the client with its code', async () => {
  const ws = open(toOrigin.port, '/ws');
  await once(ws, 'open');
  ws.send('close-please');
  const [code, reason] = await once<[number, Buffer]>(ws, 'close');
  assert.equal(code, 4001);
  assert.equal(String(reason), 'asked');
});

test('a client that vanishes without a close frame tears down the origin socket', async () => {
  // Count what the origin's WebSocket server still holds open through a raw upgrade we then cut.
  const socket = net.connect({ port: toOrigin.port, host: '127.0.0.1' });
  socket.write(
    `GET /ws HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const head = await new Promise<string>((resolve) => socket.once('data', (chunk) => resolve(chunk.toString('latin1'))));
  assert.match(head, /^HTTP\/1\.1 101 /);
  const originClosed = new Promise<void>((resolve) => origin.events.once('ws-closed', () => resolve()));
  socket.destroy();
  await originClosed;
});

test('an origin refusing the upgrade is relayed as its own answer', async () => {
  const ws = open(toOrigin.port, '/refuse-upgrade');
  const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => reject(new Error('upgrade should have been refused')));
    ws.on('error', () => {});
  });
  assert.equal(response.status, 403);
  assert.equal(response.body, 'no ws\n');
});

test('an unreachable origin refuses the upgrade with 502', async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const down = await startHarness({ originUrl: `http://127.0.0.1:${port}` });
  try {
    const ws = open(down.port, '/api/socket.io/?EIO=4&transport=websocket');
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => {});
    });
    assert.equal(status, 502);
  } finally {
    await down.close();
  }
});

test('shutting the listener down ends open WebSockets instead of waiting for them', { timeout: 10_000 }, async () => {
  const proxy = await startHarness({ originUrl: origin.url });
  const ws = open(proxy.port, '/ws');
  await once(ws, 'open');
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  ws.on('error', () => {});
  // Without the listener ending upgraded sockets, close() would never resolve while this socket is open.
  await proxy.close();
  await closed;
});
