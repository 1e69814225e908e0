// Request smuggling and malformed requests, each sent on a raw socket with a second request hidden behind it.
// Whatever the listener answers, the origin must never see the hidden request (a desynchronised parse) and
// never a body framed differently from how Porthole read it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, rawExchange, statusOf, HOST, type Harness } from '../proxy/harness.js';
import { startTestOrigin, type TestOrigin } from '../proxy/test-origin.js';

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

const HIDDEN = `GET /smuggled HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;

/** Sends the raw request, returns the status, and proves nothing hidden reached the origin. */
async function attempt(raw: string): Promise<{ status: number; text: string; reachedOrigin: number }> {
  const before = origin.seen.length;
  const result = await rawExchange(proxy.port, [raw]);
  // Give a smuggled request every chance to arrive before looking.
  await new Promise((resolve) => setImmediate(resolve));
  const reached = origin.seen.slice(before);
  assert.equal(reached.filter((r) => r.url.includes('smuggled')).length, 0, `a hidden request reached the origin: ${JSON.stringify(reached.map((r) => r.url))}`);
  return { status: statusOf(result.text), text: result.text, reachedOrigin: reached.length };
}

test('Content-Length and Transfer-Encoding together are refused (CL.TE / TE.CL)', async () => {
  const body = `0\r\n\r\n${HIDDEN}`;
  const { status, reachedOrigin } = await attempt(`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
  assert.equal(status, 400);
  assert.equal(reachedOrigin, 0);
});

test('duplicate Content-Length headers are refused', async () => {
  const { status, reachedOrigin } = await attempt(`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 0\r\nContent-Length: ${HIDDEN.length}\r\n\r\n${HIDDEN}`);
  assert.equal(status, 400);
  assert.equal(reachedOrigin, 0);
});

test('a Content-Length with two values in one header is refused', async () => {
  const { status, reachedOrigin } = await attempt(`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 0, ${HIDDEN.length}\r\n\r\n${HIDDEN}`);
  assert.equal(status, 400);
  assert.equal(reachedOrigin, 0);
});

test('obs-fold (a header continued on the next line) is refused', async () => {
  const { status, reachedOrigin } = await attempt(
    `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nX-Folded: a\r\n Transfer-Encoding: chunked\r\nContent-Length: ${HIDDEN.length}\r\n\r\n${HIDDEN}`,
  );
  assert.equal(status, 400);
  assert.equal(reachedOrigin, 0);
});

test('Transfer-Encoding: chunked, identity is refused', async () => {
  const body = `0\r\n\r\n${HIDDEN}`;
  const { status, reachedOrigin } = await attempt(`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked, identity\r\n\r\n${body}`);
  assert.equal(status, 400);
  assert.equal(reachedOrigin, 0);
});

test('a Transfer-Encoding other than chunked is refused', async () => {
  const { status, reachedOrigin } = await attempt(`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: gzip\r\n\r\n${HIDDEN}`);
  assert.equal(status, 400);
  assert.equal(reachedOrigin, 0);
});

test('whitespace before the colon in Transfer-Encoding is refused', async () => {
  const body = `0\r\n\r\n${HIDDEN}`;
  const { status, reachedOrigin } = await attempt(`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding : chunked\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  assert.equal(status, 400);
  assert.equal(reachedOrigin, 0);
});

test('a bare LF as a line ending never desynchronises the origin', async () => {
  const { status, reachedOrigin } = await attempt(`POST /echo HTTP/1.1\nHost: ${HOST}\nContent-Length: 5\nTransfer-Encoding: chunked\n\n0\r\n\r\n${HIDDEN}`);
  assert.equal(status, 400);
  assert.equal(reachedOrigin, 0);
});

test("a bare LF inside a chunked body's framing is refused", async () => {
  const { status } = await attempt(`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n${HIDDEN}`);
  assert.equal(status, 400);
});

test('an invalid chunk size is refused', async () => {
  const { status } = await attempt(`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n${HIDDEN}`);
  assert.equal(status, 400);
});

test('absolute-form request targets are refused without touching the origin', async () => {
  const { status, reachedOrigin } = await attempt(`GET http://${HOST}/echo HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`);
  assert.equal(status, 400);
  assert.equal(reachedOrigin, 0);
});

test('asterisk-form and authority-form targets are refused', async () => {
  assert.equal((await attempt(`OPTIONS * HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`)).status, 400);
  const connect = await attempt(`CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n`);
  assert.ok(connect.status === 400 || connect.status === 0, `CONNECT answered ${connect.status}`);
  assert.equal(connect.reachedOrigin, 0);
});

test('over-long headers get 431', async () => {
  const { status, reachedOrigin } = await attempt(`GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nX-Big: ${'a'.repeat(40 * 1024)}\r\n\r\n`);
  assert.equal(status, 431);
  assert.equal(reachedOrigin, 0);
});

test('a missing Host gets 421 without touching the origin', async () => {
  const { status, reachedOrigin } = await attempt(`GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n`);
  assert.equal(status, 421);
  assert.equal(reachedOrigin, 0);
});

test('odd Host values get 421 without touching the origin', async () => {
  for (const host of ['evil.example', `${HOST}@evil.example`, `evil.example#${HOST}`, `${HOST}:80:80`, `${HOST} extra`, `user@${HOST}`, `${HOST}/path`]) {
    const { status, reachedOrigin } = await attempt(`GET /echo HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    assert.ok(status === 421 || status === 400, `Host "${host}" answered ${status}`);
    assert.equal(reachedOrigin, 0, host);
  }
});

test('two Host headers are refused', async () => {
  const { status, reachedOrigin } = await attempt(`GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
  assert.ok(status === 400 || status === 421, `answered ${status}`);
  assert.equal(reachedOrigin, 0);
});

test('a well-framed pipelined pair reaches the origin as exactly the two requests sent', async () => {
  const before = origin.seen.length;
  const result = await rawExchange(proxy.port, [
    `POST /echo?first HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5\r\n\r\nhello` + `GET /echo?second HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
  ]);
  assert.equal(result.text.match(/HTTP\/1\.1 200/g)?.length, 2);
  assert.deepEqual(
    origin.seen.slice(before).map((r) => [r.url, r.bodyBytes]),
    [
      ['/echo?first', 5],
      ['/echo?second', 0],
    ],
  );
});

test("a client naming Content-Length in its Connection header cannot strip its body's framing", async () => {
  const before = origin.seen.length;
  const { status } = await attempt(`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close, Content-Length\r\nContent-Length: ${HIDDEN.length}\r\n\r\n${HIDDEN}`);
  assert.equal(status, 200);
  assert.deepEqual(
    origin.seen.slice(before).map((r) => [r.url, r.bodyBytes]),
    [['/echo', HIDDEN.length]],
  );
});

test('a malformed request pipelined behind an answer in flight never writes a 400 into that answer', async () => {
  const result = await rawExchange(proxy.port, [
    `GET /stall HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
    (peer) => peer.until((text) => text.includes('started')),
    `GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n`,
  ]);
  assert.equal(statusOf(result.text), 200);
  // The client must see a cut-off first answer, not another status line spliced into its body.
  assert.equal(result.text.match(/HTTP\/1\.1 /g)?.length, 1, JSON.stringify(result.text));
});
