// The gateway's receive windows on tunnel streams (src/tunnel/receive-windows.ts): what downloads nobody reads
// yet may park in the gateway's memory is the stream window times the busy streams, so the window narrows as
// streams get busy and widens as they finish. Real gateway, real `porthole connect` process, real origin; the
// streams come from the gateway's own origin pool. Before the windows were shared, eight paused downloads
// parked 64 MiB here.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import type http2 from 'node:http2';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { MIN_STREAM_WINDOW, RECEIVE_BUDGET, windowFor } from '../../src/tunnel/receive-windows.js';
import { STREAM_WINDOW } from '../../src/tunnel/protocol.js';
import { patternSha256, startOrigin, type TestOrigin } from './fixtures/origin.js';
import { signedIn, startGateway, tempDir, type TestGateway } from './fixtures/gateway.js';
import { spawnConnector, type ConnectorProcess } from './fixtures/connector-process.js';
import { until } from '../until.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Larger than the widest window, so a paused download always fills whatever window it has. */
const SIZE = 24 * MiB;

let origin: TestOrigin;
let g: TestGateway;
let connector: ConnectorProcess;
let expected: string;
const data = tempDir();

before(async () => {
  expected = await patternSha256(SIZE);
  origin = await startOrigin();
  g = await startGateway({ dataDir: data.dir });
  connector = spawnConnector({ token: g.newToken().token, origin: origin.url.href });
  await connector.waitFor('connected');
  await g.waitForConnectors(1);
});

after(async () => {
  await connector.kill();
  await g.close();
  await origin.close();
  data.remove();
});

const link = () => g.hub.status().connectors[0]!;

/** A raw origin connection from the gateway's pool (one tunnel stream), asking for a download and not reading it. */
function pausedDownload(): http2.ClientHttp2Stream {
  const stream = g.hub.origin.pool!.openRaw() as http2.ClientHttp2Stream;
  stream.pause();
  stream.write(`GET /download?size=${SIZE} HTTP/1.1\r\nhost: origin\r\nconnection: close\r\n\r\n`);
  return stream;
}

/** Reads the rest of a raw answer: the body's length and SHA-256 after the head. */
function readBody(stream: http2.ClientHttp2Stream): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    let inBody = false;
    let bytes = 0;
    const hash = crypto.createHash('sha256');
    stream.on('data', (chunk: Buffer) => {
      if (!inBody) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        assert.match(head.subarray(0, end).toString('latin1'), /^HTTP\/1\.1 200 /);
        inBody = true;
        chunk = head.subarray(end + 4);
      }
      bytes += chunk.length;
      hash.update(chunk);
      if (bytes >= SIZE) stream.destroy();
    });
    stream.once('close', () => (bytes === SIZE ? resolve({ bytes, sha256: hash.digest('hex') }) : reject(new Error(`short body: ${bytes} of ${SIZE}`))));
    stream.once('error', reject);
    stream.resume();
  });
}

const parked = (streams: http2.ClientHttp2Stream[]) => streams.reduce((sum, s) => sum + s.readableLength, 0);
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

test('window steps: the widest window for one or two busy streams, an equal share for more, never below the floor', () => {
  const table = [0, 1, 2, 3, 4, 5, 8, 9, 16, 17, 32, 33, 64, 1000].map((busy) => [busy, windowFor(busy) / KiB]);
  assert.deepEqual(table, [
    [0, 8192],
    [1, 8192],
    [2, 8192],
    [3, 4096],
    [4, 4096],
    [5, 2048],
    [8, 2048],
    [9, 1024],
    [16, 1024],
    [17, 512],
    [32, 512],
    [33, 256],
    [64, 256],
    [1000, 256],
  ]);
  for (let busy = 1; busy <= 64; busy++) assert.ok(windowFor(busy) * busy <= RECEIVE_BUDGET, `${busy} busy streams stay within the budget`);
  assert.equal(windowFor(1000), MIN_STREAM_WINDOW);
});

test('eight downloads nobody reads park no more than the shared budget at the gateway, and arrive whole once read', async () => {
  const streams = Array.from({ length: 8 }, pausedDownload);
  // A paused stream's window is spent once the connector has sent all it may: nothing more arrives until it is read.
  await until(() => streams.every((s) => s.state.localWindowSize === 0 && s.readableLength > 0), 'every paused stream to fill its window');
  const total = parked(streams);
  assert.ok(total <= RECEIVE_BUDGET, `eight paused downloads parked ${mib(total)} at the gateway (budget ${mib(RECEIVE_BUDGET)})`);
  for (const s of streams) assert.equal(s.readableLength, windowFor(8), 'each stream holds exactly its share');
  assert.equal(link().busyStreams, 8);
  assert.equal(link().streamWindow, windowFor(8));
  const bodies = await Promise.all(streams.map(readBody));
  assert.deepEqual(
    bodies.map((b) => b.sha256),
    Array(8).fill(expected),
  );
  await until(() => link().busyStreams === 0 && link().streamWindow === STREAM_WINDOW, 'the window to widen again once the streams closed');
});

test('a lone download gets the widest window back after a crowd', async () => {
  const crowd = Array.from({ length: 8 }, pausedDownload);
  await until(() => link().streamWindow === windowFor(8), 'the window to narrow for eight');
  for (const s of crowd) s.destroy();
  const lone = pausedDownload();
  try {
    await until(() => lone.state.localWindowSize === 0 && lone.readableLength === STREAM_WINDOW, 'the lone stream to fill the widest window');
    assert.equal(link().streamWindow, STREAM_WINDOW);
    assert.equal(link().busyStreams, 1);
  } finally {
    lone.destroy();
  }
});

test('downloads that join one already running narrow its window mid-transfer, and every byte still arrives', async () => {
  const first = g.hub.origin.pool!.openRaw() as http2.ClientHttp2Stream;
  first.write(`GET /download?size=${SIZE} HTTP/1.1\r\nhost: origin\r\nconnection: close\r\n\r\n`);
  const firstBody = readBody(first);
  // The first one runs at the widest window (reading as fast as it can) when seven more arrive and are not read.
  const joiners = Array.from({ length: 7 }, pausedDownload);
  await until(() => joiners.every((s) => s.state.localWindowSize === 0 && s.readableLength > 0), 'the joiners to fill their windows');
  assert.ok(parked(joiners) <= 7 * windowFor(8), `seven paused joiners parked ${mib(parked(joiners))}`);
  const bodies = await Promise.all([firstBody, ...joiners.map(readBody)]);
  assert.deepEqual(
    bodies.map((b) => b.sha256),
    Array(8).fill(expected),
  );
  assert.equal(g.hub.status().connectors.length, 1, 'the tunnel stayed up');
});

test('through the proxy: streams the pool keeps between requests are not busy; the ones it lends out again are', async () => {
  // Eight downloads at once, read to the end, leave their keep-alive streams in the gateway's pool.
  const replies = await Promise.all(Array.from({ length: 8 }, () => g.request(`/download?size=${SIZE}`)));
  assert.deepEqual(
    replies.map((r) => [r.status, r.body.length]),
    Array(8).fill([200, SIZE]),
  );
  // Three or more would narrow the window if idle ones counted.
  await until(() => link().openStreams >= 3 && link().busyStreams === 0 && link().streamWindow === STREAM_WINDOW, 'idle streams in the pool, none busy, the widest window');
  // Eight viewers who stop reading: the pool lends its idle streams out again (and opens more), and they count as busy.
  const viewers = await Promise.all(
    Array.from(
      { length: 8 },
      () =>
        new Promise<http.IncomingMessage>((resolve, reject) => {
          http.get(signedIn(g, `/download?size=${SIZE}`), (res) => (res.pause(), resolve(res))).on('error', reject);
        }),
    ),
  );
  try {
    await until(() => link().busyStreams === 8 && link().streamWindow === windowFor(8), 'eight busy streams and a narrow window');
  } finally {
    for (const v of viewers) v.destroy();
  }
});

test('open WebSockets do not narrow the window: each browser tab holds one, and they carry little', async () => {
  const sockets = await Promise.all(
    Array.from({ length: 6 }, async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${g.httpPort}/ws`, { headers: g.headers });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      return ws;
    }),
  );
  try {
    await until(() => link().openStreams >= 6 && link().busyStreams === 0, 'six WebSocket streams open, none busy');
    await until(() => link().streamWindow === STREAM_WINDOW, 'the widest window');
    // They still work: an echo through each.
    const echoes = await Promise.all(sockets.map((ws, i) => new Promise<string>((resolve) => (ws.once('message', (m) => resolve(m.toString())), ws.send(`tab ${i}`)))));
    assert.deepEqual(
      echoes,
      sockets.map((_, i) => `tab ${i}`),
    );
  } finally {
    for (const ws of sockets) ws.close();
  }
});
