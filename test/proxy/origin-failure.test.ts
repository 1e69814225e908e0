// When the origin cannot be reached or breaks part-way: a clear 502 naming the cause and the likely fix,
// never a hang, and never a truncated message that looks complete (in either direction).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startHarness, rawExchange, request, statusOf, HOST, type Harness } from './harness.js';
import { startTestOrigin, type SeenRequest, type TestOrigin } from './test-origin.js';

let origin: TestOrigin;
let proxy: Harness;

before(async () => {
  origin = await startTestOrigin();
  proxy = await startHarness({ originUrl: origin.url });
});
after(async () => {
  await proxy.close();
  await origin.close();
});

/** A port that was just free: nothing listens there. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function throughBrokenOrigin(originUrl: string, extra: Partial<Parameters<typeof startHarness>[0]> = {}) {
  const broken = await startHarness({ originUrl, ...extra });
  try {
    const json = await request(broken.port, { path: '/api/albums' });
    const html = await request(broken.port, { path: '/photos', headers: { accept: 'text/html' } });
    return { json: { status: json.status, body: JSON.parse(json.body.toString()) }, html: { status: html.status, body: html.body.toString() } };
  } finally {
    await broken.close();
  }
}

test('origin unreachable, connection refused: 502 naming the cause and the fix', async () => {
  const { json, html } = await throughBrokenOrigin(`http://127.0.0.1:${await closedPort()}`);
  assert.equal(json.status, 502);
  assert.equal(json.body.error, 'origin-unreachable');
  assert.match(json.body.message, /refused the connection/);
  assert.match(json.body.message, /not running|another port/);
  assert.equal(html.status, 502);
  assert.match(html.body, /Immich cannot be reached/);
  assert.match(html.body, /ECONNREFUSED/);
  // The stable code next to the system's: what the page shows is the same whatever carried the request.
  assert.match(html.body, /ORIGIN_UNREACHABLE, ECONNREFUSED/);
});

test('origin unreachable, name not found: 502 that points at the Docker network', async () => {
  const { json, html } = await throughBrokenOrigin('http://immich-server.invalid:2283');
  assert.equal(json.status, 502);
  assert.match(json.body.message, /could not be resolved/);
  assert.match(json.body.message, /same Docker network/);
  assert.match(html.body, /same Docker network/);
});

test('origin accepts but never answers: 502 timeout after the idle timeout, not a hang', async () => {
  const silent = net.createServer((socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const { json } = await throughBrokenOrigin(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, { originIdleTimeoutMs: 300 });
    assert.equal(json.status, 502);
    assert.match(json.body.message, /did not answer in time/);
  } finally {
    silent.close();
  }
});

test('origin hangs on one request: 502 timeout for it, the next request still works', async () => {
  const impatient = await startHarness({ originUrl: origin.url, originIdleTimeoutMs: 300 });
  try {
    const hung = await request(impatient.port, { path: '/hang' });
    assert.equal(hung.status, 502);
    assert.equal((await request(impatient.port, { path: '/echo' })).status, 200);
  } finally {
    await impatient.close();
  }
});

test('origin dies mid-response (Content-Length): the client sees an aborted body, not a short success', async () => {
  const outcome = await new Promise<{ status: number; bytes: number; complete: boolean }>((resolve) => {
    http.get({ host: '127.0.0.1', port: proxy.port, path: '/die', headers: { host: HOST }, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode ?? 0, bytes, complete: res.complete }));
    });
  });
  assert.equal(outcome.status, 200);
  assert.equal(outcome.complete, false);
  assert.ok(outcome.bytes < 1_000_000);
});

test('origin dies mid-response (chunked): the client never gets the final chunk', async () => {
  const result = await rawExchange(proxy.port, [`GET /die-chunked HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`]);
  assert.equal(statusOf(result.text), 200);
  assert.match(result.text, /partial/);
  assert.doesNotMatch(result.text, /\r\n0\r\n\r\n$/);
});

test('client disconnects mid-upload: the origin sees an aborted request, not a complete one', async () => {
  const arrived = new Promise<void>((resolve) => origin.events.once('request', () => resolve()));
  const settled = new Promise<SeenRequest>((resolve) => origin.events.once('settled', resolve));
  const socket = net.connect({ port: proxy.port, host: '127.0.0.1' });
  socket.on('error', () => {});
  socket.write(`POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1000000\r\n\r\n`);
  socket.write(Buffer.alloc(50_000, 3));
  await arrived;
  socket.destroy();
  const seen = await settled;
  assert.equal(seen.complete, false);
  assert.ok(seen.bodyBytes <= 50_000);
});

test('truncated upload (client half-closes before the declared length): the origin never sees it complete', async () => {
  const settled = new Promise<SeenRequest>((resolve) => origin.events.once('settled', resolve));
  const result = await rawExchange(
    proxy.port,
    [`POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1000\r\n\r\n`, Buffer.alloc(500, 4), async () => new Promise((resolve) => setTimeout(resolve, 50))],
    { halfClose: true },
  );
  assert.notEqual(statusOf(result.text), 200);
  const seen = await settled;
  assert.equal(seen.complete, false);
  assert.equal(seen.bodyBytes, 500);
});

test('truncated chunked upload (no final chunk): the origin never sees it complete', async () => {
  const settled = new Promise<SeenRequest>((resolve) => origin.events.once('settled', resolve));
  await rawExchange(
    proxy.port,
    [`POST /upload HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`, async () => new Promise((resolve) => setTimeout(resolve, 50))],
    { halfClose: true },
  );
  const seen = await settled;
  assert.equal(seen.complete, false);
  assert.equal(seen.bodyBytes, 5);
});
