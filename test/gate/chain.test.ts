// The gate decides a request and a WebSocket upgrade with one chain of checks (src/gate/chain.ts). For each case
// in the table the same target and headers go to the real gateway twice, over real sockets: once as a plain
// request, once as an upgrade. Both must reach the same decision: both forwarded to Immich, or both refused the
// same way (a redirect of a page load is a 401 for an upgrade, which cannot follow one). Immich's sample records
// what reached it, so "forwarded" is seen at the origin, not inferred from a status.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { addDevice, revokeDevices } from '../../src/gate/devices.js';
import { issueSession } from '../../src/gate/session.js';
import { CookieJar, SHARE_HOST, startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
let session: string;
let expiredSession: string;
let revokedSession: string;
let deviceToken: string;
let revokedDeviceToken: string;

before(async () => {
  gate = await startTestGate();
  const store = gate.gateway.deps.store;
  const jar: CookieJar = await gate.signIn('alice@example.com');
  session = jar.header()!;
  const cookie = (issued: { cookieName: string; cookieValue: string }) => `${issued.cookieName}=${issued.cookieValue}`;
  expiredSession = cookie(issueSession(store, gate.config, 'alice@example.com', { now: gate.clock.now - gate.config.gate.sessionLifetime - 60_000 }));
  const revoked = issueSession(store, gate.config, 'carol@family.example', { now: gate.clock.now });
  revokedSession = cookie(revoked);
  store.sessions.revokeById(revoked.id);
  deviceToken = addDevice(store, gate.config.gate.allow, { email: 'alice@example.com', name: 'phone' }, gate.clock.now).token;
  const lost = addDevice(store, gate.config.gate.allow, { email: 'carol@family.example', name: 'lost phone' }, gate.clock.now);
  revokedDeviceToken = lost.token;
  revokeDevices(store, { id: lost.record.id }, gate.clock.now);
});
after(() => gate.close());

const SOCKET = '/api/socket.io/?EIO=4&transport=websocket';
const api = { accept: 'application/json' };
const page = { accept: 'text/html,application/xhtml+xml', 'sec-fetch-mode': 'navigate' };

/** What became of one exchange: forwarded to Immich, or refused (or answered by the gate) with this status. */
type Outcome = 'forwarded' | number;

interface Case {
  name: string;
  method?: string;
  target: string;
  headers: () => Record<string, string>;
  /** What the plain request gets, and what the upgrade gets. */
  request: Outcome;
  upgrade: Outcome;
}

const CASES: Case[] = [
  { name: 'no credential, an API call', target: SOCKET, headers: () => api, request: 401, upgrade: 401 },
  { name: 'no credential, a page load', target: '/photos', headers: () => page, request: 302, upgrade: 401 },
  { name: 'no credential, a share link opened as a page', target: '/share/AbC_123', headers: () => page, request: 302, upgrade: 401 },
  { name: 'a valid session', target: SOCKET, headers: () => ({ ...api, cookie: session }), request: 'forwarded', upgrade: 'forwarded' },
  { name: 'an expired session', target: SOCKET, headers: () => ({ ...api, cookie: expiredSession }), request: 401, upgrade: 401 },
  { name: 'a revoked session', target: SOCKET, headers: () => ({ ...api, cookie: revokedSession }), request: 401, upgrade: 401 },
  { name: 'a forged session cookie', target: SOCKET, headers: () => ({ ...api, cookie: `porthole_session=${'A'.repeat(43)}` }), request: 401, upgrade: 401 },
  { name: 'a valid device token', target: SOCKET, headers: () => ({ ...api, 'x-porthole-device': deviceToken }), request: 'forwarded', upgrade: 'forwarded' },
  {
    name: 'a revoked device token, even next to a valid session',
    target: SOCKET,
    headers: () => ({ ...api, 'x-porthole-device': revokedDeviceToken, cookie: session }),
    request: 401,
    upgrade: 401,
  },
  {
    name: 'a malformed device token next to a valid session',
    target: SOCKET,
    headers: () => ({ ...api, 'x-porthole-device': 'nope', cookie: session }),
    request: 401,
    upgrade: 401,
  },
  { name: 'an unknown path under /.porthole/, signed in', target: '/.porthole/nope', headers: () => ({ ...api, cookie: session }), request: 404, upgrade: 404 },
  { name: 'the gate prefix percent-encoded, signed in', target: '/%2eporthole/login', headers: () => ({ ...page, cookie: session }), request: 404, upgrade: 404 },
  { name: "Immich's first-admin sign-up, signed in", method: 'POST', target: '/api/auth/admin-sign-up', headers: () => ({ ...api, cookie: session }), request: 403, upgrade: 403 },
  {
    name: "Immich's restore, spelled another way, with a device token",
    method: 'POST',
    target: '/API//admin/./database-backups/start-restore/',
    headers: () => ({ ...api, 'x-porthole-device': deviceToken }),
    request: 403,
    upgrade: 403,
  },
];

/** How each refusal of a request looks to an upgrade: the same status, except that a redirect becomes a 401. */
const asUpgrade = (outcome: Outcome): Outcome => (outcome === 302 || outcome === 303 ? 401 : outcome);

function reachedOrigin(before: number, target: string): boolean {
  return gate.origin.received.slice(before).some((r) => r.url === target);
}

function plainRequest(c: Case): Promise<Outcome> {
  const before = gate.origin.received.length;
  return gate.request(c.method ?? 'GET', c.target, { headers: c.headers() }).then((res) => (reachedOrigin(before, c.target) ? 'forwarded' : res.status));
}

/** Sends the request head as a WebSocket upgrade and reads the status line the gateway answers with. */
function upgradeRequest(c: Case): Promise<Outcome> {
  const before = gate.origin.received.length;
  return new Promise((resolve, reject) => {
    const socket = net.connect(gate.port, '127.0.0.1');
    const head = [
      `${c.method ?? 'GET'} ${c.target} HTTP/1.1`,
      `host: ${gate.host}`,
      'connection: Upgrade',
      'upgrade: websocket',
      'sec-websocket-version: 13',
      'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==',
      ...Object.entries(c.headers()).map(([name, value]) => `${name}: ${value}`),
      '',
      '',
    ].join('\r\n');
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      answer += chunk;
      if (!answer.includes('\r\n')) return;
      socket.destroy();
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
      resolve(reachedOrigin(before, c.target) ? 'forwarded' : status);
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`${c.name}: the upgrade was closed without an answer`)));
    socket.write(head);
  });
}

for (const c of CASES) {
  test(`request and upgrade decide alike: ${c.name}`, async () => {
    const request = await plainRequest(c);
    const upgrade = await upgradeRequest(c);
    assert.equal(request, c.request, `${c.name}: the request`);
    assert.equal(upgrade, c.upgrade, `${c.name}: the upgrade`);
    assert.equal(upgrade, asUpgrade(request), `${c.name}: the upgrade was decided unlike the request`);
  });
}

test('a forwarded upgrade really is a WebSocket to Immich (101), with the credential removed', async () => {
  const before = gate.origin.received.length;
  const status = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(gate.port, '127.0.0.1');
    socket.setEncoding('latin1');
    socket.once('data', (chunk: string) => (socket.destroy(), resolve(chunk.split('\r\n')[0]!)));
    socket.on('error', reject);
    socket.write(
      [
        `GET ${SOCKET} HTTP/1.1`,
        `host: ${gate.host}`,
        'connection: Upgrade',
        'upgrade: websocket',
        'sec-websocket-version: 13',
        'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==',
        `x-porthole-device: ${deviceToken}`,
        '',
        '',
      ].join('\r\n'),
    );
  });
  assert.equal(status, 'HTTP/1.1 101 Switching Protocols');
  const seen = gate.origin.received.slice(before).find((r) => r.url === SOCKET);
  assert.ok(seen);
  assert.equal(seen.headers['x-porthole-device'], undefined);
});

test('the share-link redirect and the sign-in redirect point where they should', async () => {
  const share = await gate.request('GET', '/share/AbC_123', { headers: page });
  assert.equal(share.headers.location, `http://${SHARE_HOST}:${gate.port}/share/AbC_123`);
  const signIn = await gate.request('GET', '/photos', { headers: page });
  assert.equal(signIn.headers.location, '/.porthole/login?next=%2Fphotos');
});
