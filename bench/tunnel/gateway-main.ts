// Bench gateway: the real hub and TLS listener, plus a TCP port whose every connection becomes one tunnel
// stream (the same shape as `ssh -R`), so the transport itself is what is compared. Bench-only.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createGatewayTlsServer, loadGatewayCertificate } from '../../src/tunnel/tls-listener.js';
import { createTunnelHub } from '../../src/tunnel/hub.js';
import { createTunnelToken, sqliteTunnelTokenStore, storeTokenVerifier } from '../../src/tunnel/token-store.js';
import { encodeToken } from '../../src/tunnel/token.js';
import { corkingPipe } from '../../src/proxy/cork-pipe.js';

const tlsHost = process.argv[2] ?? '127.0.0.1';
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-bench-gw-'));
const certificate = await loadGatewayCertificate({ dataDir, hostnames: ['localhost'] });
const tokens = sqliteTunnelTokenStore(new Database(':memory:'));
const hub = createTunnelHub({ verifier: storeTokenVerifier(tokens), target: { protocol: 'http:', hostname: 'origin', port: 80 } });
const tlsServer = createGatewayTlsServer({ certificate, onTunnelSocket: (s) => hub.handleSecureSocket(s), onHttpSocket: (s) => s.destroy() });
await new Promise<void>((r) => tlsServer.listen(0, tlsHost, r));
const forward = net.createServer((client) => {
  client.setNoDelay(true);
  const upstream = hub.origin.agent.createConnection({}, () => {});
  if (!upstream) return client.destroy();
  client.pipe(upstream);
  // What the gateway's proxy should do too: batch the tunnel's 16 KiB pieces into one write per tick.
  corkingPipe(upstream, client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
});
await new Promise<void>((r) => forward.listen(0, '127.0.0.1', r));
const { id, secret } = createTunnelToken(tokens, 'bench');
const tlsPort = (tlsServer.address() as net.AddressInfo).port;
process.stdout.write(
  JSON.stringify({
    tlsPort,
    port: (forward.address() as net.AddressInfo).port,
    token: encodeToken({ id, secret, gateway: `${tlsHost}:${tlsPort}`, fingerprint: certificate.fingerprint }),
  }) + '\n',
);
hub.on('connected', () => process.stdout.write(JSON.stringify({ connected: true }) + '\n'));
process.on('SIGTERM', () => {
  fs.rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
});
