// A 1 GiB upload and a 1 GiB download through the real gateway (gate with a signed-in session, then the proxy),
// with the gateway in its own process so its peak memory can be measured: bytes generated on the fly, hashes
// compared end to end, peak RSS bounded. Nothing touches the disk.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { patternChunk, startSampleImmich, type SampleImmich } from '../../src/demo/sample-immich/server.js';
import { spawnGateway, type GatewayChild } from './spawn-gateway.js';

const SIZE = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
// Flat memory means the transfer adds a bounded amount over the idle process, whatever the body size: buffering
// even a tenth of the body would blow this. (Most of the absolute figure is the idle process itself, ~130 MiB
// under tsx, which compiles every source module; V8 frees socket buffers only when it collects their wrappers, which accounts for the growth.)
const GROWTH_LIMIT = 80 * MiB;
const PEAK_RSS_LIMIT = 192 * MiB;
const HOST = 'photos.localhost';

let origin: SampleImmich;
let gateway: GatewayChild;

let idleRss = 0;

before(async () => {
  origin = await startSampleImmich();
  gateway = await spawnGateway({ originUrl: origin.url, host: HOST });
  idleRss = gateway.rss();
});

function assertFlat(t: { diagnostic(message: string): void }, what: string): void {
  const peak = gateway.peakRss();
  t.diagnostic(`${what}: gateway idle RSS ${(idleRss / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB`);
  assert.ok(peak - idleRss < GROWTH_LIMIT, `gateway RSS grew by ${((peak - idleRss) / MiB).toFixed(1)} MiB during a 1 GiB ${what}`);
  assert.ok(peak < PEAK_RSS_LIMIT, `gateway peak RSS ${(peak / MiB).toFixed(1)} MiB during a 1 GiB ${what}`);
}
after(async () => {
  await gateway?.stop();
  await origin?.close();
});

test('a 1 GiB upload streams through the gate with Expect: 100-continue, hash equal, gateway memory flat', async (t) => {
  gateway.resetPeak();
  const chunk = crypto.randomBytes(256 * 1024);
  const sent = crypto.createHash('sha256');
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: gateway.port,
        method: 'POST',
        path: '/api/debug/upload',
        agent: false,
        headers: { host: HOST, cookie: gateway.cookie, 'content-type': 'application/octet-stream', 'content-length': SIZE, expect: '100-continue' },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.on('continue', () => {
      let written = 0;
      let counter = 0;
      const pump = () => {
        while (written < SIZE) {
          // Vary every chunk so a reordered or repeated chunk would change the hash.
          chunk.writeUInt32BE(counter++, 0);
          const piece = Buffer.from(chunk);
          sent.update(piece);
          written += piece.length;
          if (!req.write(piece)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
  });
  assert.equal(answer.status, 201, answer.body);
  const result = JSON.parse(answer.body) as { size: number; sha256: string };
  assert.equal(result.size, SIZE);
  assert.equal(result.sha256, sent.digest('hex'));
  assertFlat(t, 'upload');
});

test('a 1 GiB download streams through the gate, hash equal, gateway memory flat', async (t) => {
  gateway.resetPeak();
  const expected = crypto.createHash('sha256');
  const pattern = patternChunk(64 * 1024);
  for (let left = SIZE; left > 0; left -= pattern.length) expected.update(left >= pattern.length ? pattern : pattern.subarray(0, left));
  const got = await new Promise<{ status: number; size: number; sha256: string; complete: boolean }>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: gateway.port, path: `/api/debug/blob?size=${SIZE}`, agent: false, headers: { host: HOST, cookie: gateway.cookie } }, (res) => {
        const hash = crypto.createHash('sha256');
        let size = 0;
        res.on('data', (c: Buffer) => ((size += c.length), hash.update(c)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, size, sha256: hash.digest('hex'), complete: res.complete }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
  assert.equal(got.status, 200);
  assert.equal(got.complete, true);
  assert.equal(got.size, SIZE);
  assert.equal(got.sha256, expected.digest('hex'));
  assertFlat(t, 'download');
});

test('without a session the same upload is refused before the body is sent', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: gateway.port, method: 'POST', path: '/api/debug/upload', agent: false, headers: { host: HOST, 'content-length': SIZE, expect: '100-continue' } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('continue', () => reject(new Error('a 100 Continue was sent to a client without a session')));
    req.on('error', reject);
  });
  assert.equal(status, 401);
});
