// Timeouts are idle-based, never total: a slow but moving upload or download passes, a stalled peer is cut
// off on either side, and the time to send request headers is bounded (slowloris).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startHarness, rawExchange, request, statusOf, HOST, type Harness } from '../proxy/harness.js';
import { startTestOrigin, type SeenRequest, type TestOrigin } from '../proxy/test-origin.js';

// Long enough that a loaded machine (2 shared cores) never stretches a 'moving' pause past it: the pauses
// below are a sixth of it, and the tests still run well past one idle period in total.
const IDLE = 3000;
let origin: TestOrigin;
let proxy: Harness;

before(async () => {
  origin = await startTestOrigin();
  proxy = await startHarness({ originUrl: origin.url, headersTimeoutMs: 1500, idleTimeoutMs: IDLE, originIdleTimeoutMs: IDLE });
});
after(async () => {
  await proxy.close();
  await origin.close();
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('slowloris: a client sending one header byte per second is cut off', async (t) => {
  // A generous idle timeout, so only the header deadline can cut this client off.
  const strict = await startHarness({ originUrl: origin.url, headersTimeoutMs: 1500, idleTimeoutMs: 30_000 });
  t.after(() => strict.close());
  const before = origin.seen.length;
  const header = `GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: ${'a'.repeat(60)}\r\n\r\n`;
  const socket = net.connect({ port: strict.port, host: '127.0.0.1' });
  let answer = '';
  socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  let sent = 0;
  // Each byte keeps the socket busy, so only the header deadline can end this.
  while (!socket.destroyed && sent < header.length) {
    socket.write(header[sent++]!);
    await Promise.race([pause(1000), closed]);
  }
  await closed;
  assert.ok(sent < header.length, 'the whole header trickled through without being cut off');
  assert.ok(answer === '' || statusOf(answer) === 408, `unexpected answer ${JSON.stringify(answer)}`);
  assert.equal(origin.seen.length, before);
});

test('idle, not total: an upload that keeps moving for longer than the idle timeout passes', async () => {
  const pieces = 8;
  // 8 pauses of a sixth of the idle timeout: over the timeout in total, never idle for that long.
  const total = await trickleUpload(pieces, IDLE / 6);
  assert.equal(total.status, 200);
  assert.equal(total.seen.bodyBytes, pieces);
  assert.equal(total.seen.complete, true);
});

/** Sends a body one byte at a time with a pause between bytes; resolves with the answer and what the origin saw. */
async function trickleUpload(bytes: number, every: number): Promise<{ status: number; seen: SeenRequest }> {
  const settled = new Promise<SeenRequest>((resolve) => origin.events.once('settled', resolve));
  const result = await rawExchange(proxy.port, [
    `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${bytes}\r\nConnection: close\r\n\r\n`,
    ...Array.from({ length: bytes }, () => [async () => void (await pause(every)), 'x'] as const).flat(),
  ]);
  return { status: statusOf(result.text), seen: await settled };
}

test('idle, not total: a download that keeps moving for longer than the idle timeout passes', async () => {
  const res = await request(proxy.port, { path: `/dribble?every=${IDLE / 6}&count=12` });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), '.'.repeat(12));
});

test('a client that stalls mid-upload is cut off and the origin sees an aborted request', async () => {
  const settled = new Promise<SeenRequest>((resolve) => origin.events.once('settled', resolve));
  const result = await rawExchange(proxy.port, [`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 100\r\n\r\n`, 'only part of it']);
  // The connection ended without a success for a body that never finished.
  assert.notEqual(statusOf(result.text), 200);
  const seen = await settled;
  assert.equal(seen.complete, false);
  assert.equal(seen.bodyBytes, 'only part of it'.length);
});

test('an origin that stalls mid-response is cut off and the client sees an aborted body', async () => {
  const answer = await new Promise<{ status: number; aborted: boolean }>((resolve) => {
    const req = net.connect({ port: proxy.port, host: '127.0.0.1' }, () => req.write(`GET /stall HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`));
    let text = '';
    req.on('data', (c) => (text += c.toString('latin1')));
    req.on('error', () => {});
    req.on('close', () => resolve({ status: statusOf(text), aborted: !text.endsWith('0\r\n\r\n') }));
  });
  assert.equal(answer.status, 200);
  assert.equal(answer.aborted, true);
});
