// The tunnel hub on a shared Redis store (store.kind: redis) that cannot reach Redis: its copy of the tokens
// may be stale, so no new connector is authenticated on it. The connector is told to try again later (not "token
// refused", which would stop it for good), says so in its log once, keeps redialling and attaches by itself when
// the store is back; a connector attached before stays attached. The gateway here reaches Redis through a TCP
// forwarder the test can cut, as a network partition would, while the other side (the command line, another
// gateway) still reaches Redis directly and revokes a token the cut-off gateway cannot hear about.
// Waits are on connector and hub events and polls, bounded generously.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { openRedisStore, type RedisStore } from '../../src/store/redis/index.js';
import { runConnector } from '../../src/tunnel/connector.js';
import type { TunnelLogger } from '../../src/tunnel/hub.js';
import { createTunnelToken } from '../../src/tunnel/token-store.js';
import { encodeToken } from '../../src/tunnel/token.js';
import { startTestRedis, type TestRedis } from '../store/redis-server.js';
import { spawnConnector } from './fixtures/connector-process.js';
import { startGateway, tempDir, type TestGateway } from './fixtures/gateway.js';
import { startOrigin, type TestOrigin } from './fixtures/origin.js';
import { until } from '../until.js';

const BOUND_MS = 20_000;

let redis: TestRedis;
let origin: TestOrigin;
/** The other side of the partition: where tokens are made and revoked, straight on Redis. */
let other: RedisStore;
const dirs: Array<ReturnType<typeof tempDir>> = [];

before(async () => {
  redis = await startTestRedis();
  origin = await startOrigin();
  other = await openRedisStore({ url: redis.url, logger: silentLogger });
});
after(async () => {
  await other?.closeAsync();
  await origin?.close();
  await redis?.close();
  for (const dir of dirs) dir.remove();
});

/** A TCP forwarder to Redis that can be cut (every connection dropped, new ones dropped at once) and mended. */
async function cuttable(targetPort: number): Promise<{ port: number; cut(): void; mend(): void; close(): Promise<void> }> {
  let isCut = false;
  const live = new Set<net.Socket>();
  const server = net.createServer((a) => {
    if (isCut) return void a.destroy();
    const b = net.connect(targetPort, '127.0.0.1');
    for (const s of [a, b]) {
      live.add(s);
      s.on('error', () => (a.destroy(), b.destroy()));
      s.on('close', () => (live.delete(s), a.destroy(), b.destroy()));
    }
    a.pipe(b);
    b.pipe(a);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      isCut = true;
      for (const s of live) s.destroy();
    },
    mend() {
      isCut = false;
    },
    close: async () => {
      for (const s of live) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A token made where the command line makes it (straight on Redis), for gateway `g`. */
async function tokenFor(g: TestGateway, name: string): Promise<{ id: string; token: string }> {
  const { id, secret } = createTunnelToken(other.tunnelTokens, name);
  await other.drain();
  return { id, token: encodeToken({ id, secret, gateway: `127.0.0.1:${g.tlsPort}`, fingerprint: g.certificate.fingerprint }) };
}

const bounded = <T>(promise: Promise<T>, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${BOUND_MS} ms`)), BOUND_MS)));
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
};

const attachedWith = (g: TestGateway, tokenId: string) => g.hub.status().connectors.some((c) => c.tokenId === tokenId);

/** An in-process connector whose log lines the test reads. */
function loggedConnector(token: string) {
  const lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }> = [];
  const logger: TunnelLogger = {
    info: (obj, msg) => void lines.push({ level: 'info', msg, obj: obj as Record<string, unknown> }),
    warn: (obj, msg) => void lines.push({ level: 'warn', msg, obj: obj as Record<string, unknown> }),
  };
  const tryLater: string[] = [];
  const connector = runConnector({ token, origin: origin.url, name: 'logged', logger });
  connector.on('try-later', (why: string) => tryLater.push(why));
  return { connector, lines, tryLater };
}

test('cut off from Redis: new connectors are asked to try later, a token revoked meanwhile gets nowhere, and a valid one attaches by itself after', async () => {
  const dir = tempDir();
  dirs.push(dir);
  const link = await cuttable(redis.port);
  const g = await startGateway({ dataDir: dir.dir, store: { kind: 'redis', url: `redis://127.0.0.1:${link.port}` } });
  const store = g.gateway.deps.store;
  const kept = await tokenFor(g, 'kept');
  const fresh = await tokenFor(g, 'fresh');
  const revoked = await tokenFor(g, 'revoked');
  const keptConnector = spawnConnector({ token: kept.token, origin: origin.url.href, name: 'kept' });
  let logged: ReturnType<typeof loggedConnector> | undefined;
  let revokedConnector: ReturnType<typeof spawnConnector> | undefined;
  try {
    await bounded(keptConnector.waitFor('connected'), 'the first connector did not attach');
    await until(() => attachedWith(g, kept.id), 'the hub to list the first connector');
    assert.equal((await g.request('/hello')).status, 200);
    // This gateway's copy knows all three tokens as valid.
    await until(() => [fresh.id, revoked.id].every((id) => store.tunnelTokens.findHash(id)?.revokedAt === null), 'the tokens in the gateway copy');

    link.cut();
    await until(() => store.unavailable?.() !== null, "the gateway's store to notice");
    // Revoked where Redis is still reached: the cut-off gateway's copy still says the token is fine.
    assert.equal(other.tunnelTokens.revoke(revoked.id, Date.now()), true);
    await other.drain();
    assert.equal(store.tunnelTokens.findHash(revoked.id)?.revokedAt, null, 'the stale copy the hub must not decide on');

    revokedConnector = spawnConnector({ token: revoked.token, origin: origin.url.href, name: 'revoked' });
    logged = loggedConnector(fresh.token);
    const why = await bounded(revokedConnector.waitFor('try-later'), 'the revoked token was not asked to try later');
    assert.match(String(why.detail), /^the gateway cannot check tokens now \(its shared store is unavailable\); try again later$/);
    const { lines, tryLater } = logged;
    await until(() => tryLater.length >= 3, 'the other connector to be asked three times');
    assert.ok(!attachedWith(g, revoked.id) && !attachedWith(g, fresh.id), 'neither was let in on the stale copy');
    assert.ok(!revokedConnector.events.some((e) => e.event === 'refused'), 'not refused: that would stop it for good');
    const said = lines.filter((l) => l.msg.startsWith('tunnel: the gateway cannot take this connector yet'));
    assert.equal(said.length, 1, `one line for ${tryLater.length} redials: ${JSON.stringify(lines.map((l) => l.msg))}`);
    assert.match(String(said[0]!.obj.why), /cannot check tokens now \(its shared store is unavailable\)/);
    assert.ok(!lines.some((l) => l.msg === 'tunnel: cannot reach the gateway'), 'the gateway was reached; it asked to wait');
    assert.equal(logged.connector.gateways()[0]!.lastError, tryLater[0], "the link's state says why too");
    assert.ok(attachedWith(g, kept.id), 'a connector attached before stays (the gate refuses every request meanwhile)');
    assert.equal((await g.request('/hello')).status, 503, 'and nothing passes through it while the store is unavailable');

    link.mend();
    await bounded(new Promise<void>((resolve) => logged!.connector.once('connected', () => resolve())), 'the valid connector did not attach once the store was back');
    assert.ok(attachedWith(g, fresh.id));
    // Reloaded, the copy knows the revocation: now the token is refused for good, and that connector stops.
    await bounded(revokedConnector.waitFor('refused'), 'the revoked token was not refused once the store was back');
    assert.equal(await bounded(revokedConnector.exited, 'the revoked connector did not stop'), 3);
    assert.ok(!attachedWith(g, revoked.id));
    assert.ok(attachedWith(g, kept.id), 'checked again after the reload, and still valid');
    assert.equal((await g.request('/hello')).status, 200);
  } finally {
    await logged?.connector.stop();
    await revokedConnector?.kill();
    await keptConnector.kill();
    await g.close();
    await link.close();
  }
});

test('a gateway started while Redis is away asks a connector to try later, never refuses its token, and takes it once Redis answers', async () => {
  const dir = tempDir();
  dirs.push(dir);
  const link = await cuttable(redis.port);
  link.cut();
  const g = await startGateway({ dataDir: dir.dir, store: { kind: 'redis', url: `redis://127.0.0.1:${link.port}` } });
  const { id, token } = await tokenFor(g, 'early');
  const connector = spawnConnector({ token, origin: origin.url.href, name: 'early' });
  try {
    assert.notEqual(g.gateway.deps.store.unavailable?.(), null);
    // The empty copy knows no token: a "no" from it would have stopped the connector (exit 3).
    await bounded(connector.waitFor('try-later', 2), 'the connector was not asked to try later (twice)');
    assert.ok(!connector.events.some((e) => e.event === 'refused'));
    assert.equal(connector.proc.exitCode, null, 'still running');

    link.mend();
    await bounded(connector.waitFor('connected'), 'the connector did not attach once Redis answered');
    await until(() => attachedWith(g, id), 'the hub to list it');
    assert.equal((await g.request('/hello')).status, 200);
  } finally {
    await connector.kill();
    await g.close();
    await link.close();
  }
});
