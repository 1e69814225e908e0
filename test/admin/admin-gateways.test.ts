// The admin page and metrics of gateways acting as one: two real gateways on one real redis-server, each with the
// tunnel on, and a real connector attached to gateway two only. Gateway one's admin page lists that connector
// under gateway two (its own gateway marked as this one), in English and German; its metrics keep their own
// figures local and add the shared ones without naming anything; revoking the token from gateway one's page drops
// the connector from gateway two within two seconds (the revocation reaches it through the store's change feed).
// A gateway whose shared status expired drops off the page; a damaged status from another gateway does not break
// it. Waits are on hub events or polls with deadlines.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runConnector, type Connector } from '../../src/tunnel/connector.js';
import { createTunnelToken } from '../../src/tunnel/token-store.js';
import { encodeToken } from '../../src/tunnel/token.js';
import { startTestRedis, type TestRedis } from '../store/redis-server.js';
import { csrfFrom, startTestGate, type CookieJar, type TestGate } from '../gate/harness.js';

const ADMIN = 'alice@example.com';
const CONNECTOR = 'attic-nas';
/** Generous for setup on a busy machine; the revocation has its own, tight bound. */
const BOUND_MS = 20_000;
const REVOCATION_BOUND_MS = 2_000;

let redis: TestRedis;
let one: TestGate;
let two: TestGate;
let admin: CookieJar;
let connector: Connector | undefined;
let tokenId: string;

const html = (language = 'en') => ({ accept: 'text/html', 'accept-language': language });

/** The id each gateway shares its status under (host name, address and HTTPS port). */
const idOf = (g: TestGate) => `${os.hostname()}/127.0.0.1:${g.gateway.https!.port}`;

before(async () => {
  redis = await startTestRedis();
  const overrides = {
    store: { kind: 'redis' as const, url: redis.url },
    listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    tunnel: { enabled: true, publicAddress: '127.0.0.1:443' },
    gate: { allow: [ADMIN, '*@family.example'], admins: [ADMIN] },
  };
  one = await startTestGate({ ...overrides, metrics: { listen: '127.0.0.1:0' } });
  // Gateways acting as one share the installation secret, as an operator copies gate.key.
  two = await startTestGate(overrides, { gateKey: fs.readFileSync(path.join(one.dataDir, 'gate.key')) });
  admin = await one.signIn(ADMIN);

  // The connector knows gateway two only (a token naming one gateway), so it is attached there and nowhere else.
  const created = createTunnelToken(two.gateway.deps.store.tunnelTokens, CONNECTOR);
  tokenId = created.id;
  const { port, certificate } = two.gateway.https!;
  connector = runConnector({
    token: encodeToken({ id: created.id, secret: created.secret, gateway: `127.0.0.1:${port}`, fingerprint: certificate.fingerprint }),
    origin: new URL(two.origin.url),
    name: CONNECTOR,
    keepalive: { intervalMs: 2000, timeoutMs: 10_000 },
  });
  await attachedTo(two, tokenId);
});

after(async () => {
  await connector?.stop();
  await one?.close();
  await two?.close();
  await redis?.close();
});

/** Rejects after `ms` with `what`. */
function bounded<T>(promise: Promise<T>, what: string, ms = BOUND_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)));
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

const holds = (g: TestGate, id: string) => g.gateway.tunnel!.status().connectors.some((c) => c.tokenId === id);

/** Resolves once `g`'s hub has a connector with this token (on its 'connected' event). */
function attachedTo(g: TestGate, id: string): Promise<void> {
  const hub = g.gateway.tunnel!;
  return bounded(
    new Promise<void>((resolve) => {
      const check = () => holds(g, id) && (hub.off('connected', check), resolve());
      hub.on('connected', check);
      check();
    }),
    `a connector with token ${id} did not attach`,
  );
}

/** Resolves once `g`'s hub has no connector with this token (on its 'disconnected' event). */
function detachedFrom(g: TestGate, id: string, ms: number): Promise<void> {
  const hub = g.gateway.tunnel!;
  return bounded(
    new Promise<void>((resolve) => {
      const check = () => !holds(g, id) && (hub.off('disconnected', check), resolve());
      hub.on('disconnected', check);
      check();
    }),
    `the connector with token ${id} was not dropped`,
    ms,
  );
}

/** The tunnel section of gateway one's admin page. */
async function tunnelSection(language = 'en'): Promise<string> {
  const page = await one.request('GET', '/.porthole/admin', { jar: admin, headers: html(language) });
  assert.equal(page.status, 200);
  const section = /<section id="tunnel"[\s\S]*?<\/section>/.exec(page.body)?.[0];
  assert.ok(section, 'the page has a tunnel section');
  return section;
}

/** Polls gateway one's page (the shared status arrives by pub/sub, renewed every 2 s) until `check` holds. */
async function sectionUntil(check: (section: string) => boolean, what: string): Promise<string> {
  const deadline = Date.now() + BOUND_MS;
  for (;;) {
    const section = await tunnelSection();
    if (check(section)) return section;
    if (Date.now() > deadline) throw new Error(`gateway one's admin page never showed ${what}:\n${section}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The section up to the tunnel tokens (whose table names the token's connector too). */
const connectorsPart = (section: string) => section.slice(0, section.indexOf('<h3>Tunnel tokens</h3>'));

const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function scrape(g: TestGate): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: g.gateway.metricsPort!, path: '/metrics', agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
}
const sample = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

test("gateway one's admin page lists the connector attached to gateway two, under gateway two", async () => {
  const section = await sectionUntil((s) => connectorsPart(s).includes(CONNECTOR), 'the connector of gateway two');
  assert.match(section, /2 gateways share this store/);
  const ownHeading = section.indexOf(`<code>${idOf(one)}</code> <span class="muted">(this gateway)</span>`);
  const otherHeading = section.indexOf(`<code>${idOf(two)}</code></h3>`);
  assert.ok(ownHeading >= 0, `gateway one is marked as this one:\n${section}`);
  assert.ok(otherHeading > ownHeading, `gateway two has a heading of its own after it:\n${section}`);
  const own = section.slice(ownHeading, otherHeading);
  assert.match(own, /No connector has attached yet\./, 'gateway one has none of its own');
  assert.doesNotMatch(own, new RegExp(CONNECTOR));
  const theirs = connectorsPart(section).slice(otherHeading);
  assert.match(theirs, /As it reported \d+ s ago\./);
  assert.match(theirs, /1 connector\(s\) attached\./);
  // Today's fields, from gateway two's shared status: name, token, since, address, streams and bytes.
  const row = /<tr>(<td data-label="Name">attic-nas<\/td>[\s\S]*?)<\/tr>/.exec(theirs)?.[1];
  assert.ok(row, `a row for the connector:\n${theirs}`);
  assert.match(row, new RegExp(`<td data-label="Token"><code>${tokenId}</code></td>`));
  assert.match(row, /<td data-label="Since" class="num"><span class="nw">\d{4}-\d\d-\d\d<\/span> <span class="nw">\d\d:\d\d UTC<\/span><\/td>/);
  assert.match(row, /<td data-label="Address">127\.0\.0\.1:\d+<\/td>/);
  for (const label of ['Open streams', 'Streams in total']) assert.match(row, new RegExp(`<td data-label="${label}" class="num">\\d+</td>`));
  for (const label of ['Received', 'Sent']) assert.match(row, new RegExp(`<td data-label="${label}" class="num">[\\d.]+ (B|KiB|MiB)</td>`));
  // Its token is among the tokens with a revoke button, whichever gateway the connector is attached to.
  assert.match(section, new RegExp(`name="id" value="${tokenId}"`));

  const german = await tunnelSection('de');
  assert.match(german, /2 Gateways teilen sich diesen Speicher; unter jedem stehen die mit ihm verbundenen Connectoren\./);
  assert.match(german, new RegExp(`<code>${escapeRe(idOf(one))}</code> <span class="muted">\\(dieses Gateway\\)</span>`));
  assert.match(german, /Stand von vor \d+ s\./);
  assert.match(german, /1 Connector\(en\) verbunden\./);
  assert.match(german, /<td data-label="Empfangen" class="num">/);
});

test("gateway one's metrics: its own connectors stay its own; the shared gauges count every gateway, naming none", async () => {
  await sectionUntil((s) => connectorsPart(s).includes(CONNECTOR), 'the connector of gateway two');
  const text = await scrape(one);
  assert.equal(sample(text, 'porthole_tunnel_connectors'), 0, 'local: none attached to gateway one');
  assert.equal(sample(text, 'porthole_tunnel_up'), 0);
  assert.equal(sample(text, 'porthole_tunnel_gateways'), 2);
  assert.equal(sample(text, 'porthole_tunnel_connectors_all_gateways'), 1, 'shared: the one attached to gateway two');
  for (const needle of [CONNECTOR, tokenId, idOf(one), idOf(two), '127.0.0.1']) assert.equal(text.includes(needle), false, needle);
});

test("a gateway whose shared status expired drops off the page; another's damaged status does not break it", async () => {
  const store = one.gateway.deps.store;
  const snapshot = {
    writtenAt: new Date().toISOString(),
    pid: 1,
    offlineSince: null,
    connectors: [
      {
        id: 'cafe0001',
        tokenId: 'feedfacefeed',
        name: 'short-lived',
        since: new Date().toISOString(),
        remoteAddress: '192.0.2.7:4000',
        openStreams: 0,
        streamsTotal: 3,
        bytesIn: 2048,
        bytesOut: 10,
      },
    ],
  };
  // As another version might write it: fields missing or of another type. The page shows what it can read.
  const damaged = { writtenAt: 'yesterday', connectors: [{ name: 42, since: 'soon', bytesIn: '<b>' }, null] };
  store.tunnelPresence.upsert('test-gateway-damaged', JSON.stringify(damaged), Date.now() + 60_000);
  store.tunnelPresence.upsert('test-gateway-leaving', JSON.stringify(snapshot), Date.now() + 1500);
  try {
    const shown = await tunnelSection();
    assert.match(shown, /4 gateways share this store/);
    assert.match(shown, /<code>test-gateway-leaving<\/code><\/h3>/);
    assert.match(shown, /short-lived/);
    assert.match(shown, /<code>test-gateway-damaged<\/code><\/h3>/);
    assert.match(shown, /<td data-label="Name">\?<\/td>/, 'a name that is not text is shown as unknown');
    const gone = await sectionUntil((s) => !s.includes('test-gateway-leaving'), 'the expired gateway gone');
    assert.doesNotMatch(gone, /short-lived/);
    assert.match(gone, /3 gateways share this store/);
  } finally {
    store.tunnelPresence.remove('test-gateway-damaged');
    store.tunnelPresence.remove('test-gateway-leaving');
  }
});

test("revoking the token on gateway one's page drops the connector from gateway two within two seconds", async (t) => {
  const section = await sectionUntil((s) => connectorsPart(s).includes(CONNECTOR), 'the connector of gateway two');
  assert.match(section, new RegExp(`name="id" value="${tokenId}"`));
  const page = await one.request('GET', '/.porthole/admin', { jar: admin, headers: html() });
  const csrf = csrfFrom(page.body);
  const stopped = connector!.done.then(
    () => 'ended',
    (error: Error) => error.message,
  );
  const since = Date.now();
  const answer = await one.request('POST', '/.porthole/admin/revoke', {
    jar: admin,
    body: `kind=tunnel-token&id=${tokenId}&csrf=${csrf}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: `http://${one.host}`, 'sec-fetch-site': 'same-origin', accept: 'text/html' },
  });
  assert.equal(answer.status, 303);
  assert.equal(answer.headers.location, '/.porthole/admin?done=tunnel-token#tunnel');
  await detachedFrom(two, tokenId, REVOCATION_BOUND_MS);
  t.diagnostic(`revoked on gateway one's admin page: the connector left gateway two ${Date.now() - since} ms later`);
  assert.match(await bounded(stopped, 'the connector did not stop'), /refused the tunnel token/, 'its only gateway refused it, so it stopped');

  const [event] = one.gateway.deps.store.audit.list({ type: 'tunnel.token-revoked' });
  assert.ok(event);
  assert.match(event.detail!, new RegExp(`tunnel token ${tokenId} "attic-nas", 0 connector\\(s\\) dropped, 1 attached to other gateways`));
  assert.match(event.detail!, /by alice@example\.com \(admin page\)/);
  const after = await sectionUntil((s) => !connectorsPart(s).includes(CONNECTOR), 'the connector gone from gateway two');
  assert.match(connectorsPart(after), /No connector attached; offline since/);
  assert.match(after, new RegExp(`<code>${tokenId}</code>[\\s\\S]*?revoked \\d{4}-\\d\\d-\\d\\d`), 'the token is listed as revoked');
});
