// Two real gateways on one real redis-server (store.kind: redis), as two gateways behind a load balancer: a
// person signs in on one and is let through by the other; a rate limit counted on one refuses on the other; a
// revocation on one closes the other's open WebSockets and refuses its next request; Redis killed makes both
// answer 503 'store-unavailable' (and readiness say not ready) instead of trusting their mirrors; Redis back
// makes both answer again by themselves, without a restart.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import net from 'node:net';
import WebSocket from 'ws';
import { addDevice } from '../../src/gate/devices.js';
import { hashToken, issueSession } from '../../src/gate/session.js';
import { startTestRedis, type TestRedis } from '../store/redis-server.js';
import { CookieJar, startTestGate, type TestGate } from './harness.js';
import { until } from '../until.js';

let redis: TestRedis;
let one: TestGate;
let two: TestGate;
/** Generous bound on a revocation reaching the other gateway's open socket (the diagnostic prints the real time). */
const CLOSE_BOUND_MS = 5_000;
const ALLOW = ['alice@example.com', 'bob@example.com', 'carol@example.com'];

before(async () => {
  redis = await startTestRedis();
  const overrides = {
    store: { kind: 'redis' as const, url: redis.url },
    gate: { allow: ALLOW, rateLimits: { codesPerIpPerHour: 3 } },
    health: { address: '127.0.0.1', port: 0 },
  };
  one = await startTestGate(overrides);
  // Gateways acting as one share the installation secret, as an operator copies gate.key.
  two = await startTestGate({ ...overrides, metrics: { listen: '127.0.0.1:0' } }, { gateKey: fs.readFileSync(path.join(one.dataDir, 'gate.key')) });
});
after(async () => {
  await one?.close();
  await two?.close();
  await redis?.close();
});

const api = (gate: TestGate, headers: http.OutgoingHttpHeaders = {}) => gate.request('GET', '/api/server/ping', { headers: { accept: 'application/json', ...headers } });

function ready(gate: TestGate): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: gate.gateway.health!.port, path: '/ready', agent: false }, (res) => (res.resume(), resolve(res.statusCode!))).on('error', reject);
  });
}

/** The store gauge gateway two reports to Prometheus. */
function storeGauge(): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: two.gateway.metricsPort!, path: '/metrics', agent: false }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(/^porthole_store_available (\d)$/m.exec(text)?.[1]));
      })
      .on('error', reject);
  });
}

interface Live {
  client: WebSocket;
  closed: Promise<void>;
}

async function openSocket(gate: TestGate, headers: http.OutgoingHttpHeaders): Promise<Live> {
  const client = new WebSocket(`ws://127.0.0.1:${gate.port}/api/socket.io/?EIO=4&transport=websocket`, { headers: { host: gate.host, ...headers } });
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
    client.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
  });
  client.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const echoed = new Promise<string>((resolve) => client.once('message', (data) => resolve(data.toString())));
  client.send('ping');
  assert.equal(await echoed, 'ping', 'data flows through the other gateway');
  return { client, closed };
}

async function closesWithin(live: Live, since: number, what: string): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still open after ${CLOSE_BOUND_MS} ms`)), CLOSE_BOUND_MS)));
  try {
    await Promise.race([live.closed, bound]);
  } finally {
    clearTimeout(timer);
  }
  return Date.now() - since;
}

test('a person who signs in on one gateway is let through by the other', async () => {
  const jar = await one.signIn('alice@example.com');
  assert.equal((await api(one, { cookie: jar.header() })).status, 200);
  const onTwo = await api(two, { cookie: jar.header() });
  assert.equal(onTwo.status, 200, onTwo.body);
  assert.equal(JSON.parse(onTwo.body).res, 'pong');
  assert.equal((await api(two)).status, 401, 'and without the cookie the other gateway still refuses');
});

/** Resolves when Redis receives a command matching `pattern` (watched with MONITOR, so no sleep is needed). */
async function whenRedisSees(pattern: RegExp): Promise<{ seen: Promise<void>; stop: () => void }> {
  const socket = net.connect(redis.port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let text = '';
  const seen = new Promise<void>((resolve) =>
    socket.on('data', (d: Buffer) => {
      text += d.toString();
      if (pattern.test(text)) resolve();
    }),
  );
  socket.write('MONITOR\r\n');
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  return { seen, stop: () => socket.destroy() };
}

test('a session the other gateway has not heard of yet is waited for, not refused', async () => {
  // The race of a browser faster than pub/sub, made certain: the session is in Redis, but its announcement is
  // sent only once gateway two, turning the cookie away, has asked Redis how far the writes have got.
  const token = 'T'.repeat(43);
  const record = {
    id: 'race0001',
    tokenHash: hashToken(token),
    email: 'alice@example.com',
    createdAt: Date.now(),
    expiresAt: Date.now() + 3_600_000,
    lastSeenAt: Date.now(),
    ip: null,
    userAgent: null,
  };
  const client = new Redis(redis.url);
  const monitor = await whenRedisSees(/"get" "porthole:seq"/i);
  try {
    const seq = await client.incr('porthole:seq');
    await client.hset('porthole:records:session', record.id, JSON.stringify(record));
    const answer = api(two, { cookie: `porthole_session=${token}` });
    const first = await Promise.race([monitor.seen.then(() => 'asked Redis'), answer.then((r) => `answered ${r.status} at once`)]);
    assert.equal(first, 'asked Redis', 'gateway two must not turn the cookie away before catching up');
    await client.publish('porthole:records', JSON.stringify({ s: seq, o: 'test', k: 'session', set: [record] }));
    const { status } = await answer;
    assert.equal(status, 200, 'let through once the mirror caught up');
  } finally {
    monitor.stop();
    client.disconnect();
  }
});

test('a rate limit counted on one gateway applies on the other', async () => {
  // codesPerIpPerHour: 3, counted per client address; two requests on one, one on the other, then refused there.
  const ask = (gate: TestGate) => gate.submit('/.porthole/login', { email: 'bob@example.com' }, new CookieJar(), {}, '127.0.0.7');
  assert.equal((await ask(one)).status, 303);
  assert.equal((await ask(one)).status, 303);
  assert.equal((await ask(two)).status, 303);
  const refused = await ask(two);
  assert.equal(refused.status, 429, refused.body.slice(0, 200));
  assert.equal((await ask(one)).status, 429, 'and on the first one too');
});

test('a session revoked on one gateway closes its open WebSocket on the other and is refused there', async (t) => {
  const session = issueSession(one.gateway.deps.store, one.config, 'carol@example.com', { now: one.clock.now });
  const cookie = `${session.cookieName}=${session.cookieValue}`;
  const bystanderSession = issueSession(one.gateway.deps.store, one.config, 'alice@example.com', { now: one.clock.now });
  const live = await openSocket(two, { cookie });
  const bystander = await openSocket(two, { cookie: `${bystanderSession.cookieName}=${bystanderSession.cookieValue}` });
  const since = Date.now();
  assert.ok(one.gateway.deps.store.sessions.revokeById(session.id));
  const ms = await closesWithin(live, since, 'session revoked on the other gateway');
  t.diagnostic(`session revoked on gateway one: its WebSocket on gateway two closed ${ms} ms later`);
  assert.equal((await api(two, { cookie })).status, 401);
  assert.equal(bystander.client.readyState, WebSocket.OPEN, "someone else's socket stays open");
  bystander.client.close();
});

test('a device revoked on one gateway closes its open WebSocket on the other', async (t) => {
  const phone = addDevice(one.gateway.deps.store, ALLOW, { email: 'bob@example.com', name: "Bob's phone" }, one.clock.now);
  const live = await openSocket(two, { 'x-porthole-device': phone.token });
  const since = Date.now();
  assert.equal(one.gateway.deps.store.devices.revokeByEmail('bob@example.com', one.clock.now).length, 1);
  const ms = await closesWithin(live, since, 'device revoked on the other gateway');
  t.diagnostic(`device revoked on gateway one: its WebSocket on gateway two closed ${ms} ms later`);
  assert.equal((await api(two, { 'x-porthole-device': phone.token })).status, 401);
});

test('Redis down: both gateways refuse with 503 and are not ready; Redis back: both recover without a restart', async () => {
  const jar = await one.signIn('alice@example.com');
  const cookie = jar.header();
  await until(async () => (await api(two, { cookie })).status === 200, 'the session on gateway two');
  // Saved, so the restarted server comes back with the same state (as a persistent Redis would).
  assert.match(await redis.command('SAVE'), /\+OK/);
  assert.equal(await ready(one), 200);

  await redis.kill();
  await until(async () => (await api(one, { cookie })).status === 503 && (await api(two, { cookie })).status === 503, 'both gateways to refuse');
  const refused = await api(two, { cookie });
  assert.equal(refused.headers['retry-after'] !== undefined, true, 'the 503 says when to come back');
  const page = await two.request('GET', '/.porthole/login', { headers: { accept: 'text/html', 'accept-language': 'de' } });
  assert.equal(page.status, 503, 'the sign-in page too: it could not share what it writes');
  assert.match(page.body, /Vorübergehend nicht verfügbar/);
  const upgrade = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${two.port}/api/socket.io/?EIO=4&transport=websocket`, { headers: { host: two.host, cookie } });
    ws.once('unexpected-response', (_req, res) => (resolve(res.statusCode!), ws.terminate()));
    ws.once('open', () => (ws.terminate(), resolve(101)));
    ws.once('error', () => undefined);
  });
  assert.equal(upgrade, 503, 'a WebSocket is refused before the upgrade');
  assert.equal(await ready(one), 503);
  assert.equal(await ready(two), 503);
  assert.equal(await storeGauge(), '0', 'and metrics say the store is unavailable');

  await redis.start();
  await until(async () => (await api(one, { cookie })).status === 200 && (await api(two, { cookie })).status === 200, 'both gateways to recover');
  assert.equal(await ready(one), 200);
  assert.equal(await ready(two), 200);
  assert.equal(await storeGauge(), '1');
  // And they share state again: a revocation on two reaches one.
  const session = one.gateway.deps.store.sessions.list(Date.now()).find((s) => s.email === 'alice@example.com');
  assert.ok(session);
  two.gateway.deps.store.sessions.revokeByEmail('alice@example.com');
  await until(async () => (await api(one, { cookie })).status === 401, 'the revocation on gateway one');
});
