// Bench gateway: the real hub and TLS listener from the compiled build (as `porthole serve` runs them: plain
// node, no TypeScript loader), plus a TCP port whose every connection becomes one tunnel stream (the same shape
// as `ssh -R`), so the transport itself is what is compared. PORTHOLE_BENCH_DIST picks another build (for
// before/after runs). Bench-only.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = process.env.PORTHOLE_BENCH_DIST ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');
const load = (module) => import(pathToFileURL(path.join(dist, 'src', module)).href);
const { createGatewayTlsServer, loadGatewayCertificate } = await load('tunnel/tls-listener.js');
const { createTunnelHub } = await load('tunnel/hub.js');
const tokenModule = await load('tunnel/token-store.js');
const { createTunnelToken, storeTokenVerifier } = tokenModule;
const { openSqliteStore } = await load('store/sqlite.js');
const { encodeToken } = await load('tunnel/token.js');
// Older builds (before/after runs) kept the pipe under proxy/ and handed out streams through an http.Agent.
const { corkingPipe } = await load('tunnel/cork-pipe.js').catch(() => load('proxy/cork-pipe.js'));

const tlsHost = process.argv[2] ?? '127.0.0.1';
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-bench-gw-'));
const certificate = await loadGatewayCertificate({ dataDir, hostnames: ['localhost'] });
// Tunnel tokens live in the main store; builds from before that (before/after runs) kept their own table.
const store = openSqliteStore(':memory:');
const tokens = store.tunnelTokens ?? tokenModule.sqliteTunnelTokenStore(new (await import('better-sqlite3')).default(':memory:'));
// The hub's warnings (a connector lost, and why) go to stderr, where the bench shows them if an end dies.
const logLine = (level) => (obj, msg) => process.stderr.write(`${new Date().toISOString()} ${level} ${msg} ${JSON.stringify(obj)}\n`);
const logger = { info: logLine('info'), warn: logLine('warn') };
const hub = createTunnelHub({ verifier: storeTokenVerifier(tokens), target: { protocol: 'http:', hostname: 'origin', port: 80 }, logger });
const tlsServer = createGatewayTlsServer({ certificate, onTunnelSocket: (s) => hub.handleSecureSocket(s), onHttpSocket: (s) => s.destroy() });
await new Promise((r) => tlsServer.listen(0, tlsHost, r));
const forward = net.createServer((client) => {
  client.setNoDelay(true);
  const upstream = hub.origin.pool ? hub.origin.pool.openRaw() : hub.origin.agent.createConnection({}, () => {});
  if (!upstream) return client.destroy();
  client.pipe(upstream);
  // What the gateway's proxy should do too: batch the tunnel's 16 KiB pieces into one write per tick.
  corkingPipe(upstream, client);
  // As the origin pool closes its streams (builds from before closeRaw reset them).
  const closeUpstream = () => (hub.origin.pool?.closeRaw ? hub.origin.pool.closeRaw(upstream, 'abort') : upstream.destroy());
  client.on('error', closeUpstream);
  upstream.on('error', () => client.destroy());
  client.on('close', closeUpstream);
});
await new Promise((r) => forward.listen(0, '127.0.0.1', r));
const { id, secret } = createTunnelToken(tokens, 'bench');
const tlsPort = tlsServer.address().port;
process.stdout.write(
  JSON.stringify({
    tlsPort,
    port: forward.address().port,
    token: encodeToken({ id, secret, gateway: `${tlsHost}:${tlsPort}`, fingerprint: certificate.fingerprint }),
  }) + '\n',
);
hub.on('connected', () => process.stdout.write(JSON.stringify({ connected: true }) + '\n'));
process.on('SIGTERM', () => {
  fs.rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
});
