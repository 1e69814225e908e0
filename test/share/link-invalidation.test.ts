// Link-cache invalidation across gateways sharing one store: two real gateways in front of one sample Immich,
// on one SQLite file and on one real redis-server. Both cache a link's answer (for ten minutes, so only
// invalidation can end it); the link changes at Immich through its API, or disappears; the change announced on
// gateway A reaches gateway B within a second: B refuses the download (or treats the link as gone) itself,
// without asking Immich. And the resolver over a real socket: a lookup under way when a change is announced
// does not cache the old answer it brings, later lookups do not join it, and forget() drops exactly the entries
// of the link named (by Immich id or by tag), unlock entries included.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ConfigInput } from '../../src/config/schema.js';
import { SAMPLE_API_KEY, startSampleImmich, type SampleImmich, type SampleLink } from '../../src/demo/sample-immich/server.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';
import { createDirectOrigin } from '../../src/origin/direct.js';
import { linkTag } from '../../src/share/link-tag.js';
import { createLinkResolver } from '../../src/share/links.js';
import { startTestRedis, type TestRedis } from '../store/redis-server.js';
import { configFor, send, type Reply } from './harness.js';

/** How soon gateway B must act on a change announced on A (the SQLite watcher looks every 250 ms). */
const REACH_BOUND_MS = 1_000;
/** Long enough that no answer in these tests expires by itself: only invalidation can end it. */
const TTL = '10m';
const SHARE_NOT_FOUND_JSON = '{"error":"not-found","message":"Not found","statusCode":404}';

interface Pair {
  origin: SampleImmich;
  a: Gateway;
  b: Gateway;
  close(): Promise<void>;
}

/** Two gateways in front of one sample Immich; `store` absent: both on one SQLite file in one data directory. */
async function startPair(store?: ConfigInput['store']): Promise<Pair> {
  const origin = await startSampleImmich(0, '127.0.0.1');
  const dirs = [fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-linkfeed-a-'))];
  dirs.push(store ? fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-linkfeed-b-')) : dirs[0]!);
  const start = (dataDir: string) =>
    startGateway(
      configFor(origin.url, dataDir, { share: { linkCacheTtl: TTL }, ...(store ? { store } : {}) }),
      createConsoleMailer(() => undefined),
      silentLogger,
    );
  const a = await start(dirs[0]!);
  const b = await start(dirs[1]!);
  return {
    origin,
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      await origin.close();
      for (const dir of new Set(dirs)) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const agent = new http.Agent({ keepAlive: false });
after(() => agent.destroy());

const through = (gateway: Gateway, target: string) => send(gateway.httpPort, agent, target, { headers: { accept: 'application/json' } });

/** Whether the request reached Immich: a request Porthole refuses from what it knows never does. */
async function answer(pair: Pair, gateway: Gateway, target: string): Promise<{ reply: Reply; reachedOrigin: boolean }> {
  const from = pair.origin.received.length;
  const reply = await through(gateway, target);
  const pathOnly = target.split('?')[0]!;
  return { reply, reachedOrigin: pair.origin.received.slice(from).some((r) => r.url.split('?')[0] === pathOnly) };
}

const isPortholeRefusal = (result: { reply: Reply; reachedOrigin: boolean }) => result.reply.status === 404 && result.reply.text === SHARE_NOT_FOUND_JSON && !result.reachedOrigin;

/** Asks `gateway` until Porthole itself refuses `target` (deadline REACH_BOUND_MS from `since`); returns how long it took. */
async function refusedWithin(pair: Pair, gateway: Gateway, target: string, since: number, what: string): Promise<number> {
  for (;;) {
    const result = await answer(pair, gateway, target);
    const elapsed = Date.now() - since;
    if (isPortholeRefusal(result)) return elapsed;
    if (elapsed > REACH_BOUND_MS) throw new Error(`${what}: still answered from the old link state after ${elapsed} ms (status ${result.reply.status})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** PATCH /api/shared-links/:id at the sample Immich, as `porthole links audit --apply` or Immich's web app would. */
async function patchLink(pair: Pair, link: SampleLink, body: Record<string, unknown>): Promise<void> {
  const reply = await send(pair.origin.port, agent, `/api/shared-links/${link.id}`, {
    method: 'PATCH',
    host: `127.0.0.1:${pair.origin.port}`,
    headers: { 'x-api-key': SAMPLE_API_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ slug: link.slug, ...body }),
  });
  assert.equal(reply.status, 200, reply.text);
}

function scenarios(name: string, open: () => Promise<Pair>): void {
  describe(name, () => {
    let pair: Pair;
    before(async () => {
      pair = await open();
    });
    after(() => pair?.close());

    test('downloads turned off at Immich and announced on A: B refuses the download within a second, not after the TTL', async () => {
      const lib = pair.origin.library;
      const link = lib.createLink({ description: 'downloads' });
      const original = `/api/assets/${lib.album.assetIds[0]}/original?key=${link.key}`;
      for (const gateway of [pair.a, pair.b]) assert.equal((await through(gateway, original)).status, 200, 'downloads allowed: cached on both');

      await patchLink(pair, link, { allowDownload: false });
      const stale = await answer(pair, pair.b, original);
      assert.ok(stale.reachedOrigin, 'before the announcement B still acts on its cached answer (the test proves invalidation, not expiry)');
      assert.ok(!isPortholeRefusal(stale));

      const since = Date.now();
      pair.a.deps.store.linkChanged([link.id]);
      assert.ok(isPortholeRefusal(await answer(pair, pair.a, original)), 'A itself forgot at once');
      const ms = await refusedWithin(pair, pair.b, original, since, 'gateway B');
      assert.ok(ms <= REACH_BOUND_MS, `B refused after ${ms} ms`);
      assert.ok(pair.b.deps.config.share.linkCacheTtl >= 600_000, 'the cached answer was still fresh for minutes');
    });

    test('a link deleted at Immich and "forget every link" announced on A: B treats the link as gone within a second', async () => {
      const lib = pair.origin.library;
      const link = lib.createLink({ slug: `gone-${name.replace(/\W/g, '')}` });
      const thumbnail = `/api/assets/${lib.album.assetIds[0]}/thumbnail?slug=${link.slug}`;
      for (const gateway of [pair.a, pair.b]) assert.equal((await through(gateway, thumbnail)).status, 200, 'the link works: cached on both');
      lib.links.delete(link.id);
      assert.ok((await answer(pair, pair.b, thumbnail)).reachedOrigin, 'B still trusts its cached answer');

      const since = Date.now();
      pair.a.deps.store.linkChanged();
      const ms = await refusedWithin(pair, pair.b, thumbnail, since, 'gateway B');
      assert.ok(ms <= REACH_BOUND_MS, `B refused after ${ms} ms`);
    });

    test("a change named by the key's tag alone reaches a password link nobody has unlocked (no Immich id cached)", async () => {
      const lib = pair.origin.library;
      const link = lib.createLink({ password: 'secret', description: 'password' });
      const page = `/api/shared-links/me?key=${link.key}`;
      for (const gateway of [pair.a, pair.b]) assert.equal((await through(gateway, page)).status, 401, 'needs a password: cached on both');
      lib.links.delete(link.id);
      const asset = `/api/assets/${lib.album.assetIds[0]}/thumbnail?key=${link.key}`;
      // Without the unlock cookie the share host refuses either way; the cache shows in what it asked Immich.
      const before = pair.origin.received.length;
      await through(pair.b, asset);
      assert.equal(
        pair.origin.received.slice(before).some((r) => r.url.startsWith('/api/shared-links/me')),
        false,
        'B answered from its cached "needs a password"',
      );
      const since = Date.now();
      pair.a.deps.store.linkChanged([`tag:${linkTag({ kind: 'key', value: link.key })}`]);
      for (;;) {
        const from = pair.origin.received.length;
        await through(pair.b, asset);
        if (pair.origin.received.slice(from).some((r) => r.url.startsWith('/api/shared-links/me'))) break;
        if (Date.now() - since > REACH_BOUND_MS) throw new Error('B never asked Immich again about the password link');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
  });
}

scenarios('two gateways on one SQLite file', () => startPair());

let redis: TestRedis | undefined;
after(() => redis?.close());
scenarios('two gateways on one Redis', async () => {
  redis = await startTestRedis();
  return startPair({ kind: 'redis', url: redis.url });
});

/** A stand-in Immich for /api/shared-links/me whose answers are held until the test releases them. */
async function heldImmich() {
  const link = { id: '00000000-0000-4000-8000-000000000401', key: 'K'.repeat(67), allowDownload: true, password: null as string | null };
  const asked = new EventEmitter();
  const held: Array<{ answer: () => void }> = [];
  let hold = false;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://immich');
    // The state as it is when the question arrives: released later, it is the old answer.
    const unlocked = link.password === null || req.headers.cookie === 'immich_shared_link_token=good';
    const body = unlocked
      ? JSON.stringify({
          id: link.id,
          key: link.key,
          slug: null,
          type: 'INDIVIDUAL',
          allowDownload: link.allowDownload,
          allowUpload: false,
          showMetadata: false,
          password: link.password,
          expiresAt: null,
        })
      : JSON.stringify({ message: 'Password required', statusCode: 401 });
    const answer = () => {
      res.writeHead(unlocked ? 200 : 401, { 'content-type': 'application/json' });
      res.end(body);
    };
    const known = url.searchParams.get('key') === link.key;
    if (!known) return void (res.writeHead(400, { 'content-type': 'application/json' }), res.end('{"message":"Invalid share key"}'));
    if (hold) held.push({ answer });
    else answer();
    asked.emit('asked');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let count = 0;
  asked.on('asked', () => count++);
  return {
    link,
    port,
    get asked() {
      return count;
    },
    setHold: (on: boolean) => void (hold = on),
    /** Resolves when the n-th question (counted from the start) has arrived. */
    askedTimes: (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`Immich was asked ${count} times, not ${n}`)), 10_000);
        const check = () => {
          if (count < n) return;
          clearTimeout(timer);
          asked.off('asked', check);
          resolve();
        };
        asked.on('asked', check);
        check();
      }),
    release: (i: number) => held[i]!.answer(),
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

describe('the resolver over a real socket', () => {
  let immich: Awaited<ReturnType<typeof heldImmich>>;
  before(async () => {
    immich = await heldImmich();
  });
  after(() => immich?.close());
  const resolverFor = () => createLinkResolver({ origin: createDirectOrigin(new URL(`http://127.0.0.1:${immich.port}`)), host: 'share.localhost', ttlMs: 600_000 });

  test('a lookup under way when the link changes does not cache the old answer, and later lookups do not join it', async () => {
    const resolver = resolverFor();
    const credential = { kind: 'key' as const, value: immich.link.key };
    immich.link.allowDownload = true;
    immich.setHold(true);
    const start = immich.asked;
    const first = resolver.lookup(credential);
    await immich.askedTimes(start + 1);
    // The link changes at Immich and the change is announced while the first answer (the old one) is on its way.
    immich.link.allowDownload = false;
    assert.equal(resolver.forget([immich.link.id]), 0, 'nothing cached yet');
    const second = resolver.lookup(credential);
    await immich.askedTimes(start + 2);
    assert.equal(immich.asked, start + 2, 'the lookup after the change asked Immich itself instead of joining the old one');

    immich.release(0);
    const old = await first;
    assert.equal(old.kind === 'open' && old.link.allowDownload, true, 'the request that asked before the change gets the answer it waited for');
    assert.equal(resolver.peek(credential), undefined, 'but the old answer was not cached');
    immich.release(1);
    const fresh = await second;
    assert.equal(fresh.kind === 'open' && fresh.link.allowDownload, false);
    const cached = resolver.peek(credential);
    assert.equal(cached?.kind === 'open' && cached.link.allowDownload, false, 'the answer asked for after the change is cached');
    immich.setHold(false);
  });

  test("forget() drops the named link's entries, unlock entries and the lookup beside them included, and nothing else", async () => {
    const resolver = resolverFor();
    immich.setHold(false);
    immich.link.password = 'pw';
    const credential = { kind: 'key' as const, value: immich.link.key };
    assert.deepEqual(await resolver.lookup(credential), { kind: 'password' });
    assert.equal((await resolver.unlock(credential, 'good'))?.id, immich.link.id);
    assert.equal(await resolver.unlock(credential, 'wrong'), null);
    assert.equal(resolver.state().fresh, 3, 'the lookup and two unlock answers');
    assert.deepEqual(
      resolver
        .state()
        .newest.map((e) => e.name)
        .sort(),
      [immich.link.id, `tag:${linkTag(credential)}`, `tag:${linkTag(credential)}`].sort(),
      'each entry is named for forget() without its key',
    );
    assert.equal(resolver.forget(['00000000-0000-4000-8000-000000000999', 'tag:AAAAAAAAAAAAAAAA']), 0, 'other links: nothing goes');
    assert.equal(resolver.forget([immich.link.id]), 3, 'the id names the unlocked answer, which takes its credential along');
    assert.equal(resolver.state().fresh, 0);

    await resolver.lookup(credential);
    assert.equal(resolver.forget([`tag:${linkTag(credential)}`]), 1, 'the tag of the key names the lookup that never saw the id');
    await resolver.lookup(credential);
    assert.equal(resolver.forget(), 1, 'no ids: everything');
    assert.equal(resolver.state().counts.forgotten, 5);
    immich.link.password = null;
  });
});
