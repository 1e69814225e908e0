// Clients that hold connections without sending (security review, finding 3), against the whole gateway on
// both ports: half-sent heads, heads and gate forms trickled a byte at a time, many connections from one
// address. Held sockets are counted on the server side. And what must keep working: a long upload that keeps
// sending, even at a trickle, other addresses while one is at its cap, a trusted proxy's many connections.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { connectionBucket } from '../../src/listener/connections.js';
import { startTestGate, type CookieJar, type TestGate } from '../gate/harness.js';

const HEADERS_TIMEOUT_S = 3;
/** Generous on a loaded machine: the rule cuts a silent or trickling client at about HEADERS_TIMEOUT_S. */
const CLOSE_BOUND_MS = HEADERS_TIMEOUT_S * 1000 + 20_000;

let gate: TestGate;
let jar: CookieJar;

before(async () => {
  gate = await startTestGate({ listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 }, proxy: { headersTimeout: `${HEADERS_TIMEOUT_S}s` } });
  jar = await gate.signIn('alice@example.com');
});
after(() => gate.close());

function getConnections(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

/** Connections the gateway holds right now, per port (the HTTPS port counts raw TCP sockets). */
async function held(g: TestGate): Promise<{ http: number; https: number }> {
  return { http: await getConnections(g.gateway.server), https: await getConnections(g.gateway.https!.server) };
}

/** Polls the server-side counts until both are at most `target` or the bound passes; returns the last counts. */
async function heldUntil(g: TestGate, target: number, boundMs: number): Promise<{ counts: { http: number; https: number }; ms: number }> {
  const start = performance.now();
  let counts = await held(g);
  while ((counts.http > target || counts.https > target) && performance.now() - start < boundMs) {
    await sleep(100);
    counts = await held(g);
  }
  return { counts, ms: Math.round(performance.now() - start) };
}

function plainSocket(port: number, options: { localAddress?: string; allowHalfOpen?: boolean } = {}): net.Socket {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress: options.localAddress, allowHalfOpen: options.allowHalfOpen });
  socket.on('error', () => {});
  return socket;
}

function tlsSocket(g: TestGate, options: { localAddress?: string } = {}): tls.TLSSocket {
  const raw = net.connect({ host: '127.0.0.1', port: g.gateway.https!.port, localAddress: options.localAddress }).on('error', () => {});
  const socket = tls.connect({ socket: raw, ca: g.gateway.https!.certificate.cert, servername: 'photos.localhost', ALPNProtocols: ['http/1.1'] });
  socket.on('error', () => {});
  return socket;
}

const connected = (socket: net.Socket) =>
  new Promise<boolean>((resolve) => {
    socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => resolve(true));
    socket.once('close', () => resolve(false));
  });

test('half-sent request heads are closed on both ports: none of them is still held after the deadline', async (t) => {
  const n = 40;
  // Half-open plain clients: they never close their side, so only the server can free these sockets.
  const plain = Array.from({ length: n }, () => plainSocket(gate.port, { allowHalfOpen: true }));
  const secure = Array.from({ length: n }, () => tlsSocket(gate));
  assert.ok((await Promise.all([...plain, ...secure].map(connected))).every(Boolean));
  const head = `GET /api/server/ping HTTP/1.1\r\nHost: ${gate.host}\r\nX-Half: `;
  for (const s of [...plain, ...secure]) s.write(head);
  const answers = plain.map((s) => {
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    return () => text;
  });
  const result = await heldUntil(gate, 0, CLOSE_BOUND_MS);
  t.diagnostic(`${n} + ${n} half-sent heads: held after ${result.ms} ms: http ${result.counts.http}, https ${result.counts.https}`);
  assert.deepEqual(result.counts, { http: 0, https: 0 }, 'every half-sent head was cut off and its socket freed');
  for (const text of answers) assert.ok(text() === '' || text().startsWith('HTTP/1.1 408 '), `unexpected answer ${JSON.stringify(text())}`);
  for (const s of [...plain, ...secure]) s.destroy();
});

/**
 * Sends `text` one byte per `everyMs` until the socket closes (or CLOSE_BOUND_MS passes: then it gives up and
 * leaves the socket open for the held count to see); resolves with how many bytes went out.
 */
async function trickle(socket: net.Socket, text: string, everyMs: number): Promise<number> {
  const closed = socket.closed ? Promise.resolve() : new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const started = performance.now();
  let sent = 0;
  while (!socket.destroyed && sent < text.length && performance.now() - started < CLOSE_BOUND_MS) {
    socket.write(text[sent++]!);
    await Promise.race([sleep(everyMs), closed]);
  }
  return sent;
}

test('heads trickled a byte every 2 s are cut off on both ports, also on a kept-alive connection after a first answer', async (t) => {
  const head = `GET /api/server/ping HTTP/1.1\r\nHost: ${gate.host}\r\nX-Slow: ${'a'.repeat(120)}\r\n\r\n`;
  // Each starts trickling as soon as it is connected; two send a whole request first, read the answer, then
  // trickle the next head on the same connection.
  const fresh = (socket: net.Socket) => connected(socket).then((ok) => (assert.ok(ok), trickle(socket, head, 2000)));
  const afterAnswer = async (socket: net.Socket) => {
    assert.ok(await connected(socket));
    const answered = new Promise<string>((resolve) => socket.once('data', (c: Buffer) => resolve(c.toString('latin1'))));
    socket.write(`GET /api/server/ping HTTP/1.1\r\nHost: ${gate.host}\r\n\r\n`);
    assert.match(await answered, /^HTTP\/1\.1 401 /);
    return trickle(socket, head, 2000);
  };
  const sent = await Promise.all([
    ...Array.from({ length: 10 }, () => fresh(plainSocket(gate.port))),
    ...Array.from({ length: 10 }, () => fresh(tlsSocket(gate))),
    afterAnswer(plainSocket(gate.port)),
    afterAnswer(tlsSocket(gate)),
  ]);
  const result = await heldUntil(gate, 0, CLOSE_BOUND_MS);
  t.diagnostic(`22 tricklers: bytes sent before the cut: max ${Math.max(...sent)} of ${head.length}; held afterwards: http ${result.counts.http}, https ${result.counts.https}`);
  assert.ok(
    sent.every((n) => n < head.length),
    'no trickled head got through',
  );
  assert.deepEqual(result.counts, { http: 0, https: 0 });
});

test('a sign-in form body trickled a byte every 2 s gets 408 and its connection closed; signing in still works', async (t) => {
  const body = `email=${'x'.repeat(150)}%40example.com&csrf=${'0'.repeat(40)}`;
  const socket = plainSocket(gate.port);
  await connected(socket);
  let answer = '';
  socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
  socket.write(
    `POST /.porthole/login HTTP/1.1\r\nHost: ${gate.host}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
      `Content-Length: ${body.length}\r\nOrigin: http://${gate.host}\r\nAccept: text/html\r\n\r\n`,
  );
  const sent = await trickle(socket, body, 2000);
  const result = await heldUntil(gate, 0, CLOSE_BOUND_MS);
  t.diagnostic(`form trickle: ${sent} of ${body.length} bytes before the cut; answer ${answer.split('\r\n')[0]}`);
  assert.ok(sent < body.length, 'the trickled form never completed');
  assert.match(answer, /^HTTP\/1\.1 408 /);
  assert.match(answer, /connection: close/i);
  assert.equal(result.counts.http, 0);
  assert.ok(await gate.signIn('alice@example.com'));
});

test('with the default 20 s deadline, a head or a gate form arriving below the minimum rate is cut once the grace period ends', async (t) => {
  const lenient = await startTestGate({ listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 } });
  try {
    const head = `GET /api/server/ping HTTP/1.1\r\nHost: ${lenient.host}\r\nX-Slow: ${'a'.repeat(120)}\r\n\r\n`;
    const form = `POST /.porthole/login HTTP/1.1\r\nHost: ${lenient.host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n`;
    const slowHead = async (socket: net.Socket) => (assert.ok(await connected(socket)), trickle(socket, head, 500));
    const slowForm = async (socket: net.Socket) => (assert.ok(await connected(socket)), socket.write(form), trickle(socket, 'e'.repeat(200), 500));
    const sent = await Promise.all([slowHead(plainSocket(lenient.port)), slowHead(tlsSocket(lenient)), slowForm(plainSocket(lenient.port)), slowForm(tlsSocket(lenient))]);
    const result = await heldUntil(lenient, 0, CLOSE_BOUND_MS);
    t.diagnostic(`two bytes a second against the default deadline: cut after ${sent.join(', ')} bytes; held afterwards: http ${result.counts.http}, https ${result.counts.https}`);
    // The 20 s cap would have let about 40 bytes through at this pace; the rate rule ends it after the 5 s grace.
    assert.ok(
      sent.every((n) => n < 30),
      `cut by the rate, not by the hard cap: ${sent.join(', ')}`,
    );
    assert.deepEqual(result.counts, { http: 0, https: 0 });
  } finally {
    await lenient.close();
  }
});

/** An upload that sends its head with Expect: 100-continue and then holds: 'held' once the gateway let it in. */
function heldUpload(socket: net.Socket, g: TestGate, cookie: string): Promise<'held' | 'refused'> {
  return new Promise((resolve) => {
    socket.once('data', (c: Buffer) => resolve(c.toString('latin1').startsWith('HTTP/1.1 100 ') ? 'held' : 'refused'));
    socket.once('close', () => resolve('refused'));
    socket.write(
      `POST /api/debug/upload HTTP/1.1\r\nHost: ${g.host}\r\nCookie: ${cookie}\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n`,
    );
  });
}

test('connections per address are capped across both ports; another address and a trusted proxy are not held back', async (t) => {
  const capped = await startTestGate({
    listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0, maxConnectionsPerAddress: 20 },
    trustedProxies: ['127.0.0.4'],
    proxy: { headersTimeout: `${HEADERS_TIMEOUT_S}s` },
  });
  const open: net.Socket[] = [];
  try {
    const cookie = (await capped.signIn('alice@example.com')).header()!;
    // 30 on each port from one address: uploads in progress, so no deadline is what ends them.
    const sockets = [
      ...Array.from({ length: 30 }, () => plainSocket(capped.port, { localAddress: '127.0.0.2' })),
      ...Array.from({ length: 30 }, () => tlsSocket(capped, { localAddress: '127.0.0.2' })),
    ];
    open.push(...sockets);
    const outcomes = await Promise.all(sockets.map(async (s) => ((await connected(s)) ? heldUpload(s, capped, cookie) : 'refused')));
    const heldCount = outcomes.filter((o) => o === 'held').length;
    const counts = await held(capped);
    t.diagnostic(`60 connections from one address: ${heldCount} let in, ${60 - heldCount} refused; held by the server: http ${counts.http} + https ${counts.https}`);
    assert.equal(heldCount, 20, 'exactly the cap got in, counted over both ports');
    assert.equal(counts.http + counts.https, 20);

    // Someone else is served on both ports meanwhile.
    const other = await capped.request('GET', '/.porthole/login', { headers: { accept: 'text/html' } });
    assert.equal(other.status, 200);
    const overTls = await new Promise<number>((resolve, reject) => {
      https
        .get(
          {
            host: '127.0.0.1',
            port: capped.gateway.https!.port,
            localAddress: '127.0.0.3',
            path: '/.porthole/login',
            headers: { host: capped.host },
            ca: capped.gateway.https!.certificate.cert,
            servername: 'photos.localhost',
            agent: false,
          },
          (res) => {
            res.resume();
            resolve(res.statusCode!);
          },
        )
        .on('error', reject);
    });
    assert.equal(overTls, 200);

    // A trusted proxy carries many clients: its connections are not capped.
    const proxied = Array.from({ length: 30 }, () => plainSocket(capped.port, { localAddress: '127.0.0.4' }));
    open.push(...proxied);
    const proxiedOutcomes = await Promise.all(proxied.map(async (s) => ((await connected(s)) ? heldUpload(s, capped, cookie) : 'refused')));
    assert.equal(proxiedOutcomes.filter((o) => o === 'held').length, 30);
  } finally {
    for (const s of open) s.destroy();
    await capped.close();
  }
});

test('a long upload that keeps sending succeeds on both ports, even at a trickle far below the head rate', async (t) => {
  const cookie = jar.header()!;
  const upload = async (secure: boolean, chunks: number, chunkBytes: number, everyMs: number) => {
    const options = {
      host: '127.0.0.1',
      port: secure ? gate.gateway.https!.port : gate.port,
      method: 'POST',
      path: '/api/debug/upload',
      headers: { host: gate.host, cookie, 'content-type': 'application/octet-stream', 'content-length': chunks * chunkBytes },
      agent: false,
      ...(secure ? { ca: gate.gateway.https!.certificate.cert, servername: 'photos.localhost' } : {}),
    };
    const started = performance.now();
    const req = secure ? https.request(options) : http.request(options);
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
    });
    for (let i = 0; i < chunks; i++) {
      req.write(Buffer.alloc(chunkBytes, 0x61));
      await sleep(everyMs);
    }
    req.end();
    const answer = await response;
    return { ...answer, ms: Math.round(performance.now() - started) };
  };
  const results = await Promise.all([
    upload(false, 40, 64 * 1024, 250),
    upload(true, 40, 64 * 1024, 250),
    // One byte a second: nothing a head or a gate form may do, and fine for a signed-in upload.
    upload(false, 12, 1, 1000),
    upload(true, 12, 1, 1000),
  ]);
  t.diagnostic(`uploads: ${results.map((r) => `${r.status} in ${r.ms} ms`).join(', ')} (deadline for heads: ${HEADERS_TIMEOUT_S} s)`);
  const sizes = [40 * 64 * 1024, 40 * 64 * 1024, 12, 12];
  results.forEach((r, i) => {
    assert.equal(r.status, 201, r.body);
    assert.equal((JSON.parse(r.body) as { size: number }).size, sizes[i]);
    assert.ok(r.ms > HEADERS_TIMEOUT_S * 1000, 'the upload lasted longer than any receive deadline');
  });
});

test('a connection is counted for its IPv4 address, its IPv6 /64, and IPv4-mapped addresses as IPv4', () => {
  assert.equal(connectionBucket('2001:db8:1:2:3:4:5:6'), connectionBucket('2001:db8:1:2:ffff::1'));
  assert.notEqual(connectionBucket('2001:db8:1:2::1'), connectionBucket('2001:db8:1:3::1'));
  assert.equal(connectionBucket('::ffff:192.0.2.7'), '192.0.2.7');
  assert.notEqual(connectionBucket('::ffff:192.0.2.7'), connectionBucket('::ffff:192.0.2.8'));
});
