// Several gateways acting as one (issue 15): two real gateways share one data folder (one SQLite file, WAL), one
// connector keeps a link to each. A request arriving at either reaches the origin; stopping one leaves the other
// serving and the connector redials it by itself; `porthole tunnel status` (the CLI, another process) on either
// lists the connector on both; the admin page of one lists a connector attached to the other only, and revoking
// its token there drops it from the other; a revoked token drops it from both; an old single-address token still
// works; each gateway's certificate pin is checked; a token asking for every address of a name follows what the
// name resolves to. Waits are on events (connector events, hub events, process exit), bounded generously.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runConnector, type Connector } from '../../src/tunnel/connector.js';
import { parsePresence, type TunnelStatus } from '../../src/tunnel/status.js';
import { createTunnelToken } from '../../src/tunnel/token-store.js';
import { encodeToken, hashSecret, type GatewayPin } from '../../src/tunnel/token.js';
import { spawnConnector, type ConnectorProcess } from './fixtures/connector-process.js';
import { PRIVATE_HOST, startGateway, tempDir, type TestGateway } from './fixtures/gateway.js';
import { startOrigin, type TestOrigin } from './fixtures/origin.js';
import { freePort } from '../ports.js';

const CLI = path.resolve('src/cli/main.ts');
/** Generous: the machine running the tests may be busy. */
const BOUND_MS = 20_000;

let shared: ReturnType<typeof tempDir>;
let origin: TestOrigin;
/** Gateway A on 127.0.0.1 and B on 127.0.0.2, on the same HTTPS port (as two hosts behind one name would be). */
let a: TestGateway;
let b: TestGateway;

before(async () => {
  shared = tempDir();
  origin = await startOrigin();
  a = await startGateway({ dataDir: shared.dir });
  b = await startGateway({ dataDir: shared.dir, address: '127.0.0.2', tlsPort: a.tlsPort });
});
after(async () => {
  await b?.close();
  await a?.close();
  await origin?.close();
  shared?.remove();
});

const label = (g: TestGateway, address = '127.0.0.1') => `${address}:${g.tlsPort}`;
const gatewayIdOf = (g: TestGateway) => `${os.hostname()}/${g === b ? '127.0.0.2' : '127.0.0.1'}:${g.tlsPort}`;

/** A token naming several gateways, each with its own pin; made in `g`'s token table. */
function tokenFor(g: TestGateway, name: string, gateways: GatewayPin[], extra: { everyAddress?: boolean } = {}): { id: string; secret: string; token: string } {
  const { id, secret } = createTunnelToken(g.tokens, name);
  const [first, ...more] = gateways as [GatewayPin, ...GatewayPin[]];
  return { id, secret, token: encodeToken({ id, secret, gateway: first.address, fingerprint: first.fingerprint, moreGateways: more, ...extra }) };
}

const bothPins = (): GatewayPin[] => [
  { address: label(a), fingerprint: a.certificate.fingerprint },
  { address: label(b, '127.0.0.2'), fingerprint: b.certificate.fingerprint },
];

/** Rejects after `ms` (BOUND_MS unless said) with `what`. */
const bounded = <T>(promise: Promise<T>, what: string, ms = BOUND_MS): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)));
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
};

/** Resolves once `g`'s hub has a connector attached with this token. */
function attached(g: TestGateway, tokenId: string): Promise<void> {
  return bounded(
    new Promise<void>((resolve) => {
      const check = () => {
        if (!g.hub.status().connectors.some((c) => c.tokenId === tokenId)) return;
        g.hub.off('connected', check);
        resolve();
      };
      g.hub.on('connected', check);
      check();
    }),
    `no connector with token ${tokenId} attached to ${label(g)}`,
  );
}

/** Resolves once `g`'s hub has no connector with this token (within BOUND_MS unless said). */
function detached(g: TestGateway, tokenId: string, ms = BOUND_MS): Promise<void> {
  return bounded(
    new Promise<void>((resolve) => {
      const check = () => {
        if (g.hub.status().connectors.some((c) => c.tokenId === tokenId)) return;
        g.hub.off('disconnected', check);
        resolve();
      };
      g.hub.on('disconnected', check);
      check();
    }),
    `the connector with token ${tokenId} was not dropped from ${label(g)}`,
    ms,
  );
}

function writeConfig(g: TestGateway, name: string): string {
  const file = path.join(shared.dir, name);
  fs.writeFileSync(
    file,
    [
      `listen: { httpsPort: ${g.tlsPort} }`,
      `hosts: { private: ${PRIVATE_HOST} }`,
      'origin: { url: "http://immich-server:2283" }',
      'gate: { allow: ["tunnel@example.com"] }',
      'mail: { from: "p@example.com", transport: console }',
      'tunnel: { enabled: true, publicAddress: "gateway.example.com:443" }',
      `dataDir: ${JSON.stringify(shared.dir)}`,
    ].join('\n'),
  );
  return file;
}

function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function attachToBoth(name: string): Promise<{ id: string; connector: ConnectorProcess }> {
  const { id, token } = tokenFor(a, name, bothPins());
  const connector = spawnConnector({ token, origin: origin.url.href, name });
  await bounded(connector.waitFor('connected', 1, label(a)), 'the connector did not attach to gateway A');
  await bounded(connector.waitFor('connected', 1, label(b, '127.0.0.2')), 'the connector did not attach to gateway B');
  await Promise.all([attached(a, id), attached(b, id)]);
  return { id, connector };
}

test('two gateways on one data folder share the certificate, so one pin fits both', () => {
  assert.equal(a.certificate.fingerprint, b.certificate.fingerprint);
  assert.notEqual(a.httpPort, b.httpPort);
});

test('one connector attached to both gateways: a request at either reaches the origin over its own link', async () => {
  const { id, connector } = await attachToBoth('both');
  try {
    const before = origin.requests;
    for (const g of [a, b, a, b]) {
      const reply = await g.request('/hello');
      assert.equal(reply.status, 200);
      assert.match(reply.body.toString(), /^hello GET /);
    }
    assert.equal(origin.requests - before, 4);
    for (const g of [a, b]) {
      const mine = g.hub.status().connectors.find((c) => c.tokenId === id);
      assert.ok(mine && mine.streamsTotal >= 1, `gateway ${label(g)} carried its requests over its own tunnel link`);
    }
  } finally {
    await connector.kill();
  }
});

test('`porthole tunnel status` on either gateway lists the connector attached to both', async () => {
  const { id, connector } = await attachToBoth('status');
  try {
    for (const config of [writeConfig(a, 'a.yaml'), writeConfig(b, 'b.yaml')]) {
      const shown = await cli('tunnel', 'status', '--config', config);
      assert.equal(shown.status, 0, shown.stderr);
      assert.match(shown.stdout, /^2 gateways running on this store\./);
      for (const g of [a, b]) {
        assert.match(shown.stdout, new RegExp(`^${gatewayIdOf(g).replace(/\./g, '\\.')}\\t[0-9a-f]{8}\\tstatus\\t${id}\\t`, 'm'), `the row of ${gatewayIdOf(g)}`);
      }
      assert.match(shown.stdout, new RegExp(`Connector status \\(token ${id}\\): attached to 2 of 2 gateways\\.`));
      const json = await cli('tunnel', 'status', '--config', config, '--json');
      const { gateways } = JSON.parse(json.stdout) as { gateways: TunnelStatus[] };
      assert.deepEqual(gateways.map((g) => g.gateway).sort(), [gatewayIdOf(a), gatewayIdOf(b)].sort());
      for (const g of gateways) assert.ok(g.connectors.some((c) => c.tokenId === id));
    }
  } finally {
    await connector.kill();
  }
});

test('stopping one gateway leaves the other serving, undisturbed; the connector redials the stopped one by itself', async () => {
  const { id, connector } = await attachToBoth('survivor');
  const onB = b.hub.status().connectors.find((c) => c.tokenId === id)!.id;
  const lost = connector.waitFor('disconnected', 1, label(a));
  const { tlsPort, httpPort } = a;
  await a.close();
  try {
    await bounded(lost, 'the connector did not notice gateway A go');
    for (let i = 0; i < 5; i++) assert.equal((await b.request('/hello')).status, 200);
    assert.equal(b.hub.status().connectors.find((c) => c.tokenId === id)?.id, onB, "B's link is the same connection as before: A going did not touch it");
    assert.deepEqual(
      parsePresence(b.gateway.deps.store.tunnelPresence.list(Date.now())).map((g) => g.gateway),
      [gatewayIdOf(b)],
      'a stopped gateway takes its entry out of the shared status',
    );
  } finally {
    a = await startGateway({ dataDir: shared.dir, tlsPort, httpPort });
  }
  try {
    await bounded(connector.waitFor('connected', 2, label(a)), 'the connector did not come back to gateway A');
    await attached(a, id);
    assert.equal((await a.request('/hello')).status, 200);
    assert.equal(b.hub.status().connectors.find((c) => c.tokenId === id)?.id, onB);
  } finally {
    await connector.kill();
  }
});

test('a revoked token drops the connector from both gateways, and it stops', async () => {
  const { id, connector } = await attachToBoth('revoked');
  try {
    // As the CLI does: another connection to the shared file; each gateway learns it from the change feed.
    assert.equal(a.tokens.revoke(id, Date.now()), true);
    await Promise.all([detached(a, id), detached(b, id)]);
    assert.equal(await bounded(connector.exited, 'the connector did not stop'), 3, 'refused by every gateway, the connector ends');
    const refusedBy = connector.events.filter((e) => e.event === 'refused').map((e) => e.gateway);
    assert.deepEqual(refusedBy.sort(), [label(a), label(b, '127.0.0.2')].sort());
  } finally {
    await connector.kill();
  }
});

/** The connector tables of `g`'s admin page (the tunnel section up to its token list). */
async function adminConnectors(g: TestGateway): Promise<string> {
  const page = await g.request('/.porthole/admin', { headers: { accept: 'text/html', 'accept-language': 'en' } });
  assert.equal(page.status, 200);
  const body = page.body.toString();
  return body.slice(body.indexOf('<section id="tunnel"'), body.indexOf('<h3>Tunnel tokens</h3>'));
}

test("A's admin page lists a connector attached to B only, under B; revoking its token on A's page drops it from B", async (t) => {
  const { id, token } = tokenFor(a, 'only-on-b', [{ address: label(b, '127.0.0.2'), fingerprint: b.certificate.fingerprint }]);
  const connector = spawnConnector({ token, origin: origin.url.href, name: 'only-on-b' });
  try {
    await attached(b, id);
    // B shares its status in the store on every change: A's page reads it from there.
    let shown = '';
    const deadline = Date.now() + BOUND_MS;
    while (!(shown = await adminConnectors(a)).includes('only-on-b')) {
      if (Date.now() > deadline) throw new Error(`A's admin page never listed the connector of B:\n${shown}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const own = shown.indexOf(`<code>${gatewayIdOf(a)}</code> <span class="muted">(this gateway)</span>`);
    const theirs = shown.indexOf(`<code>${gatewayIdOf(b)}</code></h3>`);
    assert.ok(own >= 0 && theirs >= 0, shown);
    const row = shown.indexOf('<td data-label="Name">only-on-b</td>');
    assert.ok(own < theirs && row > theirs, `this gateway first, the row under B's heading:\n${shown}`);
    assert.match(shown, new RegExp(`<td data-label="Token"><code>${id}</code></td>`));

    // A's page, A's CSRF cookie and token, A's revoke action: the shared file's change feed tells B.
    const page = await a.request('/.porthole/admin', { headers: { accept: 'text/html' } });
    const csrf = /name="csrf" value="([0-9a-f]{64})"/.exec(page.body.toString())?.[1];
    const csrfCookie = String(page.headers['set-cookie']?.[0]).split(';')[0]!;
    assert.ok(csrf && csrfCookie.includes('='));
    const since = Date.now();
    const answer = await a.request('/.porthole/admin/revoke', {
      method: 'POST',
      body: Buffer.from(`kind=tunnel-token&id=${id}&csrf=${csrf}`),
      headers: {
        cookie: `${a.headers.cookie}; ${csrfCookie}`,
        'content-type': 'application/x-www-form-urlencoded',
        origin: `http://${PRIVATE_HOST}`,
        'sec-fetch-site': 'same-origin',
      },
    });
    assert.equal(answer.status, 303, answer.body.toString());
    assert.equal(answer.headers.location, '/.porthole/admin?done=tunnel-token#tunnel');
    await detached(b, id, 2_000);
    t.diagnostic(`revoked on A's admin page: the connector left B ${Date.now() - since} ms later`);
    assert.equal(await bounded(connector.exited, 'the connector did not stop'), 3, 'refused by its one gateway, the connector ends');
  } finally {
    await connector.kill();
  }
});

test('an old single-address token (no list of gateways) still works, on its one gateway', async () => {
  const { id, secret } = createTunnelToken(a.tokens, 'old');
  // Written as tokens were before several gateways existed.
  const old = 'pht1_' + Buffer.from(JSON.stringify({ v: 1, i: id, s: secret, g: label(a), f: a.certificate.fingerprint })).toString('base64url');
  const connector = spawnConnector({ token: old, origin: origin.url.href, name: 'old' });
  try {
    await bounded(connector.waitFor('connected', 1, label(a)), 'the old token did not attach');
    await attached(a, id);
    assert.equal((await a.request('/hello')).status, 200);
    assert.equal(
      b.hub.status().connectors.some((c) => c.tokenId === id),
      false,
      'it dials only the gateway it names',
    );
  } finally {
    await connector.kill();
  }
});

test('each gateway must show its own pinned certificate: a wrong pin for one refuses that one only, and it never gets the secret', async () => {
  const otherDir = tempDir();
  const c = await startGateway({ dataDir: otherDir.dir });
  const connectors: ConnectorProcess[] = [];
  try {
    assert.notEqual(c.certificate.fingerprint, a.certificate.fingerprint, 'a gateway with a data folder of its own has its own certificate');
    // Gateway C keeps its state apart, so the same token is entered there too.
    const right = tokenFor(a, 'pins', [
      { address: label(a), fingerprint: a.certificate.fingerprint },
      { address: label(c), fingerprint: c.certificate.fingerprint },
    ]);
    c.tokens.insert({ id: right.id, name: 'pins', secretHash: hashSecret(right.secret), createdAt: Date.now() });
    const good = spawnConnector({ token: right.token, origin: origin.url.href, name: 'pins' });
    connectors.push(good);
    await Promise.all([attached(a, right.id), attached(c, right.id)]);
    assert.equal((await c.request('/hello')).status, 200, 'one pin per gateway: both attach');
    await good.kill();

    const wrong = tokenFor(a, 'wrong-pin', [
      { address: label(a), fingerprint: a.certificate.fingerprint },
      { address: label(c), fingerprint: a.certificate.fingerprint },
    ]);
    c.tokens.insert({ id: wrong.id, name: 'wrong-pin', secretHash: hashSecret(wrong.secret), createdAt: Date.now() });
    const bad = spawnConnector({ token: wrong.token, origin: origin.url.href, name: 'wrong-pin' });
    connectors.push(bad);
    const rejected = await bounded(bad.waitFor('certificate-rejected', 1, label(c)), 'gateway C with the wrong certificate was not refused');
    assert.match(String(rejected.detail), /does not match the pinned/);
    await attached(a, wrong.id);
    assert.equal(
      c.hub.status().connectors.some((x) => x.tokenId === wrong.id),
      false,
    );
    assert.equal(c.tokens.list().find((t) => t.id === wrong.id)?.lastUsedAt, null, 'gateway C never saw the secret');
    assert.equal(
      bad.events.filter((e) => e.event === 'certificate-rejected').every((e) => e.gateway === label(c)),
      true,
      'gateway A was not refused',
    );
  } finally {
    for (const x of connectors) await x.kill();
    await c.close();
    otherDir.remove();
  }
});

test('a token for every address of a name: the connector dials each one the name resolves to, and picks up one added later', async () => {
  const { id, token } = tokenFor(a, 'by-name', [{ address: `gateways.test:${a.tlsPort}`, fingerprint: a.certificate.fingerprint }], { everyAddress: true });
  let answer = ['127.0.0.1'];
  const asked: string[] = [];
  const connector: Connector = runConnector({
    token,
    origin: origin.url,
    name: 'by-name',
    keepalive: { intervalMs: 2000, timeoutMs: 10_000 },
    lookup: async (hostname) => (asked.push(hostname), answer),
    resolveIntervalMs: 200,
  });
  const welcomedBy = new Set<string>();
  const welcomed = (prefix: string) =>
    bounded(
      new Promise<void>((resolve) => {
        const check = () => [...welcomedBy].some((g) => g.startsWith(prefix)) && resolve();
        connector.on('connected', (_id: string, gateway: string) => (welcomedBy.add(gateway), check()));
        check();
      }),
      `the connector was not welcomed by ${prefix}`,
    );
  try {
    await Promise.all([attached(a, id), welcomed('127.0.0.1:')]);
    assert.equal(
      b.hub.status().connectors.some((c) => c.tokenId === id),
      false,
      'B is not in DNS yet',
    );
    answer = ['127.0.0.1', '127.0.0.2'];
    await Promise.all([attached(b, id), welcomed('127.0.0.2:')]);
    assert.equal((await b.request('/hello')).status, 200);
    assert.ok(asked.length >= 2 && asked.every((h) => h === 'gateways.test'));
    assert.deepEqual(
      connector
        .gateways()
        .map((s) => [s.gateway, s.state])
        .sort(),
      [
        [`127.0.0.1:${a.tlsPort} (gateways.test)`, 'connected'],
        [`127.0.0.2:${a.tlsPort} (gateways.test)`, 'connected'],
      ],
    );
  } finally {
    await connector.stop();
  }
  await Promise.all([detached(a, id), detached(b, id)]);
});

test('the name is resolved by the system resolver (dns.lookup, all addresses) when no lookup is given', async () => {
  const { id, token } = tokenFor(a, 'localhost', [{ address: `localhost:${a.tlsPort}`, fingerprint: a.certificate.fingerprint }], { everyAddress: true });
  const connector = runConnector({ token, origin: origin.url, name: 'localhost', keepalive: { intervalMs: 2000, timeoutMs: 10_000 } });
  const connected = new Promise<string>((resolve) => connector.once('connected', (_id: string, gateway: string) => resolve(gateway)));
  try {
    assert.equal(await bounded(connected, 'the connector did not attach by name'), `127.0.0.1:${a.tlsPort} (localhost)`);
    await attached(a, id);
    const states = connector.gateways();
    assert.ok(
      states.some((s) => s.gateway === `127.0.0.1:${a.tlsPort} (localhost)` && s.state === 'connected'),
      JSON.stringify(states),
    );
  } finally {
    await connector.stop();
  }
});

test("the connector's log names each gateway and its state; a gateway that cannot be reached keeps retrying on its own", async () => {
  const nobody = `127.0.0.1:${await freePort()}`;
  const { id, token } = tokenFor(a, 'logs', [...bothPins(), { address: nobody, fingerprint: a.certificate.fingerprint }]);
  const lines: Array<{ msg: string; obj: Record<string, unknown> }> = [];
  const log = (obj: object, msg: string) => void lines.push({ msg, obj: obj as Record<string, unknown> });
  const connector = runConnector({ token, origin: origin.url, name: 'logs', keepalive: { intervalMs: 2000, timeoutMs: 10_000 }, logger: { info: log, warn: log } });
  const both = new Promise<void>((resolve) => {
    const welcomed = new Set<string>();
    connector.on('connected', (_id: string, gateway: string) => welcomed.add(gateway).size === 2 && resolve());
  });
  try {
    await bounded(both, 'the connector did not attach to both reachable gateways');
    await Promise.all([attached(a, id), attached(b, id)]);
    const connected = lines.filter((l) => l.msg === 'tunnel: connected to the gateway').map((l) => l.obj.gateway);
    assert.deepEqual(connected.sort(), [label(a), label(b, '127.0.0.2')].sort());
    const summary = lines.filter((l) => /^tunnel: attached to \d of 3 gateways$/.test(l.msg)).at(-1);
    assert.equal(summary?.msg, 'tunnel: attached to 2 of 3 gateways');
    const states = summary!.obj.gateways as string[];
    assert.ok(
      states.some((s) => new RegExp(`^${label(a)} connected as [0-9a-f]{8}$`).test(s)),
      JSON.stringify(states),
    );
    assert.ok(
      states.some((s) => new RegExp(`^127\\.0\\.0\\.2:${b.tlsPort} connected as [0-9a-f]{8}$`).test(s)),
      JSON.stringify(states),
    );
    assert.ok(
      states.some((s) => s.startsWith(`${nobody} `) && /connecting|retrying/.test(s)),
      JSON.stringify(states),
    );
    assert.ok(
      lines.some((l) => l.msg === 'tunnel: cannot reach the gateway' && l.obj.gateway === nobody),
      'the unreachable gateway is named in its own warning',
    );
    const byGateway = new Map(connector.gateways().map((g) => [g.gateway, g]));
    assert.equal(byGateway.get(nobody)?.connectorId, null);
    assert.match(byGateway.get(nobody)?.lastError ?? '', /ECONNREFUSED/);
  } finally {
    await connector.stop();
  }
});

test('`porthole connect --gateway … --gateway …` (the real command) dials every address given, with the token’s pin', async () => {
  const { id, token } = tokenFor(a, 'cli-connect', [{ address: 'gateway.example.com:443', fingerprint: a.certificate.fingerprint }]);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'connect', '--token', token, '--origin', origin.url.href, '--name', 'cli-connect', '--gateway', label(a), '--gateway', label(b, '127.0.0.2')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  const saidBoth = new Promise<void>((resolve) =>
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/tunnel: attached to 2 of 2 gateways/.test(stderr)) resolve();
    }),
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.all([attached(a, id), attached(b, id)]);
    assert.equal((await b.request('/hello')).status, 200);
    // Its log says so, naming each gateway.
    await bounded(saidBoth, 'the connector did not log that it is attached to both gateways');
    assert.match(stderr, new RegExp(`${label(a).replace(/\./g, '\\.')} connected as`));
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
});
