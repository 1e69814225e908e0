// Requests, WebSockets, error propagation, half-close and status through a real tunnel: the real gateway
// in-process (gate, proxy and origin pool over tunnel streams), a connector in its own process and a small
// origin, all on loopback.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { startOrigin, type TestOrigin } from './fixtures/origin.js';
import { startGateway, tempDir, type TestGateway } from './fixtures/gateway.js';
import { spawnConnector, type ConnectorProcess } from './fixtures/connector-process.js';
import { readStatusFile } from '../../src/tunnel/status.js';
import { originRequest, readSmallBody } from '../../src/origin/request.js';

let origin: TestOrigin;
let gateway: TestGateway;
let connector: ConnectorProcess;
const data = tempDir();

before(async () => {
  origin = await startOrigin();
  gateway = await startGateway({ dataDir: data.dir });
  connector = spawnConnector({ token: gateway.newToken('home').token, origin: origin.url.href, name: 'home' });
  await connector.waitFor('connected');
  await gateway.waitForConnectors(1);
});

after(async () => {
  await connector.kill();
  await gateway.close();
  await origin.close();
  data.remove();
});

test('offline origin reports tunnel-offline before any connector, then null', async () => {
  const d = tempDir();
  const g = await startGateway({ dataDir: d.dir });
  try {
    assert.deepEqual(g.hub.origin.unavailable(), { kind: 'tunnel-offline', since: null });
    const reply = await g.request('/hello', { headers: { accept: 'text/html' } });
    assert.equal(reply.status, 503);
    assert.match(reply.body.toString(), /home connector is offline/);
  } finally {
    await g.close();
    d.remove();
  }
  assert.equal(gateway.hub.origin.unavailable(), null);
});

test('GET and POST go through the tunnel to the configured origin', async () => {
  const hello = await gateway.request('/hello');
  assert.equal(hello.status, 200);
  assert.equal(hello.body.toString(), 'hello GET photos.localhost');
  const payload = Buffer.from('x'.repeat(300_000));
  const echo = await gateway.request('/echo', { method: 'POST', body: payload });
  assert.equal(echo.status, 200);
  assert.ok(echo.body.equals(payload));
});

test('many concurrent keep-alive requests all succeed', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  try {
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => gateway.request(`/small?n=${i * 10}`, { agent })));
    replies.forEach((r, i) => {
      assert.equal(r.status, 200);
      assert.equal(r.body.length, i * 10);
    });
  } finally {
    agent.destroy();
  }
});

test('the connector dials only its configured origin, whatever address the gateway uses', async () => {
  // A decoy listening elsewhere must never be reached even though the gateway's target names it.
  const decoy = net.createServer((s) => s.destroy());
  let decoyHits = 0;
  decoy.on('connection', () => decoyHits++);
  await new Promise<void>((r) => decoy.listen(0, '127.0.0.1', r));
  const decoyPort = (decoy.address() as net.AddressInfo).port;
  try {
    const answer = await originRequest(gateway.hub.origin, { path: '/hello', headers: { host: `127.0.0.1:${decoyPort}` }, timeoutMs: 30_000 });
    const reply = (await readSmallBody(answer.body, 1024))!.toString();
    assert.equal(reply, `hello GET 127.0.0.1:${decoyPort}`);
    assert.equal(decoyHits, 0);
  } finally {
    decoy.close();
  }
});

test('WebSocket upgrade passes through the tunnel', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${gateway.httpPort}/ws`, { headers: gateway.headers });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const received: string[] = [];
  const done = new Promise<void>((resolve) =>
    ws.on('message', (m) => {
      received.push(m.toString());
      if (received.length === 3) resolve();
    }),
  );
  ws.send('one');
  ws.send('two');
  ws.send('x'.repeat(200_000));
  await done;
  assert.deepEqual(received.slice(0, 2), ['one', 'two']);
  assert.equal(received[2]!.length, 200_000);
  ws.close();
});

test('half-close passes through: the origin sees EOF and can still answer', async () => {
  // A raw origin that reads until the peer's FIN, then answers with what it got.
  const raw = net.createServer((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => s.end(`got ${Buffer.concat(chunks).length} bytes then EOF`));
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  const d = tempDir();
  const g = await startGateway({ dataDir: d.dir });
  const c = spawnConnector({ token: g.newToken().token, origin: `http://127.0.0.1:${(raw.address() as net.AddressInfo).port}` });
  try {
    await g.waitForConnectors(1);
    const socket = g.hub.origin.pool.openRaw();
    const answer = new Promise<string>((resolve, reject) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    socket.write('abc');
    socket.end('defg');
    assert.equal(await answer, 'got 7 bytes then EOF');
  } finally {
    await c.kill();
    await g.close();
    d.remove();
    raw.close();
  }
});

test("an unreachable origin fails the request with the connector's error code", async () => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const d = tempDir();
  const g = await startGateway({ dataDir: d.dir });
  const c = spawnConnector({ token: g.newToken().token, origin: `http://127.0.0.1:${port}` });
  try {
    await g.waitForConnectors(1);
    const reply = await g.request('/hello');
    assert.equal(reply.status, 502);
    // The connector's ECONNREFUSED, carried back over the tunnel, is what names the cause.
    assert.match(reply.body.toString(), /refused the connection/);
  } finally {
    await c.kill();
    await g.close();
    d.remove();
  }
});

test('browsers on the TLS port get HTTP/1.1 from the HTTP server, not the tunnel (HTTP/2 there: test/h2)', async () => {
  const reply = await new Promise<{ status: number; body: string; alpn: string | false | null }>((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port: gateway.tlsPort,
        path: '/hello',
        headers: gateway.headers,
        ca: gateway.certificate.cert,
        servername: 'photos.localhost',
        // An HTTP/1.1 client: offering h2 as well would get h2, which node:https does not speak.
        ALPNProtocols: ['http/1.1'],
      } as https.RequestOptions,
      (res) => {
        const alpn = (res.socket as import('node:tls').TLSSocket).alpnProtocol;
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, alpn }));
      },
    );
    req.on('error', reject);
  });
  assert.equal(reply.alpn, 'http/1.1');
  assert.equal(reply.status, 200);
  assert.equal(reply.body, 'hello GET photos.localhost');
});

test('status names each connector with id, address, streams and bytes, and is written for the CLI', async () => {
  await gateway.request('/hello');
  const live = gateway.hub.status();
  assert.equal(live.connectors.length, 1);
  const c = live.connectors[0]!;
  assert.equal(c.name, 'home');
  assert.match(c.id, /^[0-9a-f]{8}$/);
  assert.match(c.remoteAddress, /^127\.0\.0\.1:\d+$/);
  assert.ok(c.bytesIn > 0 && c.bytesOut > 0);
  assert.ok(c.streamsTotal >= 1);
  assert.ok(fs.existsSync(gateway.statusFile));
  const written = readStatusFile(gateway.statusFile);
  assert.equal(written?.connectors[0]?.id, c.id);
});

test('an origin closing an idle keep-alive connection is not reused for the next request', async () => {
  const quick = http.createServer((req, res) => res.end(`ok ${req.url}`));
  quick.keepAliveTimeout = 100;
  await new Promise<void>((r) => quick.listen(0, '127.0.0.1', r));
  const d = tempDir();
  const g = await startGateway({ dataDir: d.dir });
  const c = spawnConnector({ token: g.newToken().token, origin: `http://127.0.0.1:${(quick.address() as net.AddressInfo).port}` });
  const get = async (path: string) => {
    const answer = await originRequest(g.hub.origin, { path, timeoutMs: 30_000 });
    return (await readSmallBody(answer.body, 1024))!.toString();
  };
  // The origin's side of each connection, to wait for its idle close.
  const originSockets: net.Socket[] = [];
  quick.on('connection', (socket) => originSockets.push(socket));
  try {
    await g.waitForConnectors(1);
    assert.equal(await get('/one'), 'ok /one');
    // The origin drops the idle connection; the tunnel stream must close with it (the hub counts open streams).
    const first = originSockets[0]!;
    await new Promise((r) => (first.destroyed ? r(null) : first.once('close', r)));
    while (g.hub.status().connectors[0]!.openStreams > 0) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await get('/two'), 'ok /two');
    // Answered on a new stream, not by retrying on the dead one.
    assert.equal(g.hub.origin.pool.staleRetries, 0);
    assert.equal(originSockets.length, 2);
  } finally {
    await c.kill();
    await g.close();
    d.remove();
    quick.closeAllConnections();
    quick.close();
  }
});
