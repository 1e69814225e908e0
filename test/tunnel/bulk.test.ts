// Bulk through the production path in tunnel mode: the real gateway (gate, proxy, origin pool) forwarding over
// HTTP/2 streams to a connector process. 1 GiB up and 1 GiB down, generated on the fly and checked by SHA-256
// at the far end, and backpressure both ways: a reader or an origin that stops must stall the sender instead
// of filling the gateway's or the connector's memory. Kept in one file so the big transfers run once per suite.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { patternSha256, patternStream, startOrigin, type TestOrigin } from './fixtures/origin.js';
import { signedIn, startGateway, tempDir, type TestGateway } from './fixtures/gateway.js';
import { spawnConnector, type ConnectorProcess } from './fixtures/connector-process.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
// What may sit between a stalled end and the sender: socket buffers on three hops plus the HTTP/2 stream
// window at each end of the tunnel. Buffering even a tenth of the body would pass it.
const STALL_LIMIT = 64 * MiB;
let origin: TestOrigin;
let gateway: TestGateway;
let connector: ConnectorProcess;
let expected: string;
const data = tempDir();

before(async () => {
  expected = await patternSha256(GiB);
  origin = await startOrigin();
  gateway = await startGateway({ dataDir: data.dir });
  connector = spawnConnector({ token: gateway.newToken().token, origin: origin.url.href });
  await connector.waitFor('connected');
  await gateway.waitForConnectors(1);
});

after(async () => {
  await connector.kill();
  await gateway.close();
  await origin.close();
  data.remove();
});

/** Waits until a counter has not moved for a second: the pipe is stalled by backpressure. */
async function settledValue(read: () => number): Promise<number> {
  let last = -1;
  let stable = 0;
  while (stable < 10) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = read();
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  return last;
}

test('1 GiB upload arrives whole (sha256 at the origin equals the sent body)', async () => {
  const reply = await gateway.request('/upload?id=bulk', {
    method: 'POST',
    body: patternStream(GiB),
    headers: { 'content-length': GiB },
  });
  assert.equal(reply.status, 200);
  assert.deepEqual(JSON.parse(reply.body.toString()), { bytes: GiB, sha256: expected });
});

test('1 GiB download arrives whole (sha256 at the client equals the origin body)', async () => {
  const { bytes, sha256 } = await new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
    http
      .get(signedIn(gateway, `/download?size=${GiB}`), (res) => {
        assert.equal(res.statusCode, 200);
        const hash = crypto.createHash('sha256');
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          hash.update(c);
        });
        res.on('end', () => resolve({ bytes: n, sha256: hash.digest('hex') }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
  assert.equal(bytes, GiB);
  assert.equal(sha256, expected);
});

test('download backpressure: a client that stops reading stalls the origin behind the tunnel', async () => {
  const size = GiB;
  const startedAt = origin.downloadSent;
  const received = await new Promise<number>((resolve, reject) => {
    http
      .get(signedIn(gateway, `/download?size=${size}`), async (res) => {
        res.pause();
        const stalledAt = (await settledValue(() => origin.downloadSent)) - startedAt;
        if (stalledAt >= STALL_LIMIT) {
          res.destroy();
          return reject(new Error(`the origin wrote ${(stalledAt / MiB).toFixed(1)} MiB into a paused client`));
        }
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve(n));
        res.on('error', reject);
        res.resume();
      })
      .on('error', reject);
  });
  assert.equal(received, size, 'the stalled download completes once the client reads again');
});

test('upload backpressure: an origin that stops reading stalls the client in front of the tunnel', async () => {
  const size = 512 * MiB;
  let sent = 0;
  const chunk = Buffer.alloc(MiB, 3);
  const answer = await new Promise<string>((resolve, reject) => {
    const req = http.request({ ...signedIn(gateway, '/hold'), method: 'POST', headers: { ...gateway.headers, 'content-length': size } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    const pump = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
    void (async () => {
      const stalledAt = await settledValue(() => sent);
      if (stalledAt >= STALL_LIMIT) {
        req.destroy();
        return reject(new Error(`the client pushed ${(stalledAt / MiB).toFixed(1)} MiB into an origin that reads nothing`));
      }
      origin.releaseHeld();
    })();
  });
  assert.equal(Number(answer), size, 'the stalled upload completes once the origin reads again');
});
