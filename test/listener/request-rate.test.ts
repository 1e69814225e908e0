// The per-client request rate (listen.requestRate, issue 11) against the whole gateway over real sockets: a flood
// from one address is answered 429 with Retry-After (the same answer on both hosts, a page in English and German
// or JSON) before the gate, the share policy or Immich see it, and the address recovers once the window passed;
// other addresses keep their own budget; HTTP/2 streams and WebSocket upgrades spend the same budget (a refused
// stream leaves its session alive); behind a trusted proxy each forwarded client has its own budget, while an
// untrusted peer's X-Forwarded-For changes nothing; refusals are summarised in the log and counted in the metrics
// without addresses. And what must keep working: a burst of a thousand thumbnails over HTTP/2 at the defaults,
// and everything at all with the limit switched off. Each test floods from its own loopback address.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { startSampleImmich } from '../../src/demo/sample-immich/server.js';
import { startGateway } from '../../src/gateway.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';
import { RequestRateLimiter } from '../../src/listener/request-rate.js';
import { PRIVATE_HOST, SHARE_HOST, startTestGate, type TestGate } from '../gate/harness.js';
import { launchChromium } from '../browser/chromium.js';
import { connectH2, h2request } from '../h2/harness.js';

const PER_SECOND = 4;
const BURST = 4;
/** More than a budget can hold within one window, sent at once. */
const FLOOD = 40;
const PROXY = '127.0.0.10';

let gate: TestGate;
let metricsPort: number;
const logLines: Array<{ msg: string; reason?: string; address?: string; reasons?: Record<string, number> }> = [];

before(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as (typeof logLines)[number]);
      done();
    },
  });
  gate = await startTestGate(
    {
      listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0, requestRate: { perSecond: PER_SECOND, burst: BURST } },
      trustedProxies: [PROXY],
      metrics: { listen: '127.0.0.1:0' },
    },
    { logger: createLogger('warn', sink) },
  );
  metricsPort = gate.gateway.metricsPort!;
});
after(() => gate.close());

/** HTTP/2 client options binding the client end to a loopback address (net.connect's option; the typings omit it). */
const boundTo = (address: string) => ({ localAddress: address }) as http2.SecureClientSessionOptions;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request from `from` (a loopback address), on its own connection. */
function get(port: number, from: string, path: string, headers: http.OutgoingHttpHeaders = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, localAddress: from, agent: false, headers: { host: `${PRIVATE_HOST}:${port}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The gate's sign-in page: 200 from the gate itself, no session needed. */
const ping = (from: string, headers: http.OutgoingHttpHeaders = {}) => get(gate.port, from, '/.porthole/login', headers);
const flood = (from: string, headers: http.OutgoingHttpHeaders = {}, n = FLOOD) => Promise.all(Array.from({ length: n }, () => ping(from, headers)));
const statuses = (answers: Array<{ status: number }>) => answers.map((a) => a.status);
const count = (answers: Array<{ status: number }>, status: number) => answers.filter((a) => a.status === status).length;

/** Waits as long as the refusal said, then until one more second has begun for the limiter. */
async function waitOut(answer: { headers: Record<string, unknown> }): Promise<void> {
  const seconds = Number(answer.headers['retry-after']);
  assert.ok(seconds >= 1 && seconds <= 10, `Retry-After ${String(answer.headers['retry-after'])}`);
  await sleep(seconds * 1000 + 100);
}

/** An upgrade request from `from`: the status line the gateway answers with, and its headers. */
function upgrade(from: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: gate.port,
      path: '/api/socket.io/?EIO=4&transport=websocket',
      localAddress: from,
      agent: false,
      headers: { host: gate.host, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode!, headers: res.headers });
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode!, headers: res.headers });
    });
    req.on('error', reject);
    req.end();
  });
}

test('a flood from one address gets 429 with Retry-After before Immich sees it, and the address recovers after the window', async () => {
  const from = '127.0.0.2';
  const answers = await flood(from);
  const refused = answers.filter((a) => a.status === 429);
  assert.ok(refused.length >= FLOOD - (PER_SECOND + BURST) * 2, `refused ${refused.length} of ${FLOOD}: ${statuses(answers).join(' ')}`);
  // The admitted ones reached the gate (its sign-in page); the refused ones never did.
  assert.equal(count(answers, 200) + refused.length, FLOOD, statuses(answers).join(' '));
  const first = refused[0]!;
  assert.match(first.headers['retry-after'] ?? '', /^\d+$/);
  assert.deepEqual(JSON.parse(first.body), {
    error: 'rate-limited',
    message: `Too many requests from your network. Please wait ${first.headers['retry-after']} second${first.headers['retry-after'] === '1' ? '' : 's'} and reload.`,
    statusCode: 429,
  });
  await waitOut(first);
  assert.equal((await ping(from)).status, 200, 'the budget is back once the window passed');
});

test('the refusal is a page in English and German for browsers, JSON for scripts, and the same on both hosts whatever the path', async () => {
  const from = '127.0.0.3';
  const link = gate.origin.library.createLink({});
  const exhaust = await flood(from);
  assert.ok(count(exhaust, 429) > 0);
  /** The answer to this request while over the budget (a second may have passed and refilled it: spend it again). */
  const answer = async (host: string, path: string, headers: http.OutgoingHttpHeaders) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const a = await get(gate.port, from, path, { ...headers, host: `${host}:${gate.port}` });
      if (a.status === 429) return a;
      await flood(from, {}, PER_SECOND * 2);
    }
    assert.fail(`${host}${path} was never refused`);
  };
  for (const headers of [{}, { accept: 'text/html' }, { accept: 'text/html', 'accept-language': 'de' }]) {
    const seen = [
      await answer(PRIVATE_HOST, '/photos', headers),
      await answer(SHARE_HOST, `/share/${link.key}`, headers),
      await answer(SHARE_HOST, '/share/not-a-key-at-all', headers),
      await answer(SHARE_HOST, '/s/no-such-slug', headers),
    ];
    // The share host's answer says nothing about the link (a real key, a wrong one, a route it never serves).
    for (const a of seen) {
      assert.equal(a.body.replace(/\d+/g, 'N'), seen[0]!.body.replace(/\d+/g, 'N'));
      assert.equal(a.headers['content-type'], seen[0]!.headers['content-type']);
    }
  }
  const en = await answer(SHARE_HOST, '/share/x', { accept: 'text/html' });
  assert.match(en.headers['content-type']!, /^text\/html/);
  assert.match(en.body, /<html lang="en"/);
  assert.match(en.body, /Too many requests/);
  assert.match(en.body, /name="viewport"/);
  const de = await answer(PRIVATE_HOST, '/', { accept: 'text/html', 'accept-language': 'de-DE,de;q=0.9' });
  assert.match(de.body, /<html lang="de"/);
  assert.match(de.body, /Zu viele Anfragen/);
  assert.match(de.body, /Sekunde/);
  // Immich's mobile app and the web client's fetches are scripts: JSON on /api paths even when HTML is accepted,
  // the same on both hosts.
  const api = await answer(PRIVATE_HOST, '/api/server/ping', { accept: 'text/html' });
  assert.match(api.headers['content-type']!, /^application\/json/);
  const shareApi = await answer(SHARE_HOST, `/api/shared-links/me?key=${link.key}`, { accept: 'text/html' });
  assert.equal(shareApi.body.replace(/\d+/g, 'N'), api.body.replace(/\d+/g, 'N'));
});

test('another address keeps its own budget while one is refused', async () => {
  const flooder = '127.0.0.4';
  assert.ok(count(await flood(flooder), 429) > 0);
  // A whole budget's worth from a neighbour at once, all served (one shared budget would refuse most of them).
  assert.deepEqual(statuses(await flood('127.0.0.5', {}, PER_SECOND + BURST)), Array(PER_SECOND + BURST).fill(200));
  assert.ok(count(await flood(flooder, {}, PER_SECOND + BURST), 429) > 0, 'while the flooder is still over its budget');
});

test('HTTP/2 streams spend the budget like requests: the streams over it get 429, the session goes on', async () => {
  const from = '127.0.0.6';
  const session: http2.ClientHttp2Session = await connectH2(gate.gateway.https!.port, PRIVATE_HOST, boundTo(from));
  try {
    const answers = await Promise.all(Array.from({ length: FLOOD }, () => h2request(session, '/.porthole/login')));
    assert.ok(count(answers, 429) >= FLOOD - (PER_SECOND + BURST) * 2, statuses(answers).join(' '));
    const refused = answers.find((a) => a.status === 429)!;
    assert.deepEqual(JSON.parse(refused.text).error, 'rate-limited');
    assert.ok(!session.closed && !session.destroyed, 'a refused stream does not end its session');
    // The same budget as HTTP/1.1 requests from that address (its burst is spent: at most a second's worth passes).
    assert.ok(count(await flood(from, {}, PER_SECOND + BURST), 429) > 0);
    await waitOut(refused);
    assert.equal((await h2request(session, '/.porthole/login')).status, 200, 'the same session is served again after the window');
  } finally {
    session.close();
  }
});

test('WebSocket upgrades spend the budget too: over it they get 429 with Retry-After instead of reaching the gate', async () => {
  const from = '127.0.0.7';
  // Without a session the gate answers an upgrade with 401; the limit comes first.
  assert.equal((await upgrade(from)).status, 401);
  const answers = await Promise.all(Array.from({ length: FLOOD }, () => upgrade(from)));
  const refused = answers.filter((a) => a.status === 429);
  assert.ok(refused.length >= FLOOD - (PER_SECOND + BURST) * 2, statuses(answers).join(' '));
  assert.match(refused[0]!.headers['retry-after'] ?? '', /^\d+$/);
  assert.equal(count(answers, 401) + refused.length, FLOOD);
  // Requests and upgrades share one budget.
  assert.ok(count(await flood(from, {}, PER_SECOND + BURST), 429) > 0);
});

test('behind a trusted proxy each forwarded client has its own budget; an untrusted peer cannot buy one with X-Forwarded-For', async () => {
  const answers = await flood(PROXY, { 'x-forwarded-for': '203.0.113.1' });
  assert.ok(count(answers, 429) > 0, 'one forwarded client flooding is refused');
  const budget = PER_SECOND + BURST;
  assert.deepEqual(statuses(await flood(PROXY, { 'x-forwarded-for': '203.0.113.2' }, budget)), Array(budget).fill(200), 'another client of the same proxy is not');
  // A hop the client wrote in front of the one the proxy added changes nothing: still 203.0.113.1's spent budget.
  assert.ok(count(await flood(PROXY, { 'x-forwarded-for': '198.51.100.7, 203.0.113.1' }, budget), 429) > 0, 'a forged hop in front changes nothing');

  // A peer nobody trusts: its X-Forwarded-For is ignored, every request counts for the peer itself.
  const untrusted = '127.0.0.11';
  const forged = await Promise.all(Array.from({ length: FLOOD }, (_, i) => ping(untrusted, { 'x-forwarded-for': `192.0.2.${i + 1}` })));
  assert.ok(count(forged, 429) >= FLOOD - (PER_SECOND + BURST) * 2, statuses(forged).join(' '));
});

test('refusals are logged as a summary, never one line each, and counted in the metrics by limit without any address', async () => {
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    return res.text();
  };
  const hits = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('porthole_rate_limit_hits_total{') && l.includes('limit="request-rate"'))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
  const before = hits(await scrape());
  const from = '127.0.0.12';
  const answers = await flood(from, {}, FLOOD);
  const upgrades = await Promise.all(Array.from({ length: 5 }, () => upgrade(from)));
  const refused = count(answers, 429) + count(upgrades, 429);
  assert.ok(refused > 0);
  // The upgrade sockets are counted when they close.
  let text = await scrape();
  for (let i = 0; i < 100 && hits(text) - before < refused; i++) (await sleep(100), (text = await scrape()));
  // At least these (an earlier test's refused upgrade may still be closing, and counts when it does).
  assert.ok(hits(text) - before >= refused, `${hits(text) - before} counted, ${refused} refused`);
  for (const line of text.split('\n').filter((l) => l.startsWith('porthole_rate_limit_hits_total'))) assert.doesNotMatch(line, /127\.0\.0|203\.0\.113/);
  // All of this test's refusals (and the earlier tests') made at most a first line and summaries.
  const lines = logLines.filter((l) => l.msg.startsWith('listener: refused requests over the per-client request rate'));
  assert.ok(lines.length >= 1);
  assert.ok(lines.length <= 3, `${lines.length} log lines`);
  assert.equal(lines[0]!.reason, 'too many requests');
});

test('the defaults let a burst of a thousand thumbnails over HTTP/2 through (a page of a big album, a fast scroll)', async () => {
  const defaults = await startTestGate({ listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 } });
  try {
    assert.deepEqual(defaults.config.listen.requestRate, { perSecond: 200, burst: 3000 });
    const lib = defaults.origin.library;
    const link = lib.createLink({});
    const asset = lib.album.assetIds[0]!;
    const session = await connectH2(defaults.gateway.https!.port, SHARE_HOST, boundTo('127.0.0.20'));
    try {
      const page = await h2request(session, `/share/${link.key}`, { headers: { accept: 'text/html' } });
      assert.equal(page.status, 200);
      const thumbnails = await Promise.all(Array.from({ length: 1000 }, (_, i) => h2request(session, `/api/assets/${asset}/thumbnail?key=${link.key}&size=thumbnail&c=${i}`)));
      assert.deepEqual(new Set(statuses(thumbnails)), new Set([200]));
    } finally {
      session.close();
    }
  } finally {
    await defaults.close();
  }
});

test('at the defaults Chromium opens the share page of a 200-photo album over HTTP/2 (the first-screen benchmark): nothing refused', async () => {
  const origin = await startSampleImmich(0, '127.0.0.1', { bigAlbum: 200 });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-request-rate-'));
  const config = parseConfig({
    listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    hosts: { private: PRIVATE_HOST, share: SHARE_HOST },
    origin: { url: origin.url },
    gate: { allow: ['alice@example.com'] },
    mail: { from: 'porthole@example.com', transport: 'console' },
    dataDir,
  });
  const gateway = await startGateway(
    config,
    createConsoleMailer(() => {}),
    silentLogger,
  );
  const browser = await launchChromium([SHARE_HOST]);
  try {
    const link = origin.library.createLink({ albumId: origin.library.bigAlbum!.id });
    const visit = async () => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, serviceWorkers: 'block' });
      try {
        const page = await context.newPage();
        const refused: string[] = [];
        page.on('response', (r) => void (r.status() === 429 && refused.push(r.url())));
        await page.goto(`https://${SHARE_HOST}:${gateway.https!.port}/share/${link.key}`, { waitUntil: 'commit' });
        await page.waitForSelector('body[data-state="ready"]', { state: 'attached', timeout: 180_000 });
        await page.waitForFunction(() => document.querySelectorAll('img.thumb.loaded, img.thumb.failed').length === 200, undefined, { timeout: 180_000 });
        const shown = await page.evaluate(() => ({
          loaded: document.querySelectorAll('img.thumb.loaded').length,
          protocol: (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol,
        }));
        return { ...shown, refused };
      } finally {
        await context.close();
      }
    };
    // Its 209 requests come within about a second (bench/request-rate.ts), far over any steady rate alone.
    assert.deepEqual(await visit(), { loaded: 200, protocol: 'h2', refused: [] });
  } finally {
    await browser.close();
    await gateway.close();
    await origin.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('requestRate: false switches the limit off: a flood far over the defaults from one address is served in full', async () => {
  const off = await startTestGate({ listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0, requestRate: false } });
  try {
    // Over the defaults' first 10 s (200/s and 3000 more): with any limit on, hundreds of these would be 429.
    const sessions = await Promise.all(Array.from({ length: 4 }, () => connectH2(off.gateway.https!.port, SHARE_HOST, boundTo('127.0.0.21'))));
    try {
      const answers = await Promise.all(Array.from({ length: 6000 }, (_, i) => h2request(sessions[i % sessions.length]!, `/nothing-here-${i}`)));
      assert.deepEqual(new Set(statuses(answers)), new Set([404]));
    } finally {
      for (const session of sessions) session.close();
    }
  } finally {
    await off.close();
  }
});

test('memory stays bounded whatever addresses arrive: past maxClients the least recently seen is forgotten', async () => {
  const limiter = new RequestRateLimiter({ perSecond: 1, burst: 0, maxClients: 3 });
  for (let i = 0; i < 50; i++) assert.equal(await limiter.take(`198.51.100.${i}`), null);
  assert.equal(limiter.trackedClients, 3);
  // The library's own records follow: at most maxClients of them in memory.
  const stored = (limiter as unknown as { steady: { _memoryStorage: { _storage: Map<string, unknown> } } }).steady._memoryStorage._storage;
  assert.ok(stored.size <= 3, `${stored.size} records kept`);
  // A client still tracked is still limited.
  assert.notEqual(await limiter.take('198.51.100.49'), null);
});
