// Prometheus metrics over real sockets: a gateway with metrics.listen set, real traffic (a sign-in with a
// wrong and a right code mailed over SMTP, share-host pages, refusals and a password lock-out, a WebSocket,
// an unknown Host), the endpoint scraped over HTTP and read with a Prometheus text-format parser. Counters must
// move with the traffic, label values must come from fixed sets whatever a client sends, and nothing personal
// (addresses, keys, slugs, passwords, codes, client IPs, paths) may appear in the scrape.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import WebSocket from 'ws';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { createGatewayMetrics, MetricsListenError, startMetricsServer } from '../../src/metrics/index.js';
import { CookieJar, SHARE_HOST, startTestGate, type TestGate } from '../gate/harness.js';
import { dashboardMetricNames } from './dashboard.js';

let gate: TestGate;
before(async () => {
  gate = await startTestGate({
    metrics: { listen: '127.0.0.1:0' },
    gate: { rateLimits: { verifiesPerIpPerHour: 1000, codesPerIpPerHour: 1000, codesPerAddressPerHour: 1000 } },
    share: { rateLimits: { passwordFreeFailures: 10, passwordFailuresPerClient: 100, passwordFailuresPerIp: 1000, passwordFailuresPerLink: 2, unknownLinksPerIp: 1000 } },
  });
});
after(() => gate.close());

interface Family {
  name: string;
  type: string;
  metrics: Array<{ value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }>;
}

function get(port: number, path: string, method = 'GET', headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function scrapeText(): Promise<string> {
  const res = await get(gate.gateway.metricsPort!, '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
  return res.body;
}

class Scrape {
  constructor(
    readonly text: string,
    readonly families: Family[] = parsePrometheusTextFormat(text) as Family[],
  ) {}
  family(name: string): Family | undefined {
    return this.families.find((f) => f.name === name);
  }
  /** Sum of the samples of `name` whose labels include `labels` (histograms: their count). */
  value(name: string, labels: Record<string, string> = {}): number {
    const family = this.family(name);
    if (!family) return 0;
    if (family.type === 'HISTOGRAM') return this.histogramCount(name, labels);
    return family.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)).reduce((sum, m) => sum + Number(m.value ?? m.count ?? 0), 0);
  }
  /**
   * The parser folds a histogram's label sets into one (it only handles unlabelled histograms), so counts per
   * label set are read from the `_count` lines; their label values come from fixed sets and carry no escapes.
   */
  histogramCount(name: string, labels: Record<string, string>): number {
    let sum = 0;
    for (const line of this.text.split('\n')) {
      const match = new RegExp(`^${name}_count\\{([^}]*)\\} (\\S+)$`).exec(line);
      if (!match) continue;
      const found = Object.fromEntries([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
      if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(match[2]);
    }
    return sum;
  }
}
const scrape = async () => new Scrape(await scrapeText());

/** Scrapes until `check` holds: what the gateway counts at a socket's close lands a moment after the client sees it. */
async function scrapeUntil(check: (s: Scrape) => boolean, what: string): Promise<Scrape> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const s = await scrape();
    if (check(s)) return s;
    if (Date.now() > deadline)
      throw new Error(
        `metrics never showed ${what}:\n${s.text
          .split('\n')
          .filter((l) => l.startsWith('porthole_') && !l.includes('nodejs'))
          .join('\n')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const html = { accept: 'text/html' };
const json = { 'content-type': 'application/json', accept: 'application/json' };
const shareHost = () => `${SHARE_HOST}:${gate.port}`;
const shareGet = (path: string, options: { method?: string; body?: string; headers?: http.OutgoingHttpHeaders } = {}) =>
  gate.request(options.method ?? 'GET', path, { host: shareHost(), headers: options.headers ?? json, body: options.body });

// Everything personal the traffic below carries; none of it may reach the scrape.
const secrets: string[] = [];

test('counters move with real traffic: sign-in with a wrong and a right code, share host, refusals, WebSocket', async () => {
  const before = await scrape();

  // Sign-in: one wrong code, then the right one (mailed over real SMTP).
  const email = 'alice@example.com';
  const jar = new CookieJar();
  const sent = gate.smtp.count(email);
  assert.equal((await gate.submit('/.porthole/login', { email }, jar)).status, 303);
  const mail = await gate.smtp.next(email, sent);
  const wrong = mail.code === '000000' ? '111111' : '000000';
  assert.equal((await gate.submit('/.porthole/code', { code: wrong }, jar)).status, 400);
  assert.equal((await gate.submit('/.porthole/code', { code: mail.code }, jar)).status, 303);
  const library = await gate.request('GET', '/photos', { headers: html, jar });
  assert.equal(library.status, 200);
  secrets.push(email, mail.code, ...jar.cookies.values());

  // Share host: an open link (twice: the second lookup is a cache hit), a password link, refusals.
  const open = gate.origin.library.createLink({ slug: 'grandma-summer-2026' });
  const guarded = gate.origin.library.createLink({ password: 'hunter2-secret' });
  secrets.push(open.key, open.slug!, guarded.key, 'hunter2-secret');
  assert.equal((await shareGet(`/share/${open.key}`, { headers: html })).status, 200);
  assert.equal((await shareGet(`/api/shared-links/me?key=${open.key}`)).status, 200);
  assert.equal((await shareGet(`/s/${open.slug}`, { headers: html })).status, 200);
  assert.equal((await shareGet('/api/users/me')).status, 404);
  assert.equal((await shareGet(`/api/albums?key=${open.key}`)).status, 404);
  const login = (password: string) => shareGet(`/api/shared-links/login?key=${guarded.key}`, { method: 'POST', body: JSON.stringify({ password }) });
  assert.equal((await login('wrong-1')).status, 401);
  assert.equal((await login('wrong-2')).status, 401);
  assert.equal((await login('hunter2-secret')).status, 429, 'the link is locked after passwordFailuresPerLink wrong tries');

  // A Host nobody serves.
  assert.equal((await gate.request('GET', '/', { host: 'elsewhere.example' })).status, 421);

  const during = await scrape();
  const moved = (name: string, labels: Record<string, string> = {}) => during.value(name, labels) - before.value(name, labels);

  assert.equal(moved('porthole_pin_outcomes_total', { outcome: 'wrong' }), 1);
  assert.equal(moved('porthole_pin_outcomes_total', { outcome: 'right' }), 1);
  assert.equal(moved('porthole_audit_events_total', { type: 'code.requested' }), 1);
  assert.equal(moved('porthole_audit_events_total', { type: 'session.created' }), 1);
  assert.equal(moved('porthole_audit_events_total', { type: 'share.password-wrong' }), 2);
  assert.equal(moved('porthole_audit_events_total', { type: 'share.locked' }), 1);

  assert.ok(moved('porthole_http_requests_total', { host: 'private', decision: 'proxied', status: '200' }) >= 1, 'the library page went to Immich');
  assert.ok(moved('porthole_http_requests_total', { host: 'private', decision: 'answered' }) >= 4, 'the gate answered its own pages');
  assert.ok(moved('porthole_http_requests_total', { host: 'share', decision: 'proxied', status: '200' }) >= 3);
  assert.equal(moved('porthole_http_requests_total', { host: 'share', decision: 'refused', status: '404' }), 2);
  assert.equal(moved('porthole_http_requests_total', { host: 'share', decision: 'refused', status: '429' }), 1);
  assert.equal(moved('porthole_http_requests_total', { host: 'other', decision: 'refused', status: '421' }), 1);
  assert.equal(moved('porthole_http_refusals_total', { host: 'share', reason: 'not-found' }), 2);
  assert.equal(moved('porthole_http_refusals_total', { host: 'other', reason: 'misdirected' }), 1);
  assert.equal(moved('porthole_rate_limit_hits_total', { host: 'share', limit: 'share-password' }), 1);
  assert.ok(moved('porthole_share_link_cache_total', { result: 'miss' }) >= 2, 'each link was asked of Immich');
  assert.ok(moved('porthole_share_link_cache_total', { result: 'hit' }) >= 1, 'the open link was answered from the cache the second time');
  assert.ok(moved('porthole_http_request_duration_seconds', { host: 'share', decision: 'proxied' }) >= 3, 'latency observed per request');
  assert.ok(moved('porthole_http_sent_bytes_total', { host: 'share' }) > library.body.length / 10);
  assert.ok(moved('porthole_http_received_bytes_total', { host: 'private' }) > 0);
  assert.ok(during.family('porthole_http_request_duration_seconds')?.type === 'HISTOGRAM');

  // A WebSocket on the private host: the gauge counts it while open and lets go once it closes.
  const ws = new WebSocket(`ws://127.0.0.1:${gate.port}/api/socket.io/?EIO=4&transport=websocket`, { headers: { host: gate.host, cookie: jar.header()! } });
  await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
  ws.send('x'.repeat(50_000));
  await new Promise((resolve) => ws.once('message', resolve));
  const whileOpen = await scrape();
  assert.equal(whileOpen.value('porthole_websockets_open', { host: 'private' }), 1);
  assert.equal(
    whileOpen.value('porthole_websockets_total', { host: 'private', result: 'opened' }) - before.value('porthole_websockets_total', { host: 'private', result: 'opened' }),
    1,
  );
  const bytesBefore = whileOpen.value('porthole_http_received_bytes_total', { host: 'private' });
  ws.close();
  await new Promise((resolve) => ws.once('close', resolve));
  const closed = await scrapeUntil((s) => s.value('porthole_websockets_open', { host: 'private' }) === 0, 'the WebSocket closed');
  assert.ok(closed.value('porthole_http_received_bytes_total', { host: 'private' }) - bytesBefore >= 50_000, 'WebSocket bytes are counted when it closes');
});

/** The only values each label may take: fixed by the code, never by a client. */
const ALLOWED_LABELS: Record<string, (value: string) => boolean> = {
  host: (v) => ['private', 'share', 'other'].includes(v),
  decision: (v) => ['proxied', 'refused', 'answered', 'aborted'].includes(v),
  status: (v) => /^[1-5]\d\d$/.test(v) || v === 'none',
  reason: (v) => /^[a-z-]+$/.test(v) && v.length < 30,
  result: (v) => ['hit', 'miss', 'joined', 'opened', 'not-opened'].includes(v),
  outcome: (v) => ['right', 'link', 'passkey', 'wrong', 'expired', 'locked', 'other'].includes(v),
  type: (v) => /^[a-z]+\.[a-z-]+$/.test(v) || v === 'other',
  limit: (v) => ['request-rate', 'share-password', 'other'].includes(v),
  le: (v) => v === '+Inf' || Number.isFinite(Number(v)),
};

test('no email address, key, slug, password, code, cookie, client IP or path in the scrape; label sets stay bounded', async () => {
  assert.ok(secrets.length >= 7, 'the traffic test ran first and left its secrets');
  // Attack: many distinct hosts, paths and bogus keys. None may add a series.
  const seriesBefore = (await scrape()).families.filter((f) => f.name.startsWith('porthole_http')).reduce((n, f) => n + f.metrics.length, 0);
  for (let i = 0; i < 40; i++) {
    await gate.request('GET', `/probe-${i}-${'a'.repeat(i)}`, { host: `attacker-${i}.example` });
    await shareGet(`/share/bogus-key-${i}?x=${i}`);
    await shareGet(`/s/guess-${i}`);
  }
  const s = await scrape();
  const seriesAfter = s.families.filter((f) => f.name.startsWith('porthole_http')).reduce((n, f) => n + f.metrics.length, 0);
  assert.ok(seriesAfter - seriesBefore <= 40, `series grew from ${seriesBefore} to ${seriesAfter}`);

  for (const needle of [...secrets, '127.0.0.1', '::ffff', 'example', 'localhost', '/share', '/s/', 'bogus-key', 'guess-', 'attacker', 'probe-', '@']) {
    assert.equal(s.text.includes(needle), false, `the scrape contains "${needle}"`);
  }
  for (const family of s.families.filter((f) => f.name.startsWith('porthole_') && !f.name.startsWith('porthole_nodejs') && !f.name.startsWith('porthole_process'))) {
    for (const sample of family.metrics) {
      for (const [label, value] of Object.entries(sample.labels ?? {})) {
        const allowed = ALLOWED_LABELS[label];
        assert.ok(allowed, `${family.name} has an unexpected label ${label}`);
        assert.ok(allowed(value), `${family.name}{${label}="${value}"} is not from the fixed set`);
      }
    }
  }
  // Histogram label sets, which the parser folds together, straight from the sample lines.
  for (const line of s.text.split('\n').filter((l) => l.startsWith('porthole_http_request_duration_seconds'))) {
    for (const [, label, value] of line.matchAll(/(\w+)="([^"]*)"/g)) assert.ok(ALLOWED_LABELS[label!]?.(value!), line);
  }
});

test('the endpoint serves only GET /metrics; the gateway hosts are not reachable there', async () => {
  const port = gate.gateway.metricsPort!;
  assert.equal((await get(port, '/metrics', 'HEAD')).status, 200);
  assert.equal((await get(port, '/metrics', 'POST')).status, 405);
  assert.equal((await get(port, '/')).status, 404);
  const viaMetrics = await get(port, '/api/users/me', 'GET', { host: gate.host });
  assert.equal(viaMetrics.status, 404);
  assert.doesNotMatch(viaMetrics.body, /Sample|immich/i);
});

test('metrics.listen must be loopback unless metrics.allowNonLoopback is set; off by default', async () => {
  const base = {
    hosts: { private: 'photos.example.com' },
    origin: { url: 'http://immich:2283' },
    gate: { allow: ['a@example.com'] },
    mail: { from: 'p@example.com', transport: 'console' },
  };
  for (const listen of ['0.0.0.0:9464', '10.0.0.5:9464', '[::]:9464', '[2001:db8::1]:9464']) {
    assert.throws(
      () => parseConfig({ ...base, metrics: { listen } }),
      (e: unknown) => e instanceof ConfigError && /metrics\.listen/.test(e.message) && /allowNonLoopback/.test(e.message),
      listen,
    );
    assert.deepEqual(parseConfig({ ...base, metrics: { listen, allowNonLoopback: true } }).metrics.listen?.port, 9464, `${listen} allowed explicitly`);
  }
  for (const listen of ['localhost:9464', '127.0.0.1', '127.0.0.1:99999', 'http://127.0.0.1:9464', '::1:9464']) {
    assert.throws(
      () => parseConfig({ ...base, metrics: { listen } }),
      (e: unknown) => e instanceof ConfigError && /address:port/.test(e.message),
      listen,
    );
  }
  assert.deepEqual(parseConfig({ ...base, metrics: { listen: '127.0.0.2:9464' } }).metrics.listen, { address: '127.0.0.2', port: 9464 });
  assert.deepEqual(parseConfig({ ...base, metrics: { listen: '[::1]:9464' } }).metrics.listen, { address: '::1', port: 9464 });
  assert.equal(parseConfig(base).metrics.listen, undefined, 'off unless configured');
  assert.throws(() => parseConfig({ ...base, metrics: { listen: '127.0.0.1:9464', port: 1 } }), ConfigError, 'unknown keys are errors');

  // The endpoint itself refuses too (a config built without the schema cannot open it to the network).
  const metrics = createGatewayMetrics({ private: 'photos.example.com' });
  await assert.rejects(startMetricsServer(metrics.registry, { address: '0.0.0.0', port: 0, allowNonLoopback: false }), MetricsListenError);
  const loopback = await startMetricsServer(metrics.registry, { address: '127.0.0.1', port: 0, allowNonLoopback: false });
  assert.equal((await get(loopback.port, '/metrics')).status, 200);
  await loopback.close();
});

test('a gateway without metrics.listen opens no metrics port and records nothing', async () => {
  const plain = await startTestGate();
  try {
    assert.equal(plain.gateway.metricsPort, undefined);
    assert.equal(plain.gateway.deps.metrics, undefined);
  } finally {
    await plain.close();
  }
});

test('every metric the Grafana dashboard queries is in the scrape (tunnel ones in tunnel.test.ts)', async () => {
  const text = await scrapeText();
  const names = dashboardMetricNames().filter((name) => !name.startsWith('porthole_tunnel_'));
  assert.ok(names.length >= 10);
  for (const name of names) assert.match(text, new RegExp(`^${name}(\\{| )`, 'm'), name);
});
