// The private host over HTTP/2, through the gate, in front of an origin of the test's own (one that can read an
// upload slowly and echo WebSockets): the gate's redirect for a navigation, a whole sign-in (code from the test
// mailer) whose session cookie then opens Immich over HTTP/2, a body sent without Content-Length, a 100 MB
// upload whose backlog stays bounded while the origin pauses, and a WebSocket over HTTP/1.1 on the same port
// while an HTTP/2 connection is in use.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import type http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import { after, before, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { CookieJar, csrfFrom, PRIVATE_HOST, startTestGate, type TestGate } from '../gate/harness.js';
import { addDevice } from '../../src/gate/devices.js';
import { connectH2, h1request, h2request } from './harness.js';

/** What the origin saw of one request. */
interface Seen {
  method: string;
  url: string;
  rawHeaders: string[];
}

interface SlowUpload {
  received: number;
  /** The origin stops reading once it has this many bytes, until resume() (null: reads freely). */
  pauseAt: number | null;
  paused: Promise<void>;
  resume(): void;
}

const DOWNLOAD = crypto.randomBytes(8 * 1024 * 1024);
let origin: http.Server;
const seen: Seen[] = [];
let upload: SlowUpload | null = null;
let gate: TestGate;
let port: number;
let authority: string;

before(async () => {
  origin = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders });
    if (req.url === '/api/debug/upload' && req.method === 'POST') {
      const hash = crypto.createHash('sha256');
      const state = upload;
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        hash.update(chunk);
        if (state) state.received = size;
        if (state?.pauseAt !== null && state && size >= state.pauseAt) {
          state.pauseAt = null;
          req.pause();
          state.resume = () => req.resume();
          (state as unknown as { onPause: () => void }).onPause();
        }
      });
      req.on('end', () => {
        const body = JSON.stringify({ size, sha256: hash.digest('hex') });
        res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      });
      return;
    }
    if (req.url === '/api/debug/download') {
      // Many writes with a Content-Length: the answer the relay may write straight to an HTTP/1.1 socket.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': DOWNLOAD.length });
      for (let at = 0; at < DOWNLOAD.length; at += 64 * 1024) res.write(DOWNLOAD.subarray(at, at + 64 * 1024));
      res.end();
      return;
    }
    const body = JSON.stringify({ url: req.url, host: req.headers.host, proto: req.headers['x-forwarded-proto'] });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'keep-alive' }).end(body);
  });
  const sockets = new WebSocketServer({ server: origin });
  sockets.on('connection', (socket) => socket.on('message', (data, binary) => socket.send(data, { binary })));
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  gate = await startTestGate({
    listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    publicScheme: 'https',
    origin: { url: `http://127.0.0.1:${(origin.address() as AddressInfo).port}` },
  });
  port = gate.gateway.https!.port;
  authority = `${PRIVATE_HOST}:${port}`;
});
after(async () => {
  await gate?.close();
  origin.closeAllConnections();
  await new Promise((resolve) => origin.close(resolve));
});

function hiddenFields(html: string): Array<[string, string]> {
  return [...html.matchAll(/<input type="hidden" name="([a-z]+)" value="([^"]*)">/g)].filter((m) => m[1] !== 'csrf').map((m) => [m[1]!, m[2]!.replace(/&amp;/g, '&')]);
}

/** A gate form submitted the way a browser does over HTTP/2: the page first (CSRF token), then the POST. */
async function submit(session: http2.ClientHttp2Session, pagePath: string, fields: Record<string, string>, jar: CookieJar) {
  const page = await h2request(session, pagePath, { jar, headers: { accept: 'text/html' } });
  const action = /<form method="post" action="([^"]+)"/.exec(page.text)?.[1];
  assert.ok(action, `a form on ${pagePath} (status ${page.status})`);
  const body = new URLSearchParams({ csrf: csrfFrom(page.text), ...Object.fromEntries(hiddenFields(page.text)), ...fields }).toString();
  return h2request(session, action.replace(/&amp;/g, '&'), {
    method: 'POST',
    jar,
    body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: `https://${authority}`, 'sec-fetch-site': 'same-origin', accept: 'text/html' },
  });
}

async function signIn(session: http2.ClientHttp2Session, email: string): Promise<CookieJar> {
  const jar = new CookieJar();
  const before = gate.smtp.count(email);
  const asked = await submit(session, '/.porthole/login', { email }, jar);
  assert.equal(asked.status, 303, `code request: ${asked.text.slice(0, 200)}`);
  const mail = await gate.smtp.next(email, before);
  const entered = await submit(session, '/.porthole/code', { code: mail.code }, jar);
  assert.equal(entered.status, 303, `code entry: ${entered.text.slice(0, 200)}`);
  return jar;
}

let signedIn: CookieJar | undefined;
async function session(): Promise<{ h2: http2.ClientHttp2Session; jar: CookieJar }> {
  const h2 = await connectH2(port, PRIVATE_HOST);
  signedIn ??= await signIn(h2, 'alice@example.com');
  return { h2, jar: signedIn };
}

test('a navigation without a session is sent to sign-in; signing in over HTTP/2 gives a session that opens Immich', async () => {
  const h2 = await connectH2(port, PRIVATE_HOST);
  try {
    const from = seen.length;
    const navigation = await h2request(h2, '/photos', { headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' } });
    assert.equal(navigation.status, 302);
    assert.equal(navigation.headers.location, '/.porthole/login?next=%2Fphotos');
    assert.equal(navigation.headers['strict-transport-security'], 'max-age=31536000');
    const api = await h2request(h2, '/api/users/me');
    assert.equal(api.status, 401);
    assert.equal(seen.length, from, 'nothing reached Immich without a session');

    const jar = await signIn(h2, 'alice@example.com');
    signedIn = jar;
    assert.ok(
      [...jar.cookies.keys()].some((name) => name.startsWith('__Host-')),
      'a __Host- session cookie over HTTPS',
    );
    const me = await h2request(h2, '/api/users/me?x=1', { jar });
    assert.equal(me.status, 200);
    assert.deepEqual(JSON.parse(me.text), { url: '/api/users/me?x=1', host: authority, proto: 'https' });
    const reached = seen[seen.length - 1]!;
    const names = reached.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.deepEqual(
      names.filter((n) => n.startsWith(':')),
      [],
      'no pseudo-header reaches Immich',
    );
    assert.equal(names.filter((n) => n === 'host').length, 1);
    assert.ok(!reached.rawHeaders.some((v) => /porthole/i.test(v) && /__Host-/.test(v)), "Porthole's session cookie stays at the gateway");
  } finally {
    h2.close();
  }
});

test('a body sent without Content-Length (DATA frames only) reaches Immich whole', async () => {
  const { h2, jar } = await session();
  try {
    const body = crypto.randomBytes(300_000);
    const stream = h2.request({ ':method': 'POST', ':path': '/api/debug/upload', ':authority': authority, cookie: jar.header()!, 'content-type': 'application/octet-stream' });
    stream.end(body);
    const reply = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      let status = 0;
      let text = '';
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.on('data', (c: Buffer) => (text += c));
      stream.on('end', () => resolve({ status, text }));
      stream.on('error', reject);
    });
    assert.equal(reply.status, 201);
    assert.deepEqual(JSON.parse(reply.text), { size: body.length, sha256: crypto.createHash('sha256').update(body).digest('hex') });
  } finally {
    h2.close();
  }
});

test('an 8 MB answer with Content-Length, written by Immich in many pieces, reaches an HTTP/2 client whole', async () => {
  const { h2, jar } = await session();
  try {
    const stream = h2.request({ ':path': '/api/debug/download', ':authority': authority, cookie: jar.header()! });
    stream.end();
    const hash = crypto.createHash('sha256');
    let size = 0;
    const status = await new Promise<number>((resolve, reject) => {
      let status = 0;
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.on('data', (c: Buffer) => ((size += c.length), hash.update(c)));
      stream.on('end', () => resolve(status));
      stream.on('error', reject);
    });
    assert.equal(status, 200);
    assert.equal(size, DOWNLOAD.length);
    assert.equal(hash.digest('hex'), crypto.createHash('sha256').update(DOWNLOAD).digest('hex'));
  } finally {
    h2.close();
  }
});

test('a 100 MB upload over HTTP/2 streams with backpressure: while Immich pauses, the client is held back', async () => {
  const SIZE = 100 * 1024 * 1024;
  const PAUSE_AT = 8 * 1024 * 1024;
  // Flow-control windows (1 MiB per stream, 4 MiB per session), the gateway's buffers and the loopback sockets'
  // kernel buffers on both hops: what may be in flight between the client and a paused Immich.
  const BOUND = 32 * 1024 * 1024;
  const { h2, jar } = await session();
  try {
    let onPause!: () => void;
    const paused = new Promise<void>((resolve) => (onPause = resolve));
    upload = { received: 0, pauseAt: PAUSE_AT, paused, resume: () => undefined };
    (upload as unknown as { onPause: () => void }).onPause = onPause;
    const stream = h2.request({
      ':method': 'POST',
      ':path': '/api/debug/upload',
      ':authority': authority,
      cookie: jar.header()!,
      'content-type': 'application/octet-stream',
      'content-length': String(SIZE),
    });
    const hash = crypto.createHash('sha256');
    const chunk = crypto.randomBytes(256 * 1024);
    let written = 0;
    const pump = () => {
      while (written < SIZE) {
        hash.update(chunk);
        written += chunk.length;
        if (written >= SIZE) return void stream.end(chunk);
        if (!stream.write(chunk)) return void stream.once('drain', pump);
      }
    };
    pump();
    const reply = new Promise<{ status: number; text: string }>((resolve, reject) => {
      let status = 0;
      let text = '';
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.on('data', (c: Buffer) => (text += c));
      stream.on('end', () => resolve({ status, text }));
      stream.on('error', reject);
    });
    await paused;
    // Wait until the client cannot send more (it has data queued and nothing leaves for a while) or sent it all.
    const socket = h2.socket as tls.TLSSocket;
    await new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`the client neither stalled nor finished: ${written} written, ${socket.bytesWritten} sent`)), 60_000);
      let last = -1;
      let still = 0;
      const check = () => {
        still = socket.bytesWritten === last && stream.writableNeedDrain ? still + 1 : 0;
        last = socket.bytesWritten;
        if (still >= 5 || written >= SIZE) {
          clearTimeout(guard);
          return resolve();
        }
        setTimeout(check, 100);
      };
      check();
    });
    const backlog = socket.bytesWritten - upload.received;
    assert.ok(written < SIZE, 'the client was held back before it could write the whole upload');
    assert.ok(backlog < BOUND, `${backlog} bytes between the client and the paused origin`);
    upload.resume();
    const done = await reply;
    assert.equal(done.status, 201);
    assert.deepEqual(JSON.parse(done.text), { size: SIZE, sha256: hash.digest('hex') });
  } finally {
    upload?.resume();
    upload = null;
    h2.destroy();
  }
});

test('a WebSocket over HTTP/1.1 on the same port works while an HTTP/2 connection is in use; h2 offers no WebSocket', async () => {
  const { h2, jar } = await session();
  try {
    assert.equal(h2.remoteSettings.enableConnectProtocol, false);
    const socket = new WebSocket(`wss://127.0.0.1:${port}/api/socket.io/?EIO=4&transport=websocket`, {
      headers: { host: authority, cookie: jar.header()! },
      rejectUnauthorized: false,
      ...({ servername: PRIVATE_HOST } as object),
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const echoed = new Promise<string>((resolve) => socket.once('message', (data) => resolve(String(data))));
    const alongside = h2request(h2, '/api/server/ping', { jar });
    socket.send('hello over http/1.1');
    assert.equal(await echoed, 'hello over http/1.1');
    assert.equal((await alongside).status, 200);
    socket.close();
  } finally {
    h2.close();
  }
});

test('a device token opens the API over HTTP/2 and never reaches Immich; a wrong one gets the same 401 as over HTTP/1.1', async () => {
  const { token } = addDevice(gate.gateway.deps.store, gate.config.gate.allow, { email: 'alice@example.com', name: 'phone' }, gate.clock.now);
  const h2 = await connectH2(port, PRIVATE_HOST);
  try {
    const from = seen.length;
    const ok = await h2request(h2, '/api/server/ping?device=1', { headers: { 'x-porthole-device': token, authorization: 'Bearer immich-token' } });
    assert.equal(ok.status, 200);
    const reached = seen.slice(from);
    assert.equal(reached.length, 1);
    const names = reached[0]!.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.equal(names.includes('x-porthole-device'), false, "the device header is Porthole's");
    assert.equal(names.includes('authorization'), true);
    const wrong = await h2request(h2, '/api/server/ping', { headers: { 'x-porthole-device': `${token.slice(0, -4)}AAAA` } });
    const wrong1 = await h1request(port, PRIVATE_HOST, '/api/server/ping', { 'x-porthole-device': `${token.slice(0, -4)}AAAA` });
    assert.equal(wrong.status, 401);
    assert.equal(wrong1.status, 401);
    assert.deepEqual(wrong.body, wrong1.body);
    assert.equal(seen.length, from + 1, 'the wrong token reached nothing');
  } finally {
    h2.close();
  }
});
