// Tunnel metrics with the real home connector (`porthole connect` in its own process): connector state while
// offline, attached and gone again, streams and bytes through the tunnel, and neither the connector's name nor
// its address in the scrape.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { after, before, test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { createTunnelToken, encodeToken, openTunnelTokenStore } from '../../src/tunnel/index.js';
import { startTestGate, SHARE_HOST, type TestGate } from '../gate/harness.js';
import { dashboardMetricNames } from './dashboard.js';

let gate: TestGate;
let connector: ChildProcess | undefined;
let token: string;
const CONNECTOR_NAME = 'grandmas-basement-nas';

before(async () => {
  gate = await startTestGate({
    listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    tunnel: { enabled: true, publicAddress: '127.0.0.1:443' },
    metrics: { listen: '127.0.0.1:0' },
  });
  const tokens = openTunnelTokenStore(gate.dataDir);
  const { id, secret } = createTunnelToken(tokens.store, CONNECTOR_NAME);
  tokens.close();
  const { port, certificate } = gate.gateway.https!;
  token = encodeToken({ id, secret, gateway: `127.0.0.1:${port}`, fingerprint: certificate.fingerprint });
});

after(async () => {
  // A connector killed by a signal has signalCode set and exitCode null: it is gone already.
  if (connector && connector.exitCode === null && connector.signalCode === null) {
    connector.kill('SIGKILL');
    await new Promise((resolve) => connector!.once('exit', resolve));
  }
  await gate.close();
});

function scrapeText(): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: gate.gateway.metricsPort!, path: '/metrics', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** Every porthole_tunnel_* value, by name, read with the text-format parser. */
async function tunnelValues(): Promise<{ text: string; values: Record<string, number> }> {
  const text = await scrapeText();
  const families = parsePrometheusTextFormat(text) as Array<{ name: string; metrics: Array<{ value: string }> }>;
  const values: Record<string, number> = {};
  for (const f of families) if (f.name.startsWith('porthole_tunnel_')) values[f.name] = Number(f.metrics[0]!.value);
  return { text, values };
}

async function until(check: (values: Record<string, number>) => boolean, what: string): Promise<Record<string, number>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { values } = await tunnelValues();
    if (check(values)) return values;
    if (Date.now() > deadline) throw new Error(`metrics never showed ${what}: ${JSON.stringify(values)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('connector state, streams and bytes follow the tunnel; no connector name or address in the scrape', async () => {
  const offline = (await tunnelValues()).values;
  assert.equal(offline.porthole_tunnel_up, 0);
  assert.equal(offline.porthole_tunnel_connectors, 0);
  assert.equal(offline.porthole_tunnel_streams_total, 0);
  assert.equal((await gate.request('GET', '/api/server/config', { host: `${SHARE_HOST}:${gate.port}` })).status, 503);
  assert.match(await scrapeText(), /porthole_http_refusals_total\{host="share",reason="tunnel-offline"\} 1/);

  connector = spawn(process.execPath, ['bin/porthole.js', 'connect', '--origin', gate.origin.url, '--name', CONNECTOR_NAME], {
    env: { ...process.env, PORTHOLE_TUNNEL_TOKEN: token },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  connector.stderr!.resume();
  const up = await until((v) => v.porthole_tunnel_up === 1, 'the connector attached');
  assert.equal(up.porthole_tunnel_connectors, 1);
  assert.equal(up.porthole_tunnel_offline_since_seconds, 0);

  for (let i = 0; i < 5; i++) assert.equal((await gate.request('GET', '/api/server/config', { host: `${SHARE_HOST}:${gate.port}` })).status, 200);
  const { text, values } = await tunnelValues();
  // A stream carries one pooled connection to Immich, reused by many requests: at least one was opened.
  assert.ok(values.porthole_tunnel_streams_total! > up.porthole_tunnel_streams_total!, `streams counted: ${JSON.stringify(values)}`);
  assert.ok(values.porthole_tunnel_streams_open! >= 0 && values.porthole_tunnel_streams_open! <= values.porthole_tunnel_streams_total!);
  assert.ok(values.porthole_tunnel_sent_bytes_total! > up.porthole_tunnel_sent_bytes_total!, 'requests went out through the tunnel');
  assert.ok(values.porthole_tunnel_received_bytes_total! > up.porthole_tunnel_received_bytes_total!, 'answers came back');
  for (const name of dashboardMetricNames().filter((n) => n.startsWith('porthole_tunnel_'))) assert.ok(name in values, `the dashboard's ${name} is in the scrape`);
  for (const needle of [CONNECTOR_NAME, '127.0.0.1', 'example']) assert.equal(text.includes(needle), false, needle);

  connector.kill('SIGKILL');
  await new Promise((resolve) => connector!.once('exit', resolve));
  const down = await until((v) => v.porthole_tunnel_up === 0, 'the connector gone');
  assert.equal(down.porthole_tunnel_connectors, 0);
  assert.ok(down.porthole_tunnel_offline_since_seconds! > Date.now() / 1000 - 600, 'offline since a moment ago');
  assert.ok(down.porthole_tunnel_streams_total! >= values.porthole_tunnel_streams_total!, 'the total never goes back');
});
