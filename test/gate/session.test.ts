// Sessions: cookie flags under http and https, expiry by the injected clock, sliding renewal that writes the
// store at most once a minute, revocation through the CLI functions and through the real `porthole sessions`
// command in another process, and the CLI's argument errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseRevokeTarget, revokeSessions } from '../../src/cli/sessions.js';
import { hashToken, issueSession, RENEW_INTERVAL_MS } from '../../src/gate/session.js';
import { CookieJar, startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
before(async () => {
  gate = await startTestGate({ gate: { sessionLifetime: '1h' } });
});
after(() => gate.close());

const ping = (jar: CookieJar) => gate.request('GET', '/api/server/ping', { jar });
const CLI = path.resolve('src/cli/main.ts');

test('cookie flags over http: HttpOnly, SameSite=Lax, Path=/, lifetime, no Secure, no __Host-', async () => {
  const jar = await gate.signIn('alice@example.com');
  const session = jar.seen.find((c) => c.startsWith('porthole_session='))!;
  assert.match(session, /^porthole_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
  for (const name of ['porthole_csrf', 'porthole_pending']) {
    const cookie = jar.seen.find((c) => c.startsWith(`${name}=`))!;
    assert.match(cookie, /; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/, name);
  }
});

test('cookie flags over https: __Host- prefix, Secure, no Domain', async () => {
  const secure = await startTestGate({ publicScheme: 'https' });
  try {
    const jar = await secure.signIn('alice@example.com');
    const names = [...jar.cookies.keys()];
    assert.ok(names.includes('__Host-porthole_session'), String(names));
    for (const cookie of jar.seen) {
      assert.match(cookie, /^__Host-porthole_(session|csrf|pending)=/);
      assert.match(cookie, /; Path=\/; /);
      assert.match(cookie, /; HttpOnly; SameSite=Lax; Secure$/);
      assert.doesNotMatch(cookie, /Domain=/i);
    }
    assert.equal((await secure.request('GET', '/api/server/ping', { jar })).status, 200);
    // The mailed link uses the public scheme.
    assert.match(secure.smtp.mails.at(-1)!.link, /^https:\/\/photos\.localhost:\d+\/\.porthole\/link\?t=/);
  } finally {
    await secure.close();
  }
});

test('a session whose address is no longer on gate.allow opens nothing (sessions outlive restarts)', async () => {
  const removed = issueSession(gate.gateway.deps.store, gate.config, 'mallory@example.com');
  const kept = issueSession(gate.gateway.deps.store, gate.config, 'carol@family.example');
  const call = (cookie: string) => gate.request('GET', '/api/server/ping', { headers: { cookie } });
  assert.equal((await call(`${removed.cookieName}=${removed.cookieValue}`)).status, 401);
  assert.equal((await call(`${kept.cookieName}=${kept.cookieValue}`)).status, 200);
});

test('a session expires after gate.sessionLifetime without use', async () => {
  const jar = await gate.signIn('alice@example.com');
  const saved = gate.clock.now;
  try {
    gate.clock.now = saved + 3_600_000 - 1;
    assert.equal((await gate.request('HEAD', '/.porthole/logout', { jar })).status, 200);
    gate.clock.now = saved + 3_600_000 + 1;
    assert.equal((await ping(jar)).status, 401);
    const page = await gate.request('GET', '/photos', { jar, headers: { accept: 'text/html' } });
    assert.equal(page.status, 302);
  } finally {
    gate.clock.now = saved;
  }
});

test('sliding renewal: at most one store write per minute, and use keeps the session alive', async () => {
  const store = gate.gateway.deps.store;
  const start = gate.clock.now;
  const issued = issueSession(store, gate.config, 'alice@example.com', { now: start });
  const jar = new CookieJar();
  jar.cookies.set(issued.cookieName, issued.cookieValue);
  const stored = () => store.sessions.findByTokenHash(hashToken(issued.cookieValue))!;
  try {
    gate.clock.now = start + 30_000;
    const early = await ping(jar);
    assert.equal(early.status, 200);
    assert.equal(early.headers['set-cookie'], undefined);
    assert.equal(stored().lastSeenAt, start, 'no write within the first minute');

    gate.clock.now = start + RENEW_INTERVAL_MS + 1;
    const renewed = await ping(jar);
    assert.equal(renewed.status, 200);
    assert.match(renewed.headers['set-cookie']?.[0] ?? '', new RegExp(`^porthole_session=${issued.cookieValue}; Path=/; Max-Age=3600;`));
    assert.equal(stored().lastSeenAt, gate.clock.now);
    assert.equal(stored().expiresAt, gate.clock.now + 3_600_000);
    for (let i = 0; i < 5; i++) assert.equal((await ping(jar)).headers['set-cookie'], undefined, 'no second write in the same minute');

    // Without the renewal the session would have died at start + 1h; it now lives to renewal + 1h.
    gate.clock.now = start + 3_600_000 + 30_000;
    assert.equal((await ping(jar)).status, 200);
    // That use slid it again; an hour of silence after it ends the session.
    gate.clock.now += 3_600_000;
    assert.equal((await ping(jar)).status, 401);
  } finally {
    gate.clock.now = start;
  }
});

test('revoke through the CLI functions: by id, by email, all', async () => {
  const store = gate.gateway.deps.store;
  const a = await gate.signIn('alice@example.com');
  const b = await gate.signIn('bob@family.example');
  const c = await gate.signIn('bob@family.example');
  const aliceIds = store.sessions
    .list(gate.clock.now)
    .filter((s) => s.email === 'alice@example.com')
    .map((s) => s.id);
  for (const jar of [a, b, c]) assert.equal((await ping(jar)).status, 200);

  const byEmail = revokeSessions(store, parseRevokeTarget('Bob@Family.example', false));
  assert.equal(byEmail.length, 2);
  assert.equal((await ping(b)).status, 401);
  assert.equal((await ping(c)).status, 401);
  assert.equal((await ping(a)).status, 200);

  const byId = revokeSessions(store, parseRevokeTarget(aliceIds.at(-1), false));
  assert.equal(byId.length, 1);
  assert.equal((await ping(a)).status, 401);
  revokeSessions(store, parseRevokeTarget(undefined, true));
  assert.deepEqual(store.sessions.list(gate.clock.now), []);
  assert.ok(store.audit.list({ type: 'session.revoked', email: 'bob@family.example' }).length >= 2);
});

test('revoke arguments: clear errors', () => {
  assert.throws(() => parseRevokeTarget(undefined, false), /a session id, an email address, or --all/);
  assert.throws(() => parseRevokeTarget('abc', false), /neither a session id/);
  assert.throws(() => parseRevokeTarget('0123456789abcdef', true), /not both/);
  assert.deepEqual(parseRevokeTarget('0123456789abcdef', false), { id: '0123456789abcdef' });
});

test('the real CLI in another process lists and revokes; the running gateway notices', async () => {
  const jar = await gate.signIn('alice@example.com');
  assert.equal((await ping(jar)).status, 200);
  const configFile = path.join(gate.dataDir, 'cli.yaml');
  fs.writeFileSync(
    configFile,
    [
      'hosts: { private: photos.localhost }',
      'origin: { url: "http://127.0.0.1:9" }',
      'gate: { allow: ["alice@example.com"] }',
      'mail: { from: "p@example.com", transport: console }',
      `dataDir: ${JSON.stringify(gate.dataDir)}`,
    ].join('\n'),
  );
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args, '--config', configFile], { encoding: 'utf8' });

  const list = run('sessions', 'list');
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /alice@example\.com/);
  const id = /^([0-9a-f]{16}) +alice@example\.com/m.exec(list.stdout)![1]!;

  const unknown = run('sessions', 'revoke', 'ffffffffffffffff');
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /no active session with id ffffffffffffffff/);
  const bad = run('sessions', 'revoke', 'not-a-thing');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /neither a session id .* nor an email address/);

  const revoked = run('sessions', 'revoke', id);
  assert.equal(revoked.status, 0, revoked.stderr);
  assert.match(revoked.stdout, /Revoked 1 session \(alice@example\.com\)/);
  // Another process wrote the database: the gateway's cache notices within a fraction of a second.
  let status = 200;
  // Polled (another process has no event to wait on); the bound is generous for a loaded machine.
  for (let i = 0; i < 400 && status === 200; i++) {
    status = (await ping(jar)).status;
    if (status === 200) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(status, 401);

  const audit = run('audit', '--type', 'session.revoked', '--limit', '5');
  assert.equal(audit.status, 0, audit.stderr);
  assert.match(audit.stdout, /session\.revoked +alice@example\.com .*command line/);
  const badLimit = run('audit', '--limit', 'lots');
  assert.notEqual(badLimit.status, 0);
  assert.match(badLimit.stderr, /expected a whole number/);
});

test('hot path: repeated requests with one session cost no store lookups after the first', async () => {
  const jar = await gate.signIn('alice@example.com');
  const sessions = gate.gateway.deps.store.sessions;
  const original = sessions.findByTokenHash;
  let lookups = 0;
  (sessions as { findByTokenHash: typeof original }).findByTokenHash = (hash) => (lookups++, original.call(sessions, hash));
  try {
    for (let i = 0; i < 20; i++) assert.equal((await ping(jar)).status, 200);
    assert.ok(lookups <= 1, `${lookups} lookups for 20 requests`);
    // Junk cookies are rejected without a lookup either.
    for (const junk of ['x', 'A'.repeat(42), `${'A'.repeat(42)}!`]) {
      assert.equal((await gate.request('GET', '/api/server/ping', { headers: { cookie: `porthole_session=${junk}` } })).status, 401);
    }
    assert.ok(lookups <= 1);
  } finally {
    (sessions as { findByTokenHash: typeof original }).findByTokenHash = original;
  }
});
