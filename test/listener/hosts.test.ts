// Host dispatch in the listener: the configured host matches however the client spells it (case, port,
// trailing dot); anything else, or no Host at all, is refused with 421 before any handler or the origin runs.
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

async function get(host: string | null, version = '1.1'): Promise<{ status: number; reached: number }> {
  const before = origin.seen.length;
  const result = await rawExchange(proxy.port, [`GET /echo HTTP/${version}\r\n${host === null ? '' : `Host: ${host}\r\n`}Connection: close\r\n\r\n`]);
  return { status: statusOf(result.text), reached: origin.seen.length - before };
}

test('the configured host matches in any case, with a port, and with a trailing dot', async () => {
  for (const host of [HOST, HOST.toUpperCase(), `${HOST}:8080`, `${HOST}.`, `${HOST}.:443`]) {
    const { status, reached } = await get(host);
    assert.equal(status, 200, host);
    assert.equal(reached, 1, host);
    assert.equal(origin.seen.at(-1)!.headers.host, host, 'Host is forwarded as sent');
  }
});

test('other hosts, IP literals and an empty Host get 421 and never reach the origin', async () => {
  for (const host of ['share.localhost', `x${HOST}`, `${HOST}.evil.example`, '127.0.0.1', '[::1]:8080', '']) {
    const { status, reached } = await get(host);
    assert.equal(status, 421, JSON.stringify(host));
    assert.equal(reached, 0, host);
  }
});

test('an HTTP/1.0 request without Host gets 421', async () => {
  const { status, reached } = await get(null, '1.0');
  assert.equal(status, 421);
  assert.equal(reached, 0);
});

test('a WebSocket upgrade for an unknown host is refused with 421 before the origin', async () => {
  const before = origin.seen.length;
  const result = await rawExchange(proxy.port, [
    `GET /ws HTTP/1.1\r\nHost: elsewhere.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ]);
  assert.equal(statusOf(result.text), 421);
  assert.equal(origin.seen.length, before);
});
