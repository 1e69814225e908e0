// Bodies and framing through the proxy: every method, streaming with backpressure both ways, the optional
// body cap, Expect: 100-continue, and Range/206 passing untouched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { startHarness, rawExchange, request, statusOf, HOST, type Harness } from './harness.js';
import { startTestOrigin, RANGE_BODY, type TestOrigin } from './test-origin.js';

let origin: TestOrigin;
let proxy: Harness;
let capped: Harness;
const CAP = 1000;

before(async () => {
  origin = await startTestOrigin();
  proxy = await startHarness({ originUrl: origin.url });
  capped = await startHarness({ originUrl: origin.url, maxBodyBytes: CAP });
});
after(async () => {
  await proxy.close();
  await capped.close();
  await origin.close();
});

const sha = (data: Buffer | string) => crypto.createHash('sha256').update(data).digest('hex');
const lastSeen = () => origin.seen[origin.seen.length - 1]!;

test('every method reaches the origin with its body intact', async () => {
  const body = crypto.randomBytes(3000);
  for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    const withBody = method !== 'GET' && method !== 'HEAD';
    const res = await request(proxy.port, { method, path: `/echo?m=${method}`, body: withBody ? body : undefined, headers: withBody ? { 'content-length': body.length } : {} });
    assert.equal(res.status, 200, method);
    const seen = lastSeen();
    assert.equal(seen.method, method);
    assert.equal(seen.url, `/echo?m=${method}`);
    assert.equal(seen.complete, true);
    assert.equal(seen.bodyBytes, withBody ? body.length : 0, method);
    if (withBody) assert.equal(seen.sha256, sha(body), method);
    if (method === 'HEAD') assert.equal(res.body.length, 0);
  }
});

test('a chunked request body stays chunked towards the origin, whatever the method', async () => {
  const result = await rawExchange(proxy.port, [
    `DELETE /echo HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
  ]);
  assert.equal(statusOf(result.text), 200);
  const seen = lastSeen();
  assert.equal(seen.method, 'DELETE');
  assert.equal(seen.headers['transfer-encoding'], 'chunked');
  assert.equal(seen.bodyBytes, 11);
  assert.equal(seen.sha256, sha('hello world'));
});

test('a POST without a body reaches the origin with Content-Length 0', async () => {
  const result = await rawExchange(proxy.port, [`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`]);
  assert.equal(statusOf(result.text), 200);
  assert.equal(lastSeen().headers['content-length'], '0');
  assert.equal(lastSeen().headers['transfer-encoding'], undefined);
});

/** Waits until a counter has not moved for half a second: the pipe is stalled by backpressure. */
async function settledValue(read: () => number): Promise<number> {
  let last = -1;
  let stable = 0;
  while (stable < 5) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = read();
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  return last;
}

test('download backpressure: a client that stops reading stalls the origin instead of filling memory', async () => {
  const total = 512 * 1024 * 1024;
  let written = 0;
  // A dedicated origin that writes as fast as the proxy lets it and counts what it got rid of.
  const flood = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': total });
    const chunk = Buffer.alloc(64 * 1024, 7);
    const pump = () => {
      while (written < total) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => flood.listen(0, '127.0.0.1', resolve));
  const floodProxy = await startHarness({ originUrl: `http://127.0.0.1:${(flood.address() as import('node:net').AddressInfo).port}` });
  try {
    const received = await new Promise<number>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: floodProxy.port, path: '/', headers: { host: HOST }, agent: false }, async (res) => {
        res.pause();
        const stalledAt = await settledValue(() => written);
        // Socket buffers on two hops plus stream buffers: a few MiB, nowhere near the 512 MiB body.
        assert.ok(stalledAt < 48 * 1024 * 1024, `origin wrote ${stalledAt} bytes into a paused client`);
        let count = 0;
        res.on('data', (chunk: Buffer) => (count += chunk.length));
        res.on('end', () => resolve(count));
        res.on('error', reject);
        res.resume();
      });
      req.on('error', reject);
    });
    assert.equal(received, total);
  } finally {
    await floodProxy.close();
    flood.closeAllConnections();
    flood.close();
  }
});

test('upload backpressure: an origin that stops reading stalls the client instead of filling memory', async () => {
  let sink!: http.IncomingMessage;
  let got = 0;
  const slow = http.createServer({ requestTimeout: 0 }, (req, res) => {
    sink = req;
    req.pause();
    req.on('data', (chunk: Buffer) => (got += chunk.length));
    req.on('end', () => res.end(String(got)));
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  const slowProxy = await startHarness({ originUrl: `http://127.0.0.1:${(slow.address() as import('node:net').AddressInfo).port}` });
  try {
    const total = 512 * 1024 * 1024;
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 9);
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: slowProxy.port, method: 'POST', path: '/', agent: false, headers: { host: HOST, 'content-length': total } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
      void (async () => {
        const stalledAt = await settledValue(() => sent);
        try {
          assert.ok(stalledAt < 48 * 1024 * 1024, `client pushed ${stalledAt} bytes into a paused origin`);
        } catch (error) {
          req.destroy();
          return reject(error);
        }
        sink.resume();
      })();
    });
    assert.equal(Number(answer), total);
  } finally {
    await slowProxy.close();
    slow.closeAllConnections();
    slow.close();
  }
});

test('range requests and their 206 answers pass untouched', async () => {
  const res = await request(proxy.port, { path: '/range', headers: { range: 'bytes=100-199', 'if-range': '"r1"' } });
  assert.equal(res.status, 206);
  assert.equal(res.headers['content-range'], `bytes 100-199/${RANGE_BODY.length}`);
  assert.equal(res.headers['content-length'], '100');
  assert.deepEqual(res.body, RANGE_BODY.subarray(100, 200));
  assert.equal(lastSeen().headers.range, 'bytes=100-199');
  assert.equal(lastSeen().headers['if-range'], '"r1"');
  const open = await request(proxy.port, { path: '/range', headers: { range: 'bytes=990-' } });
  assert.equal(open.status, 206);
  assert.deepEqual(open.body, RANGE_BODY.subarray(990));
  const unsatisfiable = await request(proxy.port, { path: '/range', headers: { range: 'bytes=5000-' } });
  assert.equal(unsatisfiable.status, 416);
  assert.equal(unsatisfiable.headers['content-range'], `bytes */${RANGE_BODY.length}`);
});

test('body cap: a declared Content-Length over the cap gets 413 before any body is read', async () => {
  const before = origin.seen.length;
  // Only headers are sent: if the proxy waited for the body this would never answer.
  const result = await rawExchange(capped.port, [`POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${CAP + 1}\r\n\r\n`]);
  assert.equal(statusOf(result.text), 413);
  assert.match(result.text, /connection: close/i);
  assert.equal(origin.seen.length, before, 'the origin must not see a refused upload');
});

test('body cap: a chunked body that grows past the cap is aborted and never completes at the origin', async () => {
  const arrived = new Promise<void>((resolve) => origin.events.once('request', () => resolve()));
  const settled = new Promise<import('./test-origin.js').SeenRequest>((resolve) => origin.events.once('settled', resolve));
  const piece = Buffer.alloc(400, 1).toString();
  const result = await rawExchange(capped.port, [
    `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n`,
    `190\r\n${piece}\r\n`,
    // Let the origin start receiving, so the abort has something to abort.
    () => arrived,
    `190\r\n${piece}\r\n`,
    `190\r\n${piece}\r\n`,
    `0\r\n\r\n`,
  ]);
  assert.equal(statusOf(result.text), 413);
  const seen = await settled;
  assert.equal(seen.complete, false);
  assert.ok(seen.bodyBytes <= CAP);
});

test('body cap: a body under the cap passes', async () => {
  const body = Buffer.alloc(CAP, 2);
  const res = await request(capped.port, { method: 'PUT', path: '/echo', body, headers: { 'content-length': CAP } });
  assert.equal(res.status, 200);
  assert.equal(lastSeen().sha256, sha(body));
});

test('Expect: 100-continue: the 100 comes from the origin, then the body flows', async () => {
  const body = 'hello continue';
  const result = await rawExchange(proxy.port, [
    `PUT /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    (peer) => peer.until((text) => text.startsWith('HTTP/1.1 100 Continue\r\n\r\n')),
    body,
  ]);
  assert.match(result.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  const seen = lastSeen();
  assert.equal(seen.headers.expect, '100-continue');
  assert.equal(seen.sha256, sha(body));
});

test('Expect: 100-continue refused by the origin: its final status, no 100, connection closed', async () => {
  const result = await rawExchange(proxy.port, [`PUT /reject-continue HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n`]);
  assert.equal(statusOf(result.text), 403);
  assert.doesNotMatch(result.text, /100 Continue/);
  assert.match(result.text, /connection: close/i);
});

test('Expect: 100-continue refused by Porthole (over the cap): 413, no 100, connection closed', async () => {
  const before = origin.seen.length;
  const result = await rawExchange(capped.port, [`PUT /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n`]);
  assert.equal(statusOf(result.text), 413);
  assert.doesNotMatch(result.text, /100 Continue/);
  assert.equal(origin.seen.length, before);
});

test('Expect: 100-continue for an unknown host: 421, no 100, origin untouched', async () => {
  const before = origin.seen.length;
  const result = await rawExchange(proxy.port, [`PUT /echo HTTP/1.1\r\nHost: elsewhere.example\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n`]);
  assert.equal(statusOf(result.text), 421);
  assert.doesNotMatch(result.text, /100 Continue/);
  assert.equal(origin.seen.length, before);
});

test('curl uploads with Expect: 100-continue through the proxy', { skip: !existsSync('/usr/bin/curl') && 'curl not installed' }, async () => {
  const body = crypto.randomBytes(2 * 1024 * 1024);
  const output = await new Promise<string>((resolve, reject) => {
    const child = execFile(
      'curl',
      [
        '-sS',
        '--fail',
        '-H',
        `Host: ${HOST}`,
        '-H',
        'Expect: 100-continue',
        '-H',
        'Content-Type: application/octet-stream',
        '--data-binary',
        '@-',
        `http://127.0.0.1:${proxy.port}/echo`,
      ],
      (error, stdout) => (error ? reject(error) : resolve(stdout)),
    );
    child.stdin!.end(body);
  });
  assert.equal(JSON.parse(output).sha256, sha(body));
  assert.equal(lastSeen().headers.expect, '100-continue');
});
