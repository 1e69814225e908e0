// Cookies across the gate, over real sockets to a real gateway and an origin that misbehaves on purpose:
// - one strict parser: a session token hidden after a space inside another cookie's value is neither accepted nor
//   forwarded; `x=1 porthole_session=<A>; porthole_session=<V>` is V's request, never A's (plain and __Host-);
// - Porthole's own cookie names, in every spelling, are removed from the origin's Set-Cookie (answers and upgrades);
// - the renewed session cookie never rides on an answer the origin marked public; other answers that carry it are
//   marked private.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { parseConfig } from '../../src/config/load.js';
import { eachCookie, readCookie, withoutOwnCookies } from '../../src/http/cookies.js';
import { prng } from '../prng.js';
import { issueSession, RENEW_INTERVAL_MS } from '../../src/gate/session.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';

const PRIVATE_HOST = 'photos.localhost';

/** Every spelling of Porthole's cookies an origin might try to set. */
const OWN_SET_COOKIES = [
  '__Host-porthole_session=fixed-by-origin; Path=/; Secure; HttpOnly',
  'porthole_session=fixed-by-origin; Path=/',
  'PORTHOLE_SESSION=fixed-by-origin; Path=/',
  '__host-Porthole_Session=fixed-by-origin; Path=/; Secure',
  '__Secure-porthole_session=fixed-by-origin; Path=/; Secure',
  ' porthole_csrf =fixed-by-origin; Path=/',
  '__Host-porthole_pending=fixed-by-origin; Path=/; Secure',
  '=__Host-porthole_session=fixed-by-origin; Path=/; Secure',
];
const IMMICH_SET_COOKIE = 'immich_access_token=kept; Path=/; HttpOnly';

interface Seen {
  url: string;
  cookie: string | undefined;
}

/** An origin that records Cookie headers and answers with the headers each test needs. */
async function startOrigin(): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url!, cookie: req.headers.cookie });
    const cacheControl: Record<string, string> = {
      '/_app/immutable/chunks/app.js': 'public, max-age=31536000, immutable',
      '/api/s-maxage': 's-maxage=600',
      '/api/max-age': 'max-age=60',
      '/api/no-store': 'no-store',
    };
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain', 'content-length': 2 };
    const pathname = req.url!.split('?')[0]!;
    if (cacheControl[pathname]) headers['cache-control'] = cacheControl[pathname];
    if (pathname === '/api/set-own') headers['set-cookie'] = [...OWN_SET_COOKIES, IMMICH_SET_COOKIE];
    res.writeHead(200, headers);
    res.end('ok');
  });
  const sockets = new WebSocketServer({ noServer: true });
  sockets.on('headers', (headers) => headers.push(...OWN_SET_COOKIES.map((c) => `Set-Cookie: ${c}`), `Set-Cookie: ${IMMICH_SET_COOKIE}`));
  server.on('upgrade', (req, socket, head) => sockets.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(data.toString()))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    async close() {
      for (const ws of sockets.clients) ws.terminate();
      await new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections()));
    },
  };
}

interface Setup {
  gateway: Gateway;
  origin: Awaited<ReturnType<typeof startOrigin>>;
  clock: { now: number };
  dataDir: string;
  /** A fresh session for `email`: its cookie name and token. */
  session(email: string): { name: string; token: string };
  get(target: string, headers?: http.OutgoingHttpHeaders): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
}

async function setup(publicScheme: 'http' | 'https'): Promise<Setup> {
  const origin = await startOrigin();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-cookies-test-'));
  const config = parseConfig(
    {
      listen: { address: '127.0.0.1', httpPort: 0 },
      hosts: { private: PRIVATE_HOST },
      publicScheme,
      origin: { url: origin.url },
      gate: { allow: ['alice@example.com', 'bob@example.com'] },
      mail: { from: 'porthole@example.com', transport: 'console' },
      dataDir,
    },
    'test config',
  );
  const clock = { now: Date.now() };
  const gateway = await startGateway(config, createConsoleMailer(), silentLogger, { now: () => clock.now });
  return {
    gateway,
    origin,
    clock,
    dataDir,
    session(email) {
      const issued = issueSession(gateway.deps.store, config, email, { now: clock.now });
      return { name: issued.cookieName, token: issued.cookieValue };
    },
    get: (target, headers = {}) =>
      new Promise((resolve, reject) => {
        const req = http.get(
          { host: '127.0.0.1', port: gateway.httpPort, path: target, headers: { host: `${PRIVATE_HOST}:${gateway.httpPort}`, ...headers }, agent: false },
          (res) => {
            let body = '';
            res.on('data', (chunk: Buffer) => (body += chunk));
            res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
          },
        );
        req.on('error', reject);
      }),
    async close() {
      await gateway.close();
      await origin.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Who the gate thinks this Cookie header belongs to: its sign-out page names the signed-in address. */
async function signedInAs(s: Setup, cookie: string): Promise<string | null> {
  const page = await s.get('/.porthole/logout', { cookie, accept: 'text/html' });
  assert.equal(page.status, 200);
  return /(alice|bob)@example\.com/.exec(page.body)?.[0] ?? null;
}

/** No request that reached the origin since `from` carried any of these tokens, in any cookie. */
function assertNeverForwarded(s: Setup, from: number, tokens: string[]): void {
  for (const request of s.origin.seen.slice(from)) {
    for (const token of tokens) assert.ok(!(request.cookie ?? '').includes(token), `${request.url} reached the origin with a Porthole token: ${request.cookie}`);
  }
}

test("the gate's fast lookup reads exactly the pairs the filter sees (seeded headers built from tricky pieces)", () => {
  const random = prng(9);
  const pieces = ['porthole_session', '__Host-porthole_session', 'x', '=', ';', ' ', '\t', 'a', 'porthole_sessionx', '"', ',', 'V', 'porthole_csrf'];
  for (let i = 0; i < 50_000; i++) {
    let header = '';
    for (let n = Math.floor(random() * 12); n > 0; n--) header += pieces[Math.floor(random() * pieces.length)];
    for (const name of ['porthole_session', '__Host-porthole_session', 'x']) {
      let first: string | undefined;
      eachCookie(header, (pairName, value) => (pairName === name ? ((first = value), true) : false));
      assert.equal(readCookie(header, name), first, `${JSON.stringify(header)} ${name}`);
    }
    // Whatever the gate could read as a Porthole cookie is gone after the filter.
    const filtered = withoutOwnCookies(header);
    for (const name of ['porthole_session', '__Host-porthole_session', 'porthole_csrf']) assert.equal(readCookie(filtered, name), undefined, JSON.stringify(header));
  }
});

for (const scheme of ['http', 'https'] as const) {
  describe(`one strict cookie parser for the gate and the filter (publicScheme ${scheme})`, () => {
    let s: Setup;
    before(async () => {
      s = await setup(scheme);
    });
    after(() => s.close());

    test("a session token after a space inside another cookie's value is not a session and never reaches Immich", async () => {
      const { name, token } = s.session('alice@example.com');
      assert.equal(name, scheme === 'https' ? '__Host-porthole_session' : 'porthole_session');
      const from = s.origin.seen.length;
      assert.equal((await s.get('/api/echo', { cookie: `${name}=${token}` })).status, 200, 'the token itself is good');
      for (const cookie of [`x=a ${name}=${token}`, `x=a ${name}=${token}; y=1`, `x="a ${name}=${token}"`, `x=a,${name}=${token}`]) {
        assert.equal((await s.get('/api/echo', { cookie })).status, 401, cookie);
        assert.equal(await signedInAs(s, cookie), null, cookie);
      }
      assertNeverForwarded(s, from, [token]);
    });

    test("`x=1 <name>=<A>; <name>=<V>` is V's request, never A's, and neither token is forwarded", async () => {
      const alice = s.session('alice@example.com');
      const bob = s.session('bob@example.com');
      const name = alice.name;
      const from = s.origin.seen.length;
      assert.equal(await signedInAs(s, `x=1 ${name}=${alice.token}; ${name}=${bob.token}`), 'bob@example.com');
      assert.equal(await signedInAs(s, `${name}=${bob.token}; x=1 ${name}=${alice.token}`), 'bob@example.com');
      // V is junk: A, hidden in x's value, does not step in.
      const junk = `x=1 ${name}=${alice.token}; ${name}=${'A'.repeat(43)}`;
      assert.equal(await signedInAs(s, junk), null);
      assert.equal((await s.get('/api/echo', { cookie: junk })).status, 401);
      const forwarded = await s.get('/api/echo', { cookie: `x=1 ${name}=${alice.token}; ${name}=${bob.token}; immich_access_token=abc` });
      assert.equal(forwarded.status, 200);
      assert.equal(s.origin.seen.at(-1)!.cookie, 'immich_access_token=abc', 'Immich gets its own cookies and nothing else');
      assertNeverForwarded(s, from, [alice.token, bob.token]);
    });

    if (scheme === 'https') {
      test('under https only the __Host- cookie counts: a plain porthole_session (which a sibling host could set) is ignored', async () => {
        const { token } = s.session('alice@example.com');
        const from = s.origin.seen.length;
        for (const cookie of [`porthole_session=${token}`, `__host-porthole_session=${token}`, `__Secure-porthole_session=${token}`, `x=a __Host-porthole_session=${token}`]) {
          assert.equal((await s.get('/api/echo', { cookie })).status, 401, cookie);
        }
        assertNeverForwarded(s, from, [token]);
      });
    }

    test("Porthole's cookie names in every spelling are removed from the origin's Set-Cookie; Immich's pass", async () => {
      const { name, token } = s.session('alice@example.com');
      const res = await s.get('/api/set-own', { cookie: `${name}=${token}` });
      assert.equal(res.status, 200);
      assert.deepEqual(res.headers['set-cookie'], [IMMICH_SET_COOKIE]);
    });

    test("... and from the origin's answer to a WebSocket upgrade", async () => {
      const { name, token } = s.session('alice@example.com');
      const ws = new WebSocket(`ws://127.0.0.1:${s.gateway.httpPort}/api/socket.io/?EIO=4&transport=websocket`, {
        headers: { host: `${PRIVATE_HOST}:${s.gateway.httpPort}`, cookie: `${name}=${token}` },
      });
      let upgrade: http.IncomingMessage | undefined;
      ws.once('upgrade', (res) => (upgrade = res));
      await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
      ws.close();
      assert.ok(upgrade);
      assert.deepEqual(upgrade.headers['set-cookie'], [IMMICH_SET_COOKIE]);
    });

    test('the renewed session cookie never rides on an answer marked public; other answers carrying it are private', async () => {
      const { name, token } = s.session('alice@example.com');
      const cookie = `${name}=${token}`;
      const renewedOn = async (target: string) => {
        s.clock.now += RENEW_INTERVAL_MS + 1;
        const res = await s.get(target, { cookie });
        assert.equal(res.status, 200, target);
        const own = (res.headers['set-cookie'] ?? []).filter((c) => c.startsWith(`${name}=`));
        return { renewed: own.length > 0, cacheControl: res.headers['cache-control'] };
      };
      assert.deepEqual(await renewedOn('/_app/immutable/chunks/app.js'), { renewed: false, cacheControl: 'public, max-age=31536000, immutable' });
      assert.deepEqual(await renewedOn('/api/s-maxage'), { renewed: false, cacheControl: 's-maxage=600' });
      assert.deepEqual(await renewedOn('/api/plain'), { renewed: true, cacheControl: 'private' });
      assert.deepEqual(await renewedOn('/api/max-age'), { renewed: true, cacheControl: 'private, max-age=60' });
      assert.deepEqual(await renewedOn('/api/no-store'), { renewed: true, cacheControl: 'no-store' });
      // Without a renewal nothing is added: the origin's caching stays as it was.
      assert.equal((await s.get('/api/plain', { cookie })).headers['cache-control'], undefined);
    });
  });
}
