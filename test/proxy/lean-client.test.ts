// The lean origin client (requests over pooled sockets, response heads parsed by Porthole): framing
// of every kind relayed exactly, malformed origin answers refused with 502 and never reused, stale keep-alive
// sockets retried once for safe methods only. The origin here is a raw socket server scripted per request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startHarness, rawExchange, request, statusOf, HOST, type Harness } from './harness.js';

/** What the scripted origin does for a request line; `socket` lets a script close or misbehave. */
type Script = (socket: net.Socket) => void;

let scripts = new Map<string, Script>();
let connections = 0;
let requestsSeen: string[] = [];
let origin: net.Server;
let proxy: Harness;

before(async () => {
  origin = net.createServer((socket) => {
    connections++;
    let buffered = '';
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) !== -1) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        const path = head.split(' ')[1]!;
        requestsSeen.push(`${head.split(' ')[0]} ${path}`);
        const script = scripts.get(path);
        if (script) script(socket);
        else socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  proxy = await startHarness({ originUrl: `http://127.0.0.1:${(origin.address() as AddressInfo).port}` });
});
after(async () => {
  await proxy.close();
  origin.close();
});

function reset(next: Record<string, Script>): void {
  scripts = new Map(Object.entries(next));
  requestsSeen = [];
}

const reply =
  (text: string): Script =>
  (socket) =>
    void socket.write(text);

test('a chunked answer with extensions and trailers arrives whole and re-framed', async () => {
  reset({ '/chunked': reply('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n') });
  const res = await request(proxy.port, { path: '/chunked' });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), 'hello world');
  // The connection stays usable: a second request reuses it.
  const before = connections;
  assert.equal((await request(proxy.port, { path: '/chunked' })).body.toString(), 'hello world');
  assert.equal(connections, before);
});

test('a close-delimited answer is relayed until the origin closes', async () => {
  reset({ '/until-close': (socket) => socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it') });
  const res = await request(proxy.port, { path: '/until-close' });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), 'all of it');
});

test('HEAD, 204 and 304 answers carry no body and keep the connection usable', async () => {
  reset({
    '/head': reply('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n'),
    '/204': reply('HTTP/1.1 204 No Content\r\n\r\n'),
    '/304': reply('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n'),
  });
  const head = await request(proxy.port, { method: 'HEAD', path: '/head' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], '1234');
  assert.equal((await request(proxy.port, { path: '/204' })).status, 204);
  const notModified = await request(proxy.port, { path: '/304' });
  assert.equal(notModified.status, 304);
  assert.equal(notModified.headers.etag, '"x"');
});

test('malformed origin answers become a 502, never a relayed response', async () => {
  const bad: Record<string, string> = {
    '/bare-lf': 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok',
    '/obs-fold': 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok',
    '/cl-te': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    '/two-cl': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!',
    '/bad-name': 'HTTP/1.1 200 OK\r\nX A: b\r\nContent-Length: 2\r\n\r\nok',
    '/bad-status': 'HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok',
    '/bad-chunk': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
  };
  reset(Object.fromEntries(Object.entries(bad).map(([path, text]) => [path, reply(text)])));
  for (const path of Object.keys(bad)) {
    const result = await rawExchange(proxy.port, [`GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`]);
    const status = statusOf(result.text);
    // Either refused before anything was relayed, or (bad chunk, found mid-body) the client connection aborted.
    if (path === '/bad-chunk') assert.doesNotMatch(result.text, /hello/, path);
    else assert.equal(status, 502, `${path} answered ${status}`);
  }
});

test('bytes after a complete answer are never taken as the next answer', async () => {
  reset({
    '/extra': reply(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled`),
    '/next': reply('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext'),
  });
  assert.equal((await request(proxy.port, { path: '/extra' })).body.toString(), 'ok');
  assert.equal((await request(proxy.port, { path: '/next' })).body.toString(), 'next');
});

test('a keep-alive socket the origin closed while idle is not used for the next GET', async () => {
  reset({
    '/then-close': (socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      // The origin drops the idle connection without a hint, just as the proxy might reuse it.
      setTimeout(() => socket.destroy(), 20);
    },
  });
  assert.equal((await request(proxy.port, { path: '/then-close' })).status, 200);
  await new Promise((resolve) => setTimeout(resolve, 60));
  const again = await request(proxy.port, { path: '/then-close' });
  assert.equal(again.status, 200);
  assert.equal(again.body.toString(), 'ok');
});

test('a reused keep-alive socket that dies as the next GET goes out: the GET is sent once more and answered', async () => {
  // The race the retry exists for: the pool hands out a socket the origin is closing at that moment. Here the
  // origin closes any connection that already served /stale as soon as the next request arrives on it, so the
  // second GET is certain to meet a stale socket (the test above may find the close before reusing).
  const served = new WeakSet<net.Socket>();
  reset({
    '/stale': (socket) => {
      if (served.has(socket)) return void socket.destroy();
      served.add(socket);
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    },
  });
  // A proxy of its own, so its pool holds exactly the one socket the first GET opened.
  const fresh = await startHarness({ originUrl: `http://127.0.0.1:${(origin.address() as AddressInfo).port}` });
  try {
    assert.equal((await request(fresh.port, { path: '/stale' })).status, 200);
    assert.equal(fresh.origin.pool.staleRetries, 0);
    const again = await request(fresh.port, { path: '/stale' });
    assert.equal(again.status, 200);
    assert.equal(again.body.toString(), 'ok');
    // The answer came from the retry, not from a lucky fresh connection.
    assert.equal(fresh.origin.pool.staleRetries, 1);
  } finally {
    await fresh.close();
  }
  // First GET; the second on the reused socket (dropped by the origin); the same GET once more on another.
  assert.deepEqual(requestsSeen, ['GET /stale', 'GET /stale', 'GET /stale']);
});

test('a DELETE is not resent when its connection dies without an answer', async () => {
  reset({ '/delete-dies': (socket) => socket.destroy() });
  const retriesBefore = proxy.origin.pool.staleRetries;
  const res = await request(proxy.port, { method: 'DELETE', path: '/delete-dies' });
  assert.equal(res.status, 502);
  assert.equal(proxy.origin.pool.staleRetries, retriesBefore);
  assert.deepEqual(requestsSeen, ['DELETE /delete-dies']);
});

test('a 103 Early Hints before the answer is skipped, the answer relayed', async () => {
  reset({ '/hints': reply('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok') });
  const res = await request(proxy.port, { path: '/hints' });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), 'ok');
});

test('a header value a handler rewrote with CR or LF is refused, never written to the origin', async (t) => {
  const injecting = await startHarness({ originUrl: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`, filterCookie: (cookie) => `${cookie}\r\nX-Injected: 1` });
  t.after(() => injecting.close());
  reset({ '/injected': reply('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok') });
  const res = await request(injecting.port, { path: '/injected', headers: { cookie: 'a=1' } });
  assert.equal(res.status, 400);
  assert.deepEqual(requestsSeen, []);
});

test('an answer head over the 64 KiB bound is refused even when it arrives in one piece', async () => {
  reset({ '/big-head': reply(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(100_000)}\r\nContent-Length: 2\r\n\r\nok`) });
  const result = await rawExchange(proxy.port, [`GET /big-head HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`]);
  assert.equal(statusOf(result.text), 502);
});

test('pipelined requests: a large answer still in flight is never interleaved with the next one', async () => {
  const size = 4 * 1024 * 1024;
  const slow: Script = (socket) => {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nContent-Type: application/octet-stream\r\n\r\n`);
    let sent = 0;
    const piece = Buffer.alloc(size / 16, 'a');
    const next = () => {
      if (socket.destroyed || sent >= size) return;
      socket.write(piece);
      sent += piece.length;
      setTimeout(next, 10);
    };
    next();
  };
  // The second answer is complete at the gateway while the first is still arriving, so node:http holds it;
  // random bytes, so any mix-up of its pieces shows.
  const second = crypto.randomBytes(size);
  const fast: Script = (socket) => void socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`), second]));
  reset({ '/big-a': slow, '/big-b': fast });
  const both = `GET /big-a HTTP/1.1\r\nHost: ${HOST}\r\n\r\nGET /big-b HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`;
  const { text } = await rawExchange(proxy.port, [both]);
  const first = text.indexOf('\r\n\r\n');
  assert.equal(statusOf(text), 200);
  const bodyA = text.slice(first + 4, first + 4 + size);
  const rest = text.slice(first + 4 + size);
  assert.equal(bodyA.length, size);
  assert.ok(/^a+$/.test(bodyA), 'the first body holds only its own bytes');
  assert.equal(statusOf(rest), 200);
  const bodyB = Buffer.from(rest.slice(rest.indexOf('\r\n\r\n') + 4), 'latin1');
  assert.equal(bodyB.length, size);
  assert.ok(bodyB.equals(second), 'the second body follows whole, after the first');
});

test('a large random body arrives byte for byte for a fast and for a slow reader (read buffers reused safely)', async () => {
  const body = crypto.randomBytes(48 * 1024 * 1024 + 12_345);
  const expected = crypto.createHash('sha256').update(body).digest('hex');
  reset({ '/random': (socket) => void socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body])) });
  for (const slow of [false, true]) {
    const got = await new Promise<{ size: number; sha256: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: proxy.port, path: '/random', headers: { host: HOST }, agent: false }, (res) => {
          const hash = crypto.createHash('sha256');
          let size = 0;
          let sincePause = 0;
          res.on('data', (chunk: Buffer) => {
            hash.update(chunk);
            size += chunk.length;
            sincePause += chunk.length;
            // The slow reader stalls every 2 MiB, so the gateway's writes to it back up and complete later.
            if (slow && sincePause >= 2 * 1024 * 1024) {
              sincePause = 0;
              res.pause();
              setTimeout(() => res.resume(), 20);
            }
          });
          res.on('end', () => resolve({ size, sha256: hash.digest('hex') }));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    assert.equal(got.size, body.length, slow ? 'slow reader' : 'fast reader');
    assert.equal(got.sha256, expected, slow ? 'slow reader' : 'fast reader');
  }
});

test('a client that stops reading still gets every small answer byte for byte (a queued first chunk keeps its read buffer)', async () => {
  // Each answer's head and first bytes go to the client socket in one write. Once the client stops reading, the
  // socket queues them; had the origin connection reused its read buffer for the next answer, queued bytes would
  // be overwritten. Random bodies, so any such mix-up shows.
  const count = 200;
  const bodies = Array.from({ length: count }, () => crypto.randomBytes(24 * 1024));
  reset(
    Object.fromEntries(
      bodies.map((body, i) => [
        `/small-${i}`,
        (socket: net.Socket) => void socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body])),
      ]),
    ),
  );
  const client = net.connect({ port: proxy.port, host: '127.0.0.1' });
  await new Promise((resolve) => client.once('connect', resolve));
  client.pause(); // read nothing until every request was sent
  for (let i = 0; i < count; i++) {
    client.write(`GET /small-${i} HTTP/1.1\r\nHost: ${HOST}\r\n${i === count - 1 ? 'Connection: close\r\n' : ''}\r\n`);
    // One at a time, so most answers find the socket free and take the direct path.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise((resolve, reject) => {
    client.on('close', resolve);
    client.on('error', reject);
    client.resume();
  });
  const all = Buffer.concat(chunks);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const end = all.indexOf('\r\n\r\n', at);
    assert.ok(end > at, `answer ${i} has a head`);
    const head = all.toString('latin1', at, end);
    assert.match(head, /^HTTP\/1\.1 200 /, `answer ${i}`);
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1]);
    assert.equal(length, bodies[i]!.length, `answer ${i} length`);
    assert.ok(all.subarray(end + 4, end + 4 + length).equals(bodies[i]!), `answer ${i} holds its own bytes`);
    at = end + 4 + length;
  }
  assert.equal(at, all.length, 'nothing follows the last answer');
});

test('a head and chunk framing split across many reads are put together right', async () => {
  const pieces = ['HTTP/1.1 200 OK\r\nTransfer-Enc', 'oding: chunked\r\nX-Split: y', 'es\r\n\r\n', '5', '\r\nhel', 'lo\r', '\n0\r\n', '\r\n'];
  reset({
    '/split': (socket) => {
      const next = (i: number) => {
        if (i >= pieces.length || socket.destroyed) return;
        socket.write(pieces[i]!);
        setTimeout(() => next(i + 1), 15);
      };
      next(0);
    },
  });
  const res = await request(proxy.port, { path: '/split' });
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-split'], 'yes');
  assert.equal(res.body.toString(), 'hello');
});
