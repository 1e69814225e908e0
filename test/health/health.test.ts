// Liveness and readiness on their own address: /live while the process runs, /ready only when Immich answers
// (direct mode) or a home connector is attached (tunnel mode); nothing else is answered or revealed.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { after, test } from 'node:test';
import { createTunnelToken, encodeToken, openTunnelTokenStore, runConnector } from '../../src/tunnel/index.js';
import { startTestGate, type TestGate } from '../gate/harness.js';

const gates: TestGate[] = [];
after(async () => {
  for (const g of gates) await g.close();
});

function probe(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
        let body = '';
        res
          .setEncoding('utf8')
          .on('data', (c) => (body += c))
          .on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      })
      .on('error', reject)
      .end();
  });
}

test('direct mode: live always, ready only while Immich answers, and nothing else is said', { timeout: 60_000 }, async () => {
  const gate = await startTestGate({ health: { address: '127.0.0.1', port: 0 } });
  gates.push(gate);
  const port = gate.gateway.health!.port;
  assert.notEqual(port, gate.port, 'its own port, not a path on the public hosts');

  const live = await probe(port, '/live');
  assert.equal(live.status, 200);
  assert.equal(live.body, 'ok\n');
  const ready = await probe(port, '/ready');
  assert.equal(ready.status, 200);
  assert.equal(ready.body, 'ok\n');
  assert.ok(
    gate.origin.received.some((r) => r.url === '/api/server/ping'),
    'readiness asked Immich',
  );
  assert.equal((await probe(port, '/ready', 'HEAD')).status, 200);

  // Nothing about the origin, the version or the hosts, and no other path or method.
  for (const response of [live, ready]) {
    assert.equal(response.headers.server, undefined);
    assert.equal(response.headers['x-powered-by'], undefined);
    assert.doesNotMatch(response.body, /immich|porthole|127\.0\.0\.1|version/i);
  }
  for (const [path, method] of [
    ['/', 'GET'],
    ['/api/server/ping', 'GET'],
    ['/live', 'POST'],
    ['/ready/../live', 'GET'],
    ['/metrics', 'GET'],
  ] as const) {
    const res = await probe(port, path, method);
    assert.equal(res.status, 404, `${method} ${path}`);
    assert.doesNotMatch(res.body, /immich|127\.0\.0\.1/i);
  }
  // The public hosts gain no health path.
  assert.equal((await gate.request('GET', '/ready', { host: `share.localhost:${gate.port}` })).status, 404);

  await gate.origin.close();
  const down = await probe(port, '/ready');
  assert.equal(down.status, 503);
  assert.equal(down.body, 'not ready\n');
  assert.equal((await probe(port, '/live')).status, 200, 'liveness does not depend on Immich');
});

test('tunnel mode: ready exactly while a home connector is attached', { timeout: 60_000 }, async () => {
  const gate = await startTestGate({
    listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    tunnel: { enabled: true, publicAddress: '127.0.0.1:443' },
    health: { address: '127.0.0.1', port: 0 },
  });
  gates.push(gate);
  const port = gate.gateway.health!.port;
  assert.equal((await probe(port, '/ready')).status, 503);
  assert.equal((await probe(port, '/live')).status, 200);

  const tokens = openTunnelTokenStore(gate.dataDir);
  const { id, secret } = createTunnelToken(tokens.store, 'health-home');
  tokens.close();
  const https = gate.gateway.https!;
  const connector = runConnector({
    token: encodeToken({ id, secret, gateway: `127.0.0.1:${https.port}`, fingerprint: https.certificate.fingerprint }),
    origin: new URL(gate.origin.url),
    name: 'health-home',
  });
  await once(connector, 'connected');
  assert.equal((await probe(port, '/ready')).status, 200);
  await connector.stop();
  // The gateway notices the connector leaving on its own schedule; readiness follows it.
  while (gate.gateway.deps.origin.unavailable() === null) await new Promise((r) => setTimeout(r, 50));
  assert.equal((await probe(port, '/ready')).status, 503);
});
