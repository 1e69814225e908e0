// `porthole links show` and `porthole links audit`, each run as its own process against a real gateway's data
// directory and the sample Immich's share-link API (which answers like Immich v3.1.0: API keys per user, only
// the key owner's links, 401/403/400 as Immich words them). `--apply` tells the running gateway (SQLite, and a
// gateway on Redis) about each change, so it forgets the link at once; without a store it says when it will. Bad input, an unknown link, a wrong API key and an
// Immich that cannot be reached each give one line and their exit code; no key, slug or password is printed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SAMPLE_API_KEY, SAMPLE_MEMBER_API_KEY, SAMPLE_READ_ONLY_API_KEY, type SampleLink } from '../../src/demo/sample-immich/server.js';
import { send, startShare, type ShareSetup } from '../share/harness.js';
import { startTestRedis } from '../store/redis-server.js';

const BIN = path.resolve('bin/porthole.js');

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const base = { ...process.env };
  delete base.PORTHOLE_IMMICH_API_KEY;
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

let s: ShareSetup;
let dir: string;
let config: string;
let keyedConfig: string;
let noState: string;
let visited: SampleLink;
let neverOpened: SampleLink;
let oldLink: SampleLink;
let membersLink: SampleLink;
let expiring: SampleLink;

const DAY = 86_400_000;

before(async () => {
  // A cache far longer than any test: a gateway that forgets a changed link did so because it was told.
  s = await startShare({ share: { rules: { maxLinkAge: '365d' }, linkCacheTtl: '10m' } });
  dir = s.gateway.deps.config.dataDir;
  const lib = s.origin.library;
  visited = lib.createLink({ slug: 'grandma-summer', description: 'For grandma' });
  neverOpened = lib.createLink({ password: 'hunter22', allowUpload: false, slug: 'Xk3mP9qL2vB7nR4tW8yZ1a' });
  oldLink = lib.createLink({ assetIds: [lib.album.assetIds[0]!], createdAt: new Date(Date.now() - 400 * DAY).toISOString(), showMetadata: false, allowUpload: false });
  expiring = lib.createLink({ expiresAt: new Date(Date.now() + 10 * DAY).toISOString(), allowUpload: false, allowDownload: false, password: 'pw' });
  membersLink = lib.createLink({ userId: lib.member.id, description: 'Member only' });
  // One visit and one poke at a refused route on the first link; the record is written by the gateway.
  assert.equal((await s.share('/s/grandma-summer', { headers: { accept: 'text/html' } })).status, 200);
  assert.equal((await s.share(`/api/albums/${lib.album.id}?key=${visited.key}`)).status, 404);
  s.gateway.deps.store.linkRecords.flush();

  const yaml = (extra: string[]) =>
    [
      'hosts: { private: photos.localhost, share: share.localhost }',
      `origin: { url: "${s.origin.url}" }`,
      'gate: { allow: [owner@example.com] }',
      'mail: { from: p@example.com, transport: console }',
      `dataDir: "${dir}"`,
      'share: { rules: { maxLinkAge: 365d } }',
      ...extra,
    ].join('\n');
  config = path.join(dir, 'porthole.yaml');
  fs.writeFileSync(config, yaml([]));
  fs.writeFileSync(path.join(dir, 'immich-key.txt'), `${SAMPLE_API_KEY}\n`);
  keyedConfig = path.join(dir, 'keyed.yaml');
  fs.writeFileSync(keyedConfig, yaml(['immich: { apiKey: { file: immich-key.txt } }']));
  noState = path.join(dir, 'elsewhere.yaml');
  fs.writeFileSync(noState, yaml([]).replace(`dataDir: "${dir}"`, `dataDir: "${path.join(dir, 'empty')}"`));
});

after(async () => {
  await s.close();
});

const secretsOf = (...links: SampleLink[]) => [SAMPLE_API_KEY, ...links.flatMap((l) => [l.key, l.slug, l.password].filter((v): v is string => Boolean(v)))];

function assertNoSecrets(result: Run, secrets: string[]): void {
  for (const secret of secrets) assert.equal((result.out + result.err).includes(secret), false, `printed ${secret}`);
}

test('links show: the record of a link as a table and as JSON, by key, slug, id or URL', async () => {
  const table = await run(['links', 'show', visited.key, '--config', config]);
  assert.equal(table.code, 0, table.err);
  assert.match(table.out, new RegExp(`^Link ${visited.id}: events from `));
  assert.match(table.out, /views 1 · unlocks 0 · downloads 0 · uploads 0 · refusals 1 \(blocked-route 1\)/);
  assert.match(table.out, /TIME \(UTC\)\s+EVENT\s+REASON\s+CLIENT\s+COUNT\s+DETAIL/);
  assert.match(table.out, /\bview\s+127\.0\.0\.0\/24\s+1/);
  assert.match(table.out, /\brefused\s+blocked-route\s+127\.0\.0\.0\/24\s+1\s+no policy row/);
  assertNoSecrets(table, secretsOf(visited));
  for (const name of ['grandma-summer', visited.id, `https://share.localhost/s/grandma-summer`]) {
    const json = await run(['links', 'show', name, '--config', config, '--json']);
    assert.equal(json.code, 0, json.err);
    const record = JSON.parse(json.out) as { linkId: string; totals: Record<string, number>; events: unknown[] };
    assert.equal(record.linkId, visited.id);
    assert.equal(record.totals.view, 1);
    assert.equal(record.totals.refused, 1);
    assert.equal(record.events.length, 2);
  }
});

test('links show: unknown link and bad arguments give one line and their exit code', async () => {
  const cases: Array<[string[], number, RegExp]> = [
    [['links', 'show', neverOpened.key, '--config', config], 1, /^porthole: no record of that link \(the share host keeps a record/],
    [['links', 'show', 'no-such-slug', '--config', config], 1, /no record of that link/],
    [['links', 'show', '--config', config], 2, /missing required argument 'link'/],
    [['links', 'show', '   ', '--config', config], 2, /expected a link key, slug, Immich link id or share URL/],
    [['links', 'show', visited.id, '--config', config, '--limit', '0'], 2, /--limit 0: expected a whole number from 1 to 10000/],
    [['links', 'show', visited.id], 2, /required option '-c, --config <file>' not specified/],
    [['links', 'show', visited.id, '--config', noState], 1, /no Porthole state in/],
    [['links'], 2, /missing command: porthole links <show\|audit>/],
    [['links', 'shw'], 2, /unknown command "shw" \(did you mean `porthole links show`\?\)/],
  ];
  for (const [args, code, expected] of cases) {
    const result = await run(args);
    const shown = `porthole ${args.join(' ')} → ${result.code} ${JSON.stringify(result.err)}`;
    assert.equal(result.code, code, shown);
    assert.equal(result.err.split('\n').filter(Boolean).length, 1, shown);
    assert.match(result.err, expected, shown);
    assert.doesNotMatch(result.err + result.out, /^\s+at /m, shown);
  }
});

test("links audit: every link of the key's user with its risks and Porthole's part, nothing of other users, no secrets", async () => {
  const result = await run(['links', 'audit', '--config', config], { PORTHOLE_IMMICH_API_KEY: SAMPLE_API_KEY });
  assert.equal(result.code, 0, result.err);
  const block = (link: SampleLink) => {
    const start = result.out.indexOf(`${link.id}  `);
    assert.ok(start >= 0, `${link.id} listed`);
    const end = result.out.indexOf('\n\n', start);
    return result.out.slice(start, end === -1 ? undefined : end);
  };
  assert.match(result.out, /^4 share links of this API key's user at http:\/\/127\.0\.0\.1:\d+\n/);
  assert.equal(result.out.includes(membersLink.id), false, "another user's link is not listed");
  assert.match(block(visited), /album "Summer trip" "For grandma"/);
  assert.match(block(visited), /risks: {4}no expiry, no password, downloads on, metadata shown, uploads on, guessable slug\n/);
  assert.match(block(visited), /Porthole: uploads refused \(share\.allowUploads is off\)/);
  assert.match(block(neverOpened), /risks: {4}no expiry, downloads on, metadata shown, never opened/);
  assert.match(block(neverOpened), /password checked on every request/);
  assert.match(block(oldLink), /selected photos/);
  assert.match(block(oldLink), /older than 90 days/);
  assert.match(block(oldLink), /refused: older than 365 days \(rule max-link-age\)/);
  assert.match(block(oldLink), /no coordinates in timeline or map/);
  assert.match(block(expiring), /risks: {4}metadata shown, never opened\n/);
  assertNoSecrets(result, secretsOf(visited, neverOpened, oldLink, expiring, membersLink));

  const json = await run(['links', 'audit', '--config', keyedConfig, '--json', '--max-age', '500d']);
  assert.equal(json.code, 0, json.err);
  const parsed = JSON.parse(json.out) as { links: Array<{ id: string; risks: string[] }>; changes: unknown[] };
  assert.deepEqual(parsed.links.map((l) => l.id).sort(), [visited.id, neverOpened.id, oldLink.id, expiring.id].sort());
  assert.equal(parsed.links.find((l) => l.id === oldLink.id)!.risks.includes('old'), false, '--max-age moves the "old" line');
  assert.deepEqual(parsed.changes, []);

  const member = await run(['links', 'audit', '--config', config, '--json'], { PORTHOLE_IMMICH_API_KEY: SAMPLE_MEMBER_API_KEY });
  assert.equal(member.code, 0, member.err);
  assert.deepEqual(
    (JSON.parse(member.out) as { links: Array<{ id: string }> }).links.map((l) => l.id),
    [membersLink.id],
  );
});

test('links audit --fix: a dry run changes nothing; --apply changes exactly the planned settings through the API', async () => {
  const lib = s.origin.library;
  const before = JSON.stringify([...lib.links.values()]);
  const keyFile = path.join(dir, 'immich-key.txt');
  const dry = await run(['links', 'audit', '--config', config, '--api-key-file', keyFile, '--fix', 'uploads-off,expire=30d', '--only', visited.id]);
  assert.equal(dry.code, 0, dry.err);
  assert.match(dry.out, /Would change \(dry run; add --apply to make these changes\):/);
  assert.match(dry.out, new RegExp(`${visited.id} {2}expiresAt: never → \\d{4}-`));
  assert.match(dry.out, new RegExp(`${visited.id} {2}allowUpload: true → false`));
  assert.equal(dry.out.includes(neverOpened.id + '  expiresAt'), false, '--only limits the fix');
  assert.equal(JSON.stringify([...lib.links.values()]), before, 'a dry run changes nothing');
  assert.equal(
    s.origin.received.some((r) => r.method === 'PATCH'),
    false,
  );

  const from = s.origin.received.length;
  const applied = await run(['links', 'audit', '--config', config, '--api-key-file', keyFile, '--fix', 'uploads-off,expire=30d', '--only', visited.id, '--apply']);
  assert.equal(applied.code, 0, applied.err);
  assert.match(applied.out, /Changing:/);
  assert.match(applied.out, new RegExp(`${visited.id} {2}changed`));
  const link = lib.links.get(visited.id)!;
  assert.equal(link.allowUpload, false);
  assert.ok(link.expiresAt && Math.abs(Date.parse(link.expiresAt) - (Date.now() + 30 * DAY)) < DAY, 'expires in 30 days');
  assert.equal(link.slug, 'grandma-summer', 'the slug survives the update');
  assert.equal(link.allowDownload, true, 'settings not chosen stay');
  assert.equal(lib.links.get(neverOpened.id)!.expiresAt, null, 'other links untouched');
  const patches = s.origin.received.slice(from).filter((r) => r.method === 'PATCH');
  assert.deepEqual(
    patches.map((r) => r.url),
    [`/api/shared-links/${visited.id}`],
  );
  assert.equal(patches[0]!.headers['x-api-key'], SAMPLE_API_KEY);
  assertNoSecrets({ ...applied, out: applied.out }, secretsOf(visited, neverOpened));

  const again = await run(['links', 'audit', '--config', config, '--api-key-file', keyFile, '--fix', 'uploads-off', '--only', visited.id, '--apply']);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /Nothing to change/);
});

test('links audit: no key, a wrong key, a key without the permission, Immich unreachable, bad --fix: one line and an exit code', async () => {
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const cases: Array<[string[], NodeJS.ProcessEnv, number, RegExp]> = [
    [['links', 'audit', '--config', config], {}, 2, /no Immich API key \(give --api-key-file, set PORTHOLE_IMMICH_API_KEY, or set immich\.apiKey/],
    [['links', 'audit', '--config', config], { PORTHOLE_IMMICH_API_KEY: 'not-a-real-key' }, 3, /Immich refused the API key while listing share links \(Invalid API key\)/],
    [
      ['links', 'audit', '--config', config, '--fix', 'downloads-off', '--apply'],
      { PORTHOLE_IMMICH_API_KEY: SAMPLE_READ_ONLY_API_KEY },
      3,
      /the API key may not do this: changing link .* \(Missing required permission: sharedLink\.update\) \(give the key the sharedLink\.update permission/,
    ],
    [
      ['links', 'audit', '--config', config, '--immich-url', `http://127.0.0.1:${closedPort}`],
      { PORTHOLE_IMMICH_API_KEY: SAMPLE_API_KEY },
      1,
      /cannot reach Immich at http:\/\/127\.0\.0\.1:\d+ while listing share links \(ECONNREFUSED\)/,
    ],
    [['links', 'audit', '--config', config, '--immich-url', 'ftp://x'], { PORTHOLE_IMMICH_API_KEY: SAMPLE_API_KEY }, 2, /--immich-url ftp:\/\/x: expected http\(s\):\/\/host:port/],
    [['links', 'audit', '--config', config, '--fix', 'delete-all'], { PORTHOLE_IMMICH_API_KEY: SAMPLE_API_KEY }, 2, /--fix: unknown change "delete-all"/],
    [['links', 'audit', '--config', config, '--fix', 'expire=soon'], { PORTHOLE_IMMICH_API_KEY: SAMPLE_API_KEY }, 2, /--fix expire=soon: expected a duration/],
    [['links', 'audit', '--config', config, '--apply'], { PORTHOLE_IMMICH_API_KEY: SAMPLE_API_KEY }, 2, /--apply needs --fix/],
    [['links', 'audit', '--config', config, '--max-age', 'forever'], { PORTHOLE_IMMICH_API_KEY: SAMPLE_API_KEY }, 2, /--max-age forever: expected a duration/],
    [
      ['links', 'audit', '--config', config, '--fix', 'uploads-off', '--only', '00000000-0000-4000-8000-00000000ffff'],
      { PORTHOLE_IMMICH_API_KEY: SAMPLE_API_KEY },
      2,
      /--only .*: not a share link of this API key's user/,
    ],
    [['links', 'audit', '--config', config, '--api-key-file', 'absent.txt'], {}, 1, /cannot read the Immich API key from --api-key-file absent\.txt \(ENOENT\)/],
  ];
  const unchanged = JSON.stringify([...s.origin.library.links.values()]);
  for (const [args, env, code, expected] of cases) {
    const result = await run(args, env);
    const shown = `porthole ${args.join(' ')} → ${result.code} ${JSON.stringify(result.err)}`;
    assert.equal(result.code, code, shown);
    assert.equal(result.err.split('\n').filter(Boolean).length, 1, shown);
    assert.match(result.err, expected, shown);
    assert.doesNotMatch(result.err + result.out, /^\s+at /m, shown);
    assertNoSecrets(result, [SAMPLE_API_KEY, SAMPLE_READ_ONLY_API_KEY, 'not-a-real-key']);
  }
  assert.equal(JSON.stringify([...s.origin.library.links.values()]), unchanged, 'a refused key changed nothing');
});

test("the sample Immich's share-link API answers like Immich v3.1.0", async () => {
  const agent = new (await import('node:http')).Agent();
  const call = (target: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    send(s.origin.port, agent, target, { host: `127.0.0.1:${s.origin.port}`, ...options });
  try {
    const lib = s.origin.library;
    assert.deepEqual((await call('/api/shared-links')).json(), { message: 'Authentication required', error: 'Unauthorized', statusCode: 401 });
    assert.equal((await call('/api/shared-links', { headers: { 'x-api-key': 'wrong' } })).json().message, 'Invalid API key');
    const viaLink = await call(`/api/shared-links?key=${visited.key}`);
    assert.equal(viaLink.status, 403, 'a share key cannot list links');
    const list = await call('/api/shared-links', { headers: { 'x-api-key': SAMPLE_API_KEY } });
    assert.equal(list.status, 200);
    const links = list.json<Array<Record<string, unknown>>>();
    assert.ok(links.every((l) => l.userId === lib.owner.id));
    assert.ok(
      links.some((l) => l.id === neverOpened.id && l.password === 'hunter22'),
      'the password in clear text, as Immich sends it',
    );
    assert.equal((await call(`/api/shared-links?albumId=nope`, { headers: { 'x-api-key': SAMPLE_API_KEY } })).status, 400);
    assert.equal((await call(`/api/shared-links/${membersLink.id}`, { headers: { 'x-api-key': SAMPLE_API_KEY } })).json().message, 'Shared link not found');
    const readOnly = await call(`/api/shared-links/${oldLink.id}`, {
      method: 'PATCH',
      headers: { 'x-api-key': SAMPLE_READ_ONLY_API_KEY, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(readOnly.status, 403);
    assert.equal(readOnly.json().message, 'Missing required permission: sharedLink.update');
    const bad = await call(`/api/shared-links/${oldLink.id}`, {
      method: 'PATCH',
      headers: { 'x-api-key': SAMPLE_API_KEY, 'content-type': 'application/json' },
      body: '{"allowUpload":"yes"}',
    });
    assert.equal(bad.status, 400);
    assert.equal(lib.links.get(oldLink.id)!.allowUpload, false);
    const slugged = lib.createLink({ slug: 'temporary-slug' });
    const ok = await call(`/api/shared-links/${slugged.id}`, {
      method: 'PATCH',
      headers: { 'x-api-key': SAMPLE_API_KEY, 'content-type': 'application/json' },
      body: '{"allowUpload":false}',
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.json().allowUpload, false);
    assert.equal(ok.json().slug, null, 'update() writes the slug it is sent: none clears it');
    lib.links.delete(slugged.id);
  } finally {
    agent.destroy();
  }
});

/** How soon a gateway must act on a change the command announced (its watcher looks every 250 ms). */
const REACH_BOUND_MS = 1_000;
const SHARE_NOT_FOUND_JSON = '{"error":"not-found","message":"Not found","statusCode":404}';

/** Asks the share host for `target` until it refuses by itself, without asking Immich; returns how long that took. */
async function refusedByPortholeWithin(setup: ShareSetup, target: string, since: number): Promise<number> {
  for (;;) {
    const from = setup.origin.received.length;
    const reply = await setup.share(target, { headers: { accept: 'application/json' } });
    const reached = setup.origin.received.slice(from).some((r) => r.url.split('?')[0] === target.split('?')[0]);
    const elapsed = Date.now() - since;
    if (reply.status === 404 && reply.text === SHARE_NOT_FOUND_JSON && !reached) return elapsed;
    if (elapsed > REACH_BOUND_MS) throw new Error(`the gateway still acted on its cached answer ${elapsed} ms after the command (status ${reply.status})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('links audit --apply announces each change: the running gateway refuses the download within a second, not after its 10-minute cache', async () => {
  const lib = s.origin.library;
  const link = lib.createLink({ description: 'announced', allowUpload: false, slug: 'announced-album' });
  const original = `/api/assets/${lib.album.assetIds[0]}/original?slug=${link.slug}`;
  assert.equal((await s.share(original)).status, 200, 'downloads allowed: the answer is cached');
  assert.equal(s.gateway.deps.config.share.linkCacheTtl, 600_000);
  const keyFile = path.join(dir, 'immich-key.txt');
  const applied = await run(['links', 'audit', '--config', config, '--api-key-file', keyFile, '--fix', 'downloads-off', '--only', link.id, '--apply']);
  const exited = Date.now();
  assert.equal(applied.code, 0, applied.err);
  assert.equal(applied.err, '');
  assert.match(applied.out, new RegExp(`${link.id} {2}allowDownload: true → false\\n {2}${link.id} {2}changed\\n`));
  assert.match(applied.out, /\nThe gateways sharing this store were told to forget what they cached about the changed links\.\n$/);
  assert.equal(lib.links.get(link.id)!.allowDownload, false);
  const ms = await refusedByPortholeWithin(s, original, exited);
  assert.ok(ms <= REACH_BOUND_MS, `refused ${ms} ms after the command ended`);
  assertNoSecrets(applied, secretsOf(link));
});

test('links audit --apply without a store to tell: one clear line on when the gateways will see the changes, and "announced": false', async () => {
  const lib = s.origin.library;
  const link = lib.createLink({ description: 'unannounced', allowUpload: false });
  const result = await run(['links', 'audit', '--config', noState, '--fix', 'downloads-off', '--only', link.id, '--apply', '--json'], { PORTHOLE_IMMICH_API_KEY: SAMPLE_API_KEY });
  assert.equal(result.code, 0, result.err);
  assert.equal(result.err.split('\n').filter(Boolean).length, 1, result.err);
  assert.match(result.err, /^porthole: cannot tell the gateways about these changes \(no Porthole state in .*empty\); they will see them within share\.linkCacheTtl \(10s\)\n$/);
  const parsed = JSON.parse(result.out) as { applied: boolean; announced: boolean };
  assert.deepEqual([parsed.applied, parsed.announced], [true, false]);
  assert.equal(lib.links.get(link.id)!.allowDownload, false, 'the change itself was made');
  assertNoSecrets(result, secretsOf(link));

  // A Redis store that cannot be reached: the same line, naming where it was looked for (never its password).
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const unreachable = path.join(dir, 'unreachable-redis.yaml');
  fs.writeFileSync(unreachable, fs.readFileSync(noState, 'utf8') + `\nstore: { kind: redis, url: "redis://127.0.0.1:${closedPort}", password: hunter2-redis }\n`);
  const other = lib.createLink({ description: 'unannounced too', allowUpload: false });
  const away = await run(['links', 'audit', '--config', unreachable, '--fix', 'downloads-off', '--only', other.id, '--apply'], { PORTHOLE_IMMICH_API_KEY: SAMPLE_API_KEY });
  assert.equal(away.code, 0, away.err);
  assert.match(
    away.err,
    new RegExp(
      `^porthole: cannot tell the gateways about these changes \\(cannot reach Redis at redis://127\\.0\\.0\\.1:${closedPort} .*\\); they will see them within share\\.linkCacheTtl \\(10s\\)\\n$`,
    ),
  );
  assert.match(away.out, new RegExp(`${other.id} {2}changed\\n`));
  assert.equal(away.out.includes('were told to forget'), false);
  assertNoSecrets(away, [...secretsOf(other), 'hunter2-redis']);
});

test('links audit --apply on a Redis store: a gateway on it forgets the changed link within a second', async () => {
  const redis = await startTestRedis();
  const shared = await startShare({ store: { kind: 'redis', url: redis.url }, share: { linkCacheTtl: '10m' } });
  try {
    const lib = shared.origin.library;
    const link = lib.createLink({ description: 'on redis', allowUpload: false });
    const original = `/api/assets/${lib.album.assetIds[0]}/original?key=${link.key}`;
    assert.equal((await shared.share(original)).status, 200, 'cached: downloads allowed');
    const redisConfig = path.join(dir, 'redis.yaml');
    fs.writeFileSync(
      redisConfig,
      [
        'hosts: { private: photos.localhost, share: share.localhost }',
        `origin: { url: "${shared.origin.url}" }`,
        'gate: { allow: [owner@example.com] }',
        'mail: { from: p@example.com, transport: console }',
        `dataDir: "${path.join(dir, 'redis-cli')}"`,
        `store: { kind: redis, url: "${redis.url}" }`,
      ].join('\n'),
    );
    const applied = await run(['links', 'audit', '--config', redisConfig, '--fix', 'downloads-off', '--only', link.id, '--apply'], { PORTHOLE_IMMICH_API_KEY: SAMPLE_API_KEY });
    const exited = Date.now();
    assert.equal(applied.code, 0, applied.err);
    assert.match(applied.out, /The gateways sharing this store were told to forget what they cached about the changed links\./);
    const ms = await refusedByPortholeWithin(shared, original, exited);
    assert.ok(ms <= REACH_BOUND_MS, `refused ${ms} ms after the command ended`);
  } finally {
    await shared.close();
    await redis.close();
  }
});
