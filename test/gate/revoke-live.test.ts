// Revocation closes what is already open: a WebSocket (Immich's /api/socket.io) through the gateway to the sample
// Immich passes data both ways, then its session is revoked with `porthole sessions revoke` or its device with
// `porthole devices revoke` (the real command line, another process writing the SQLite file), or its address is
// taken off gate.allow and the gateway gets a real SIGHUP: both legs of that socket close (bounded wait), nothing
// passes any more, a new upgrade with the same credential is refused, and everyone else's socket stays open.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { reloadOnHangup } from '../../src/cli/serve.js';
import { addDevice } from '../../src/gate/devices.js';
import { issueSession } from '../../src/gate/session.js';
import { silentLogger } from '../../src/log.js';
import { startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
let configFile: string;
const ALLOW = ['alice@example.com', 'bob@example.com', 'carol@example.com', 'dave@example.com'];
/** Generous: the gateway closes within about half a second; the machine running the tests may be busy. */
const CLOSE_BOUND_MS = 5_000;
const CLI = path.resolve('src/cli/main.ts');

const writeConfig = (allow: string[]) =>
  fs.writeFileSync(
    configFile,
    [
      'hosts: { private: photos.localhost }',
      'origin: { url: "http://127.0.0.1:9" }',
      `gate: { allow: ${JSON.stringify(allow)} }`,
      'mail: { from: "p@example.com", transport: console }',
      `dataDir: ${JSON.stringify(gate.dataDir)}`,
    ].join('\n'),
  );

before(async () => {
  gate = await startTestGate({ gate: { allow: ALLOW } });
  configFile = path.join(gate.dataDir, 'cli.yaml');
  writeConfig(ALLOW);
});
after(() => gate?.close());

function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

interface Live {
  client: WebSocket;
  /** The same connection's other leg, as the origin sees it. */
  origin: WebSocket;
  /** Resolve when the leg closes (listening from the moment it opened, so no close is missed). */
  clientClosed: Promise<void>;
  originClosed: Promise<void>;
}

const closing = (ws: WebSocket) => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve())));

/** The next message on `ws`, or a rejection after `ms`. */
const nextMessage = (ws: WebSocket, ms = 10_000) =>
  new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message arrived')), ms);
    ws.once('message', (data) => (clearTimeout(timer), resolve(data.toString())));
  });

/** A WebSocket through the gateway with these credentials; proves data flows both ways before returning. */
async function openSocket(headers: http.OutgoingHttpHeaders): Promise<Live> {
  const before = new Set(gate.origin.webSockets);
  const client = new WebSocket(`ws://127.0.0.1:${gate.port}/api/socket.io/?EIO=4&transport=websocket`, { headers: { host: gate.host, ...headers } });
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
    client.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
  });
  const clientClosed = closing(client);
  client.on('error', () => undefined);
  // Client to origin and back: the sample Immich echoes.
  const echoed = nextMessage(client);
  client.send('ping from the client');
  assert.equal(await echoed, 'ping from the client');
  const origin = [...gate.origin.webSockets].find((ws) => !before.has(ws));
  assert.ok(origin, 'the origin holds the other leg');
  const originClosed = closing(origin);
  // Origin to client, unprompted (what socket.io's server pushes).
  const pushed = nextMessage(client);
  origin.send('push from the origin');
  assert.equal(await pushed, 'push from the origin');
  return { client, origin, clientClosed, originClosed };
}

/** Waits for both legs to close, at most CLOSE_BOUND_MS; returns the wall-clock ms from `since` (a Date.now()). */
async function bothLegsClose(live: Live, since: number, what: string): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: the open WebSocket was still open after ${CLOSE_BOUND_MS} ms`)), CLOSE_BOUND_MS);
  });
  try {
    await Promise.race([Promise.all([live.clientClosed, live.originClosed]), bound]);
  } finally {
    clearTimeout(timer);
  }
  return Date.now() - since;
}

/** Nothing passes any more, in either direction, and the bystander's socket still carries data. */
async function assertCutOff(live: Live, bystander: Live): Promise<void> {
  assert.equal(live.client.readyState, WebSocket.CLOSED);
  assert.equal(live.origin.readyState, WebSocket.CLOSED);
  let arrived = 0;
  live.client.on('message', () => arrived++);
  live.origin.on('message', () => arrived++);
  // Sends on a closed WebSocket fail: no byte of them goes anywhere.
  await new Promise<void>((resolve) => live.client.send('after revocation', (error) => (assert.ok(error), resolve())));
  await new Promise<void>((resolve) => live.origin.send('after revocation', (error) => (assert.ok(error), resolve())));
  const echoed = nextMessage(bystander.client);
  bystander.client.send('still here');
  assert.equal(await echoed, 'still here', 'an unrelated socket stays open');
  assert.equal(arrived, 0);
}

/** When the command line revoked it: its audit event is stamped just before the write. */
const revokedAt = (type: 'session.revoked' | 'device.revoked', id: string) => {
  const event = gate.gateway.deps.store.audit.list({ type }).find((e) => e.detail?.includes(id));
  assert.ok(event, `no ${type} event for ${id}`);
  return event.at;
};

/** A new upgrade with the same credential gets the 401 before any upgrade. */
function refusedUpgrade(headers: http.OutgoingHttpHeaders): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gate.port}/api/socket.io/?EIO=4&transport=websocket`, { headers: { host: gate.host, ...headers } });
    ws.once('unexpected-response', (_req, res) => (resolve(res.statusCode!), ws.terminate()));
    ws.once('open', () => (ws.terminate(), reject(new Error('the revoked credential opened a WebSocket'))));
    ws.once('error', () => undefined);
  });
}

const cookieFor = (email: string) => {
  const session = issueSession(gate.gateway.deps.store, gate.config, email, { now: gate.clock.now });
  return { id: session.id, headers: { cookie: `${session.cookieName}=${session.cookieValue}` } };
};

test('`porthole sessions revoke` in another process closes the open WebSocket of that session', async (t) => {
  const alice = cookieFor('alice@example.com');
  const bob = cookieFor('bob@example.com');
  const victim = await openSocket(alice.headers);
  const bystander = await openSocket(bob.headers);

  const revoked = await cli('sessions', 'revoke', alice.id);
  assert.equal(revoked.status, 0, revoked.stderr);
  assert.match(revoked.stdout, /Revoked 1 session \(alice@example\.com\)/);
  const ms = await bothLegsClose(victim, revokedAt('session.revoked', alice.id), 'sessions revoke');
  t.diagnostic(`session revoked by the CLI: both legs closed ${ms} ms after the revocation was written`);
  await assertCutOff(victim, bystander);
  assert.equal(await refusedUpgrade(alice.headers), 401);
  bystander.client.close();
});

test('`porthole devices revoke` in another process closes the open WebSocket of that device', async (t) => {
  const phone = addDevice(gate.gateway.deps.store, ALLOW, { email: 'carol@example.com', name: "Carol's phone" }, gate.clock.now);
  const other = addDevice(gate.gateway.deps.store, ALLOW, { email: 'carol@example.com', name: "Carol's tablet" }, gate.clock.now);
  const victim = await openSocket({ 'x-porthole-device': phone.token });
  const bystander = await openSocket({ 'x-porthole-device': other.token });

  const revoked = await cli('devices', 'revoke', phone.record.id);
  assert.equal(revoked.status, 0, revoked.stderr);
  const ms = await bothLegsClose(victim, revokedAt('device.revoked', phone.record.id), 'devices revoke');
  t.diagnostic(`device revoked by the CLI: both legs closed ${ms} ms after the revocation was written`);
  await assertCutOff(victim, bystander);
  assert.equal(await refusedUpgrade({ 'x-porthole-device': phone.token }), 401);
  bystander.client.close();
});

test('taking an address off gate.allow and sending SIGHUP closes its open WebSockets, session and device alike', async (t) => {
  reloadOnHangup(gate.gateway, configFile, silentLogger);
  const dave = cookieFor('dave@example.com');
  const davePhone = addDevice(gate.gateway.deps.store, ALLOW, { email: 'dave@example.com', name: "Dave's phone" }, gate.clock.now);
  const alice = cookieFor('alice@example.com');
  const bySession = await openSocket(dave.headers);
  const byDevice = await openSocket({ 'x-porthole-device': davePhone.token });
  const bystander = await openSocket(alice.headers);

  writeConfig(ALLOW.filter((email) => email !== 'dave@example.com'));
  const since = Date.now();
  process.kill(process.pid, 'SIGHUP');
  const [sessionMs, deviceMs] = await Promise.all([bothLegsClose(bySession, since, 'allowlist reload (session)'), bothLegsClose(byDevice, since, 'allowlist reload (device)')]);
  t.diagnostic(`gate.allow reloaded by SIGHUP: session socket closed ${sessionMs} ms after the signal, device socket after ${deviceMs} ms`);
  await assertCutOff(bySession, bystander);
  await assertCutOff(byDevice, bystander);
  assert.equal(await refusedUpgrade(dave.headers), 401);
  assert.equal(await refusedUpgrade({ 'x-porthole-device': davePhone.token }), 401);
  bystander.client.close();
});

test('one change signal for all sockets: no lookups for changes that cannot end them, one per open socket when one can', async () => {
  const store = gate.gateway.deps.store;
  const people = ['alice@example.com', 'bob@example.com', 'carol@example.com'];
  const sessions = people.map((email) => cookieFor(email));
  const open: Live[] = [];
  for (const session of sessions) open.push(await openSocket(session.headers));
  const spied = store.sessions as { findByTokenHash: typeof store.sessions.findByTokenHash };
  const original = spied.findByTokenHash;
  let lookups = 0;
  spied.findByTokenHash = (hash) => (lookups++, original.call(store.sessions, hash));
  try {
    // Changes of other kinds are announced to the same listeners and cost the open sockets nothing.
    store.tunnelTokens.insert({ id: 'f00df00df00d', name: 'unrelated', secretHash: '0'.repeat(64), createdAt: 1 });
    assert.equal(store.tunnelTokens.revoke('f00df00df00d', 2), true);
    store.passkeys.revokeAll();
    assert.equal(lookups, 0, 'a change that cannot end a socket costs no query per socket');
    store.sessions.revokeById(sessions[0]!.id);
    await bothLegsClose(open[0]!, Date.now(), 'revoked through the store');
    assert.equal(lookups, open.length, 'one lookup per socket that was open when the signal moved');
  } finally {
    spied.findByTokenHash = original;
    for (const live of open) live.client.close();
  }
});
