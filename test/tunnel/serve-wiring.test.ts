// startGatewayTunnel as `porthole serve` would use it: one HTTPS port for browsers and connectors, tokens
// in the gateway's SQLite file, the hub's Origin reaching the connector's origin.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { test } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { startGatewayTunnel, openTunnelTokenStore } from '../../src/tunnel/gateway-tunnel.js';
import { createTunnelToken } from '../../src/tunnel/token-store.js';
import { encodeToken } from '../../src/tunnel/token.js';
import { startOrigin } from './fixtures/origin.js';
import { tempDir } from './fixtures/gateway.js';
import { spawnConnector } from './fixtures/connector-process.js';
import { originRequest, readSmallBody } from '../../src/origin/request.js';

test('one HTTPS port: browsers reach the HTTP server, connectors the hub, and the origin answers through it', async () => {
  const d = tempDir();
  const origin = await startOrigin();
  const app = http.createServer((req, res) => res.end(`app saw ${req.url}`));
  const store = openSqliteStore(d.dir);
  const tunnel = await startGatewayTunnel({
    store,
    dataDir: d.dir,
    address: '127.0.0.1',
    httpsPort: 0,
    hostnames: ['photos.localhost'],
    originUrl: new URL('http://immich-server:2283'),
    onHttpSocket: (socket) => app.emit('connection', socket),
  });
  // The CLI creates the token through its own connection to the same file.
  const cli = openTunnelTokenStore(d.dir);
  const { id, secret } = createTunnelToken(cli.store, 'home');
  cli.close();
  const token = encodeToken({ id, secret, gateway: `127.0.0.1:${tunnel.httpsPort}`, fingerprint: tunnel.certificate.fingerprint });
  const connector = spawnConnector({ token, origin: origin.url.href });
  try {
    assert.equal(tunnel.origin.unavailable()?.kind, 'tunnel-offline');
    await connector.waitFor('connected');
    assert.equal(tunnel.origin.unavailable(), null);
    const answer = await originRequest(tunnel.origin, { path: '/hello', timeoutMs: 30_000 });
    const viaTunnel = (await readSmallBody(answer.body, 1024))!.toString();
    assert.equal(viaTunnel, 'hello GET immich-server:2283');
    const viaBrowser = await new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: tunnel.httpsPort, path: '/page', ca: tunnel.certificate.cert, servername: 'photos.localhost' }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
    assert.equal(viaBrowser, 'app saw /page');
  } finally {
    await connector.kill();
    app.closeAllConnections();
    await tunnel.close();
    store.close();
    await origin.close();
    d.remove();
  }
});
