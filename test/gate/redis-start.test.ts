// The real gateway (store.kind: redis) started before its Redis, as after a power cut or in a compose file
// whose order nobody enforced: it starts and listens; every request that needs the shared state gets the same
// fail-closed 503 it gives during an outage (the private host's page, the share host's neutral one), what needs
// no state still works, /live answers and /ready says not ready and why; one log line names Redis's address
// (never the password) and what to check. Then Redis starts on its port and, without a restart, a person signs
// in within seconds. Waits are polls with deadlines.
import assert from 'node:assert/strict';
import http from 'node:http';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { startTestRedis, type TestRedis } from '../store/redis-server.js';
import { SHARE_HOST, startTestGate, type TestGate } from './harness.js';
import { until } from '../until.js';

const PASSWORD = 'redis-secret-horse-battery';
let redis: TestRedis;
let gate: TestGate;
const logLines: Array<Record<string, unknown> & { msg: string }> = [];
let logText = '';

before(async () => {
  // Its port and folder are chosen, then the server is stopped: the gateway finds nothing listening there.
  redis = await startTestRedis({ password: PASSWORD });
  await redis.kill();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logText += chunk.toString();
      for (const line of chunk.toString().split('\n')) if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown> & { msg: string });
      done();
    },
  });
  gate = await startTestGate(
    {
      store: { kind: 'redis', url: redis.url, password: PASSWORD },
      health: { address: '127.0.0.1', port: 0 },
      metrics: { listen: '127.0.0.1:0' },
    },
    { logger: createLogger('info', sink) },
  );
});
after(async () => {
  await gate?.close();
  await redis?.close();
});

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

const api = (headers: http.OutgoingHttpHeaders = {}) => gate.request('GET', '/api/server/ping', { headers: { accept: 'application/json', ...headers } });
const shareHost = () => `${SHARE_HOST}:${gate.port}`;

test('started before Redis: 503 where state is needed, not ready and why, one clear log line; Redis up: a sign-in works', async () => {
  // Started and listening: every answer below comes from the running gateway.
  const refused = await api();
  assert.equal(refused.status, 503, 'not the 401 a mirror with no sessions would give');
  assert.ok(Number(refused.headers['retry-after']) > 0);
  assert.equal(JSON.parse(refused.body).error, 'store-unavailable');
  const page = await gate.request('GET', '/.porthole/login', { headers: { accept: 'text/html', 'accept-language': 'de' } });
  assert.equal(page.status, 503, 'the sign-in page too: what it writes could not be shared');
  assert.match(page.body, /Vorübergehend nicht verfügbar/);

  // The share host: a link password is never tried on counters that cannot be read (its neutral 503); a link
  // with no password needs nothing shared and still opens.
  const locked = gate.origin.library.createLink({ password: 'family-secret' });
  const login = await gate.request('POST', `/api/shared-links/login?key=${locked.key}`, {
    host: shareHost(),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ password: 'family-secret' }),
  });
  assert.equal(login.status, 503);
  assert.deepEqual(JSON.parse(login.body), { statusCode: 503, error: 'unavailable', message: 'Temporarily unavailable. Please try again later.' });
  assert.equal(gate.origin.received.filter((r) => r.url.startsWith('/api/shared-links/login')).length, 0, 'the password did not reach Immich');
  const open = gate.origin.library.createLink({});
  assert.equal((await gate.request('GET', `/api/shared-links/me?key=${open.key}`, { host: shareHost() })).status, 200);

  const health = gate.gateway.health!.port;
  assert.equal((await get(health, '/live')).status, 200);
  assert.deepEqual(await get(health, '/ready'), { status: 503, body: 'not ready: store unavailable (cannot reach Redis)\n' });
  const metrics = await get(gate.gateway.metricsPort!, '/metrics');
  assert.match(metrics.body, /^porthole_store_available 0$/m);

  const said = logLines.filter((l) => l.reason === 'cannot reach Redis');
  assert.equal(said.length, 1, 'one line, not one per attempt');
  assert.ok(said[0]!.msg.includes(`redis://127.0.0.1:${redis.port}`), said[0]!.msg);
  assert.match(String(said[0]!.check), /Redis runs and store\.url names its host and port/);
  assert.ok(!logText.includes(PASSWORD), 'the password is in no line');

  // Redis comes up on its port: no restart, the gateway loads the shared state and a person signs in.
  const started = Date.now();
  await redis.start();
  await until(async () => (await api()).status === 401, 'the gate to decide again (401 without a cookie)');
  const jar = await gate.signIn('alice@example.com');
  const signedIn = await api({ cookie: jar.header() });
  assert.equal(signedIn.status, 200, signedIn.body);
  const tookMs = Date.now() - started;
  assert.ok(tookMs < 15_000, `signed in ${tookMs} ms after Redis started`);
  assert.deepEqual(await get(health, '/ready'), { status: 200, body: 'ok\n' });
  assert.match((await get(gate.gateway.metricsPort!, '/metrics')).body, /^porthole_store_available 1$/m);
  assert.ok(logLines.some((l) => l.msg === 'store available: Redis answers, mirror loaded'));
  // And the session is in Redis, for the other gateways: written through, not only in this one's memory.
  assert.match(await redis.command('HLEN', 'porthole:records:session'), /^:1\r$/m);
  assert.ok(!logText.includes(PASSWORD));
});
