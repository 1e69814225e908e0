// Answers held back whole to be rewritten (ForwardOptions.answerFilter, used by the share host to keep
// passwords and addresses from guests): every framing an origin may use is read whole and sent with its new
// length; an answer over the bound or one the rewriter refuses never reaches the client, not even in part;
// answers the filter does not ask for stream as before. The origin is a raw socket server scripted per path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { AnswerFilter } from '../../src/proxy/forward.js';
import { startHarness, request, type Harness } from './harness.js';

let scripts = new Map<string, string>();
let connections = 0;
let origin: net.Server;
let proxy: Harness;

const withheld: string[] = [];

/** JSON answers are upper-cased, at most 64 bytes, and refused when they say "refuse"; header values marked. */
const filter: AnswerFilter = {
  withheld: (why) => void withheld.push(why),
  head(_status, raw) {
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'x-secret') raw[i + 1] = 'hidden';
    const type = raw.findIndex((v, i) => i % 2 === 0 && v.toLowerCase() === 'content-type');
    if (type === -1 || !raw[type + 1]!.startsWith('application/json')) return null;
    return { maxBytes: 64, rewrite: (body) => (body.includes('refuse') ? null : Buffer.from(body.toString().toUpperCase())) };
  },
};

before(async () => {
  origin = net.createServer((socket) => {
    connections++;
    let buffered = '';
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) !== -1) {
        const path = buffered.slice(0, end).split(' ')[1]!;
        buffered = buffered.slice(end + 4);
        const script = scripts.get(path);
        if (script === undefined) socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
        else if (script.includes('Connection: close')) socket.end(script);
        else socket.write(script);
      }
    });
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  proxy = await startHarness({ originUrl: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`, answerFilter: filter });
});
after(async () => {
  await proxy.close();
  origin.close();
});

test('a JSON answer in every framing is read whole, rewritten and sent with its new length; the connection is reused', async () => {
  scripts = new Map([
    ['/length', 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\nX-Secret: s3cret\r\n\r\n{"a":"hello"}'],
    ['/chunked', 'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n8\r\n"hello"}\r\n0\r\n\r\n'],
    ['/until-close', 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"a":"hello"}'],
  ]);
  const before = connections;
  for (const path of ['/length', '/chunked', '/length']) {
    const res = await request(proxy.port, { path });
    assert.equal(res.body.toString(), '{"A":"HELLO"}', path);
    assert.equal(res.headers['content-length'], '13', path);
    assert.equal(res.headers['transfer-encoding'], undefined, path);
  }
  assert.equal(connections - before, 1, 'one origin connection for all three');
  const closed = await request(proxy.port, { path: '/until-close' });
  assert.equal(closed.body.toString(), '{"A":"HELLO"}');
  assert.equal((await request(proxy.port, { path: '/length' })).headers['x-secret'], 'hidden');
});

test('an answer over the bound, or one the rewriter refuses, never reaches the client, not even in part', async () => {
  const big = `{"a":"${'x'.repeat(100)}"}`;
  scripts = new Map([
    ['/big', `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n${big}`],
    ['/big-chunked', `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`],
    ['/refused', 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{"a":"refuse!!"}'],
  ]);
  for (const path of ['/big', '/big-chunked', '/refused']) {
    const res = await request(proxy.port, { path, headers: { accept: 'application/json' } });
    assert.equal(res.status, 502, path);
    assert.ok(!res.body.toString().includes('xxxx') && !res.body.toString().includes('refuse!!'), path);
  }
  assert.deepEqual(withheld, ['answer larger than 64 bytes', 'answer larger than 64 bytes', 'answer could not be checked'], 'the log is told why');
});

test('answers the filter does not ask for stream untouched', async () => {
  const text = 'y'.repeat(200_000);
  scripts = new Map([['/image', `HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: ${text.length}\r\n\r\n${text}`]]);
  const res = await request(proxy.port, { path: '/image' });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), text, 'not upper-cased, not bounded');
});
