// Device tokens for the Immich mobile app, over real sockets: adding through the CLI functions and the real
// CLI process, API calls, media Range requests, Expect: 100-continue uploads and the socket.io WebSocket with
// the header; the header never reaching Immich; wrong, revoked and no-longer-allowed tokens all getting the
// same 401; revocation noticed by a running gateway; wrong tokens rate-limited per IP; the database holding
// only hashes; the share host not honouring the header.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { formatDevices, parseDeviceRevokeTarget } from '../../src/cli/devices.js';
import { addDevice, DEVICE_NAME_MAX, DeviceInputError, hashDeviceToken, newDeviceToken, revokeDevices, TOUCH_INTERVAL_MS } from '../../src/gate/devices.js';
import { startGateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';
import { SAMPLE_SESSION_TOKEN } from '../../src/demo/sample-immich/server.js';
import { CookieJar, expectUpload, SHARE_HOST, startTestGate, type Response, type TestGate } from './harness.js';

let gate: TestGate;
before(async () => {
  gate = await startTestGate();
});
after(() => gate.close());

const CLI = path.resolve('src/cli/main.ts');
const HEADER = 'x-porthole-device';
const store = () => gate.gateway.deps.store;
const add = (email = 'alice@example.com', name = "Alice's phone") => addDevice(store(), gate.config.gate.allow, { email, name }, gate.clock.now);
const withDevice = (token: string, extra: http.OutgoingHttpHeaders = {}) => ({ headers: { [HEADER]: token, ...extra } });
const ping = (token?: string) => gate.request('GET', '/api/server/ping', token === undefined ? {} : withDevice(token));

/** Status, headers (but the date) and body: what a client could compare between two refusals. */
function shape(res: Response): unknown {
  const { date: _, ...headers } = res.headers;
  return { status: res.status, headers, body: res.body };
}

async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let value = await probe();
  // Polled (another process has no event to wait on); the bound is generous for a loaded machine.
  for (let i = 0; i < 400 && !done(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await probe();
  }
  return value;
}

test('adding through the CLI functions: a prefixed 256-bit token, clear errors for bad arguments, audited', () => {
  const { record, token } = add('Bob@Family.Example', '  Bob\u2019s tablet ');
  assert.match(token, /^ph_dev_[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(token.slice(7), 'base64url').length, 32);
  assert.notEqual(newDeviceToken(), newDeviceToken());
  assert.equal(record.email, 'bob@family.example');
  assert.equal(record.name, 'Bob\u2019s tablet');
  assert.match(record.id, /^[0-9a-f]{16}$/);
  assert.equal(record.tokenHash, crypto.createHash('sha256').update(token).digest('hex'));

  const fails = (email: string, name: unknown, pattern: RegExp) =>
    assert.throws(
      () => addDevice(store(), gate.config.gate.allow, { email, name }),
      (error: Error) => error instanceof DeviceInputError && pattern.test(error.message),
    );
  fails('eve@example.com', 'x', /eve@example\.com is not on gate\.allow/);
  fails('alice@example.com.evil', 'x', /not on gate\.allow/);
  fails('not an address', 'x', /is not a plain email address/);
  fails('alice@example.com', '', /name is empty/);
  fails('alice@example.com', '   ', /name is empty/);
  fails('alice@example.com', undefined, /give the device a name/);
  fails('alice@example.com', 'x'.repeat(DEVICE_NAME_MAX + 1), /too long \(65 characters, at most 64\)/);
  fails('alice@example.com', 'two\nlines', /one line of text/);
  assert.equal(add('alice@example.com', 'é'.repeat(DEVICE_NAME_MAX)).record.name.length, DEVICE_NAME_MAX);

  const created = store().audit.list({ type: 'device.created', email: 'bob@family.example' });
  assert.equal(created.length, 1);
  assert.match(created[0]!.detail!, new RegExp(`device ${record.id} "Bob\u2019s tablet"`));
  assert.ok(!JSON.stringify(store().audit.list({ limit: 1000 })).includes(token), 'the token is not in the audit log');
});

test('the Immich API with the header works, without it 401; last use is written at most once a minute', async () => {
  const { record, token } = add();
  const ok = await gate.request('GET', '/api/users/me', withDevice(token, { 'x-immich-user-token': SAMPLE_SESSION_TOKEN }));
  assert.equal(ok.status, 200, ok.body);
  assert.equal(JSON.parse(ok.body).email, gate.origin.library.owner.email);
  assert.equal(ok.headers['set-cookie'], undefined, 'a device gets no session cookie');
  assert.equal((await gate.request('GET', '/api/users/me', { headers: { 'x-immich-user-token': SAMPLE_SESSION_TOKEN } })).status, 401);

  const stored = () =>
    store()
      .devices.list()
      .find((d) => d.id === record.id)!;
  const first = gate.clock.now;
  assert.equal(stored().lastUsedAt, first);
  assert.equal(stored().lastIp, '127.0.0.1');
  const saved = gate.clock.now;
  try {
    gate.clock.now = first + TOUCH_INTERVAL_MS - 1;
    assert.equal((await ping(token)).status, 200);
    assert.equal(stored().lastUsedAt, first, 'no write within the minute');
    gate.clock.now = first + TOUCH_INTERVAL_MS;
    assert.equal((await ping(token)).status, 200);
    assert.equal(stored().lastUsedAt, first + TOUCH_INTERVAL_MS);
  } finally {
    gate.clock.now = saved;
  }
  assert.equal(
    store()
      .audit.list({ type: 'device.refused' })
      .filter((e) => e.detail?.includes(record.id)).length,
    0,
  );
});

test('hot path: repeated requests from one device cost one lookup and no writes within the minute; junk costs none', async () => {
  const { token } = add();
  const devices = store().devices;
  const original = { find: devices.findByTokenHash, touch: devices.touch };
  let lookups = 0;
  let touches = 0;
  const spied = devices as { findByTokenHash: typeof original.find; touch: typeof original.touch };
  spied.findByTokenHash = (hash) => (lookups++, original.find.call(devices, hash));
  spied.touch = (...args) => (touches++, original.touch.apply(devices, args));
  try {
    for (let i = 0; i < 20; i++) assert.equal((await ping(token)).status, 200);
    assert.equal(lookups, 1, `${lookups} lookups for 20 requests`);
    assert.equal(touches, 1, `${touches} writes for 20 requests`);
    for (const junk of ['x', `ph_dev_${'A'.repeat(42)}`, `ph_dev_${'A'.repeat(42)}!`, `ph_sess_${'A'.repeat(43)}`]) assert.equal((await ping(junk)).status, 401);
    assert.equal(lookups, 1, 'malformed tokens are refused without a lookup');
  } finally {
    spied.findByTokenHash = original.find;
    spied.touch = original.touch;
  }
});

test('the header never reaches Immich; Immich gets its own credentials untouched', async () => {
  const { token } = add();
  const before = gate.origin.received.length;
  const echo = await gate.request('GET', '/api/debug/echo', withDevice(token, { authorization: 'Bearer immich-token', 'X-Porthole-Device-Extra': 'kept' }));
  assert.equal(echo.status, 200);
  const seen = gate.origin.received.slice(before);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.headers[HEADER], undefined);
  assert.equal(seen[0]!.headers.authorization, 'Bearer immich-token');
  assert.equal(seen[0]!.headers['x-porthole-device-extra'], 'kept', "only the exact header is Porthole's");
  assert.ok(!JSON.stringify(seen).includes(token));
  assert.ok(!echo.body.includes(token));
});

test('wrong, malformed, revoked and disallowed tokens all get the same 401 as no credential at all', async () => {
  const none = await ping();
  assert.equal(none.status, 401);
  const { record, token } = add();
  revokeDevices(store(), { id: record.id }, gate.clock.now);
  const cases = {
    unknown: newDeviceToken(),
    revoked: token,
    malformed: 'ph_dev_short',
    empty: '',
    oversized: `ph_dev_${'A'.repeat(5000)}`,
    'another scheme': `Bearer ${newDeviceToken()}`,
  };
  for (const [what, value] of Object.entries(cases)) {
    assert.deepEqual(shape(await ping(value)), shape(none), what);
  }
  // Two device headers are never one token.
  const twice = await new Promise<number>((resolve, reject) => {
    const good = add().token;
    const req = http.request(
      {
        host: '127.0.0.1',
        port: gate.port,
        path: '/api/server/ping',
        headers: ['Host', gate.host, HEADER, good, HEADER, good] as unknown as http.OutgoingHttpHeaders,
        agent: false,
      },
      (res) => (res.resume(), resolve(res.statusCode!)),
    );
    req.on('error', reject);
    req.end();
  });
  assert.equal(twice, 401);
  // A header that is present decides alone: a wrong token is refused even next to a valid session.
  const jar = await gate.signIn('alice@example.com');
  assert.equal((await gate.request('GET', '/api/server/ping', { jar })).status, 200);
  assert.equal((await gate.request('GET', '/api/server/ping', { jar, ...withDevice(newDeviceToken()) })).status, 401);

  const refused = store().audit.list({ type: 'device.refused' });
  assert.ok(refused.length >= 1, 'refusals are audited');
  assert.ok(refused.every((e) => e.ip === '127.0.0.1'));
});

test('revocation through the CLI functions is refused at once by the running gateway', async () => {
  const { record, token } = add('bob@family.example', 'Bob phone');
  assert.equal((await ping(token)).status, 200);
  assert.equal((await ping(token)).status, 200, 'now served from the cache');
  const revoked = revokeDevices(store(), { id: record.id });
  assert.deepEqual(
    revoked.map((d) => d.id),
    [record.id],
  );
  assert.equal((await ping(token)).status, 401);
  assert.equal(revokeDevices(store(), { id: record.id }).length, 0, 'revoking twice revokes nothing');
  const audit = store().audit.list({ type: 'device.revoked', email: 'bob@family.example' });
  assert.match(audit[0]!.detail!, new RegExp(`device ${record.id} "Bob phone"`));

  const a = add('carol@family.example', 'one');
  const b = add('carol@family.example', 'two');
  const other = add('alice@example.com', 'stays');
  assert.equal(revokeDevices(store(), { email: 'CAROL@family.example' }).length, 2);
  assert.equal((await ping(a.token)).status, 401);
  assert.equal((await ping(b.token)).status, 401);
  assert.equal((await ping(other.token)).status, 200);
});

test('an address removed from gate.allow locks its devices out', async () => {
  const { token } = add('dave@family.example', 'Dave phone');
  assert.equal((await ping(token)).status, 200);
  // The same state, served by a gateway whose config no longer allows the family domain.
  const narrowed = { ...gate.config, gate: { ...gate.config.gate, allow: ['alice@example.com'] } };
  const second = await startGateway(
    narrowed,
    createConsoleMailer(() => {}),
    silentLogger,
    { now: () => gate.clock.now },
  );
  try {
    const request = (tokenValue: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: second.httpPort, path: '/api/server/ping', headers: { host: `photos.localhost:${second.httpPort}`, [HEADER]: tokenValue }, agent: false },
          (res) => (res.resume(), resolve(res.statusCode!)),
        );
        req.on('error', reject);
        req.end();
      });
    assert.equal(await request(token), 401);
    assert.equal(await request(add('alice@example.com', 'Alice phone').token), 200, 'allowed addresses still pass');
    const event = second.deps.store.audit.list({ type: 'device.refused', email: 'dave@family.example' })[0];
    assert.match(event?.detail ?? '', /no longer on gate\.allow/);
  } finally {
    await second.close();
  }
  assert.equal((await ping(token)).status, 200, 'the original config still allows it');
});

function openSocket(headers: Record<string, string>): Promise<{ opened: boolean; status?: number; echo?: string; retryAfter?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gate.port}/api/socket.io/?EIO=4&transport=websocket`, { headers: { host: gate.host, ...headers } });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ opened: false, status: res.statusCode, retryAfter: res.headers['retry-after'] });
      ws.terminate();
    });
    ws.on('error', () => resolve({ opened: false }));
    ws.on('open', () => ws.send('hello'));
    ws.on('message', (data) => {
      resolve({ opened: true, echo: String(data) });
      ws.close();
    });
  });
}

test('WebSocket to /api/socket.io: opens with the header (which Immich never sees), refused before the upgrade without', async () => {
  const { token } = add();
  const before = gate.origin.received.length;
  assert.deepEqual(await openSocket({}), { opened: false, status: 401, retryAfter: undefined });
  assert.deepEqual(await openSocket({ [HEADER]: newDeviceToken() }), { opened: false, status: 401, retryAfter: undefined });
  assert.equal(gate.origin.received.length, before, 'refused upgrades never reached the origin');
  assert.deepEqual(await openSocket({ [HEADER]: token }), { opened: true, echo: 'hello' });
  const upgrade = gate.origin.received.at(-1)!;
  assert.equal(upgrade.url.startsWith('/api/socket.io'), true);
  assert.equal(upgrade.headers[HEADER], undefined);
});

/** An upload the way the app and curl send large ones: headers first, the body only after "100 Continue". */

test('Expect: 100-continue upload with the header: continued and streamed intact; a wrong token is refused unread', async () => {
  const { token } = add();
  const body = crypto.randomBytes(3 * 1024 * 1024);
  const before = gate.origin.received.length;
  const ok = await expectUpload(gate, { [HEADER]: token }, body);
  assert.equal(ok.status, 201, ok.body);
  assert.equal(ok.continued, true);
  assert.equal(JSON.parse(ok.body).sha256, crypto.createHash('sha256').update(body).digest('hex'));
  assert.equal(gate.origin.received.at(-1)!.headers[HEADER], undefined);
  const refused = await expectUpload(gate, { [HEADER]: newDeviceToken() }, body);
  assert.equal(refused.status, 401);
  assert.equal(refused.continued, false, 'no 100 Continue for a refused device');
  assert.equal(gate.origin.received.length, before + 1);
});

test('Range requests on a video with the header get their 206 untouched (seeking in the app)', async () => {
  const { token } = add();
  const video = [...gate.origin.library.assets.values()].find((a) => a.type === 'VIDEO')!;
  const auth = { 'x-immich-user-token': SAMPLE_SESSION_TOKEN };
  const whole = await gate.request('GET', `/api/assets/${video.id}/video/playback`, withDevice(token, auth));
  assert.equal(whole.status, 200);
  const size = Number(whole.headers['content-length']);
  const part = await gate.request('GET', `/api/assets/${video.id}/video/playback`, withDevice(token, { ...auth, range: 'bytes=100-199' }));
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 100-199/${size}`);
  assert.equal(part.headers['content-length'], '100');
  const original = await gate.request('GET', `/api/assets/${video.id}/original`, withDevice(token, { ...auth, range: 'bytes=-10' }));
  assert.equal(original.status, 206);
  assert.equal(original.headers['content-range'], `bytes ${size - 10}-${size - 1}/${size}`);
  assert.equal((await gate.request('GET', `/api/assets/${video.id}/video/playback`, { headers: { ...auth, range: 'bytes=0-9' } })).status, 401);
});

test('wrong tokens are rate-limited per IP: 429 with Retry-After (HTTP and WebSocket), audited without flooding; valid devices still pass', async () => {
  const limited = await startTestGate({ gate: { rateLimits: { verifiesPerIpPerHour: 3 } } });
  try {
    const good = addDevice(limited.gateway.deps.store, limited.config.gate.allow, { email: 'alice@example.com', name: 'phone' }).token;
    const wrong = () => limited.request('GET', '/api/server/ping', { headers: { [HEADER]: newDeviceToken(), 'accept-language': 'de' } });
    for (let i = 0; i < 3; i++) assert.equal((await wrong()).status, 401, `try ${i + 1}`);
    const over = await wrong();
    assert.equal(over.status, 429);
    const retryAfter = Number(over.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 3600, String(over.headers['retry-after']));
    assert.equal(JSON.parse(over.body).error, 'rate-limited');
    assert.match(JSON.parse(over.body).message, /Bitte in \d+ Minuten? erneut versuchen/);
    const socket = await new Promise<{ status?: number; retryAfter?: string }>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${limited.port}/api/socket.io/?EIO=4&transport=websocket`, { headers: { host: limited.host, [HEADER]: newDeviceToken() } });
      ws.on('unexpected-response', (_req, res) => (resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'] }), ws.terminate()));
      ws.on('error', () => resolve({}));
    });
    assert.equal(socket.status, 429);
    assert.ok(Number(socket.retryAfter) >= 1);
    // A revoked phone retrying at home must not lock the rest of the household out.
    assert.equal((await limited.request('GET', '/api/server/ping', { headers: { [HEADER]: good } })).status, 200);
    // Sign-in codes are counted apart.
    assert.equal((await limited.submit('/.porthole/login', { email: 'alice@example.com' }, new CookieJar())).status, 303);

    const audit = limited.gateway.deps.store.audit;
    const refused = audit.list({ type: 'device.refused' });
    assert.equal(refused.length, 1, 'one device.refused per IP per minute, not one per request');
    assert.equal(audit.list({ type: 'rate.limited' }).length, 1);
    limited.clock.now += 61_000;
    assert.equal((await wrong()).status, 429);
    const later = audit.list({ type: 'device.refused' });
    assert.equal(later.length, 2);
    assert.match(later[0]!.detail!, /unknown device token \(\+4 more from this IP since the last event\)/);
  } finally {
    await limited.close();
  }
});

test('the share host does not honour the header', async () => {
  const { token } = add();
  const res = await gate.request('GET', '/api/users/me', { host: `${SHARE_HOST}:${gate.port}`, headers: { [HEADER]: token } });
  assert.equal(res.status, 404);
  assert.equal((await gate.request('GET', '/photos', { host: `${SHARE_HOST}:${gate.port}`, headers: { [HEADER]: token } })).status, 404);
  // Where the share host does forward (its public server endpoints), the token is dropped on the way.
  const before = gate.origin.received.length;
  const config = await gate.request('GET', '/api/server/config', { host: `${SHARE_HOST}:${gate.port}`, headers: { [HEADER]: token } });
  assert.equal(config.status, 200);
  const forwarded = gate.origin.received.slice(before);
  assert.ok(forwarded.some((r) => r.url === '/api/server/config'));
  assert.ok(
    forwarded.every((r) => r.headers[HEADER.toLowerCase()] === undefined),
    'the device token reached Immich through the share host',
  );
});

test('the database keeps only hashes of device tokens', () => {
  const { token } = add('alice@example.com', 'hash check');
  const file = path.join(gate.dataDir, 'porthole.db');
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare('SELECT * FROM devices').all() as Array<Record<string, unknown>>;
    assert.ok(rows.some((r) => r.token_hash === hashDeviceToken(token)));
    assert.ok(!JSON.stringify(rows).includes(token));
    assert.ok(!JSON.stringify(rows).includes(token.slice(7)));
  } finally {
    db.close();
  }
  // Every file of the state (database, WAL, shared memory, key) searched byte for byte. In another process:
  // opening and closing the database files here would drop this process's SQLite locks (POSIX semantics).
  const holding = (needle: string) => {
    const scan = spawnSync(process.execPath, ['-e', SCAN_FILES, gate.dataDir, needle], { encoding: 'utf8' });
    assert.equal(scan.status, 0, scan.stderr);
    return scan.stdout.split('\n').filter(Boolean);
  };
  assert.notDeepEqual(holding(hashDeviceToken(token)), [], 'the scan finds what is there');
  assert.deepEqual(holding(token.slice(7)), []);
});

const SCAN_FILES = `
const fs = require('node:fs'), path = require('node:path');
const [dir, needle] = process.argv.slice(1);
for (const name of fs.readdirSync(dir)) if (fs.readFileSync(path.join(dir, name)).includes(needle)) console.log(name);
`;

test('revoke arguments and list output: clear errors, never a token', () => {
  assert.deepEqual(parseDeviceRevokeTarget('0123456789ABCDEF', undefined, false), { id: '0123456789abcdef' });
  assert.deepEqual(parseDeviceRevokeTarget(undefined, 'Bob@Family.Example', false), { email: 'bob@family.example' });
  assert.deepEqual(parseDeviceRevokeTarget(undefined, undefined, true), { all: true });
  assert.throws(() => parseDeviceRevokeTarget(undefined, undefined, false), /a device id, --email <address>, or --all/);
  assert.throws(() => parseDeviceRevokeTarget('0123456789abcdef', undefined, true), /only one of/);
  assert.throws(() => parseDeviceRevokeTarget(undefined, 'x@example.com', true), /only one of/);
  assert.throws(() => parseDeviceRevokeTarget('phone', undefined, false), /is not a device id/);
  assert.throws(() => parseDeviceRevokeTarget(undefined, 'nobody', false), /is not an email address/);
  const { token } = add('alice@example.com', 'listed');
  const table = formatDevices(store().devices.list());
  assert.match(table, /^ID +EMAIL +CREATED +LAST USED +LAST IP +NAME$/m);
  assert.match(table, /alice@example\.com .* listed$/m);
  assert.ok(!table.includes(token) && !table.includes(hashDeviceToken(token)));
});

test('the real CLI in another process: add, list, revoke; the running gateway notices at once', async () => {
  const configFile = path.join(gate.dataDir, 'cli.yaml');
  fs.writeFileSync(
    configFile,
    [
      'hosts: { private: photos.localhost }',
      'origin: { url: "http://127.0.0.1:9" }',
      'gate: { allow: ["alice@example.com", "*@family.example"] }',
      'mail: { from: "p@example.com", transport: console }',
      `dataDir: ${JSON.stringify(gate.dataDir)}`,
    ].join('\n'),
  );
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, 'devices', ...args, '--config', configFile], { encoding: 'utf8' });

  const added = run('add', '--email', 'Erin@Family.example', '--name', "Erin's phone");
  assert.equal(added.status, 0, added.stderr);
  const token = /^ {2}X-Porthole-Device: (ph_dev_[A-Za-z0-9_-]{43})$/m.exec(added.stdout)?.[1];
  assert.ok(token, added.stdout);
  assert.match(added.stdout, /Custom proxy headers/);
  assert.match(added.stdout, /Header name: +X-Porthole-Device/);
  assert.match(added.stdout, /only while erin@family\.example is on gate\.allow/);
  const id = /^Added device ([0-9a-f]{16}) "Erin's phone" for erin@family\.example\.$/m.exec(added.stdout)?.[1];
  assert.ok(id, added.stdout);
  assert.equal((await ping(token)).status, 200);

  const list = run('list');
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`^${id} +erin@family\\.example +\\S+Z +\\S+Z +127\\.0\\.0\\.1 +Erin's phone$`, 'm'));
  assert.ok(!list.stdout.includes(token) && !list.stdout.includes(hashDeviceToken(token)));
  const json = run('list', '--json');
  assert.equal(json.status, 0, json.stderr);
  assert.ok(!json.stdout.includes(token) && !json.stdout.includes(hashDeviceToken(token)));
  assert.ok((JSON.parse(json.stdout) as Array<{ id: string }>).some((d) => d.id === id));

  const notAllowed = run('add', '--email', 'eve@example.com', '--name', 'x');
  assert.equal(notAllowed.status, 2);
  assert.match(notAllowed.stderr, /eve@example\.com is not on gate\.allow/);
  const longName = run('add', '--email', 'alice@example.com', '--name', 'x'.repeat(65));
  assert.equal(longName.status, 2);
  assert.match(longName.stderr, /too long/);
  const emptyName = run('add', '--email', 'alice@example.com', '--name', '');
  assert.equal(emptyName.status, 2);
  assert.match(emptyName.stderr, /name is empty/);
  const unknown = run('revoke', 'ffffffffffffffff');
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /no active device with id ffffffffffffffff/);
  const noTarget = run('revoke');
  assert.equal(noTarget.status, 2);
  assert.match(noTarget.stderr, /say which devices to revoke/);
  assert.ok(!`${notAllowed.stdout}${longName.stdout}${emptyName.stdout}`.includes('ph_dev_'), 'no token printed on errors');

  const revoked = run('revoke', id);
  assert.equal(revoked.status, 0, revoked.stderr);
  assert.match(revoked.stdout, /Revoked 1 device \("Erin's phone", erin@family\.example\)\./);
  // Another process wrote the database: the gateway's cache notices within a fraction of a second.
  const status = await until(
    async () => (await ping(token)).status,
    (s) => s === 401,
  );
  assert.equal(status, 401);
  const all = run('revoke', '--all');
  assert.equal(all.status, 0, all.stderr);
  assert.match(all.stdout, /^Revoked \d+ devices?\.$/m);
  assert.equal(store().devices.list().length, 0);
  const withRevoked = run('list', '--revoked');
  assert.match(withRevoked.stdout, /^ID .* REVOKED +NAME$/m);
  assert.match(withRevoked.stdout, new RegExp(`^${id} +erin@family\\.example .*Z +Erin's phone$`, 'm'));
});
