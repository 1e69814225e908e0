// Load benchmark for the share host: many visitors at once open one album link, as when a link goes to every
// guest of a wedding. Each visitor has its own loopback address (127.1.x.y, so the per-address limits see
// distinct people) and one keep-alive connection, and loops: the share page, the link's /me answer, then every
// thumbnail of the album. Reports answers by status, errors, p50/p99 and the gateway's memory every second.
// Sample Immich and gateway run in child processes (this same file with --role), so the gateway's memory is its
// own. Options: --visitors N (1000) --seconds S (60) --gateways G (1).
// Several gateways act as one: they share one data folder (one SQLite file, WAL) and visitor n goes to gateway
// n mod G, as DNS round robin hands each visitor one address that its keep-alive connection then sticks to.
// Soak: BENCH_LOAD_SECONDS=1800 (or --seconds) runs as long as that; memory is sampled every second and summed up
// per stretch, with its slope over the second half. BENCH_LOAD_GATEWAYS stands for --gateways.
// --tunnel (BENCH_LOAD_TUNNEL=1): the gateways reach the sample Immich only through one connector (`porthole
// connect`, its own process) attached to every gateway, as a home behind several gateways would. Not part of `npm test`.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SHARE_HOST = 'share.localhost';
const self = fileURLToPath(import.meta.url);

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1]! : fallback;
}

/** The environment's BENCH_LOAD_<NAME> when set (npm run passes no flags without `--`), else the flag. */
function setting(name: string, fallback: string): string {
  return process.env[`BENCH_LOAD_${name.toUpperCase()}`] || arg(name, fallback);
}

interface OriginReady {
  port: number;
  key: string;
  assetIds: string[];
}
interface GatewayReady {
  port: number;
  /** With --tunnel: the HTTPS port connectors dial and the certificate they pin. */
  tlsPort?: number;
  fingerprint?: string;
}

async function runOrigin(): Promise<void> {
  const { startSampleImmich } = await import('../src/demo/sample-immich/server.js');
  const origin = await startSampleImmich();
  const link = origin.library.createLink({});
  // The recorder would grow without bound under load.
  setInterval(() => (origin.received.length = 0), 1000).unref();
  process.send!({ port: origin.port, key: link.key, assetIds: origin.library.album.assetIds } satisfies OriginReady);
  process.on('disconnect', () => void origin.close().finally(() => process.exit(0)));
}

async function runGateway(originUrl: string, dataDir: string, tunnel: boolean): Promise<void> {
  const { parseConfig } = await import('../src/config/load.js');
  const { startGateway } = await import('../src/gateway.js');
  const { silentLogger } = await import('../src/log.js');
  const { createConsoleMailer } = await import('../src/mail/console.js');
  const config = parseConfig({
    listen: { address: '127.0.0.1', httpPort: 0, ...(tunnel ? { httpsPort: 0 } : {}) },
    ...(tunnel ? { tunnel: { enabled: true } } : {}),
    hosts: { private: 'photos.localhost', share: SHARE_HOST },
    publicScheme: 'http',
    origin: { url: originUrl },
    gate: { allow: ['bench@example.com'] },
    mail: { from: 'Porthole <porthole@example.com>', transport: 'console' },
    dataDir,
  });
  const gateway = await startGateway(
    config,
    createConsoleMailer(() => {}),
    silentLogger,
  );
  process.send!({ port: gateway.httpPort, tlsPort: gateway.https?.port, fingerprint: gateway.https?.certificate.fingerprint } satisfies GatewayReady);
  process.on('disconnect', () => void gateway.close().finally(() => process.exit(0)));
}

/** The home side: one connector attached to every gateway the token names; ready once all of them welcomed it. */
async function runConnectorRole(token: string, originUrl: string, gatewayCount: number): Promise<void> {
  const { runConnector } = await import('../src/tunnel/connector.js');
  const connector = runConnector({ token, origin: new URL(originUrl), name: 'bench' });
  const welcomedBy = new Set<string>();
  connector.on('connected', (_id: string, gateway: string) => {
    welcomedBy.add(gateway);
    if (welcomedBy.size === gatewayCount) process.send!({ port: 0 });
  });
  process.on('disconnect', () => void connector.stop().finally(() => process.exit(0)));
}

function child<T>(role: string, extra: string[] = []): Promise<{ ready: T; pid: number; stop: () => void }> {
  const proc = fork(self, ['--role', role, ...extra], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    proc.once('message', (ready) => resolve({ ready: ready as T, pid: proc.pid!, stop: () => proc.connected && proc.disconnect() }));
    proc.once('exit', (code) => reject(new Error(`${role} exited early (${code})`)));
  });
}

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

const percentile = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

/** Least-squares slope of samples taken once a second, in MiB per minute. */
function slopePerMinute(samples: readonly number[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  const meanX = (n - 1) / 2;
  const meanY = samples.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  samples.forEach((y, x) => ((num += (x - meanX) * (y - meanY)), (den += (x - meanX) ** 2)));
  return (num / den) * 60;
}

/** One line per gateway: start, first and last tenth, peak; the series (per stretch when long) and its late slope. */
function memoryReport(label: string, memory: readonly number[]): string {
  const tenth = Math.max(1, Math.floor(memory.length / 10));
  const early = Math.max(...memory.slice(0, tenth + 1));
  const late = Math.max(...memory.slice(-tenth));
  const stretch = Math.max(1, Math.ceil(memory.length / 60));
  const series: string[] = [];
  for (let i = 0; i < memory.length; i += stretch) series.push(Math.max(...memory.slice(i, i + stretch)).toFixed(0));
  return (
    `${label} RSS (MiB): start ${memory[0]!.toFixed(0)}, peak ${Math.max(...memory).toFixed(0)}, peak of the first tenth ${early.toFixed(0)}, of the last tenth ${late.toFixed(0)}, ` +
    `slope over the second half ${slopePerMinute(memory.slice(Math.floor(memory.length / 2))).toFixed(2)} MiB/min\n` +
    `  peak per ${stretch} s: ${series.join(' ')}\n`
  );
}

interface Tally {
  latencies: number[];
  statuses: Map<number, number>;
  errors: Map<string, number>;
  /** Answers per gateway, to show the round robin spread the visitors. */
  perGateway: number[];
}

/** One visitor's GET; resolves with the status (body drained) or rejects with the socket error. */
function get(agent: http.Agent, port: number, localAddress: string, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: urlPath, agent, localAddress, headers: { host: SHARE_HOST, accept: urlPath.startsWith('/share/') ? 'text/html' : 'application/json' } },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
}

async function visitor(n: number, port: number, gatewayIndex: number, origin: OriginReady, until: number, tally: Tally): Promise<void> {
  const localAddress = `127.1.${n >> 8}.${n & 255}`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const paths = [`/share/${origin.key}`, `/api/shared-links/me?key=${origin.key}`, ...origin.assetIds.map((id) => `/api/assets/${id}/thumbnail?key=${origin.key}&size=thumbnail`)];
  try {
    while (Date.now() < until) {
      for (const urlPath of paths) {
        if (Date.now() >= until) break;
        const started = performance.now();
        try {
          const status = await get(agent, port, localAddress, urlPath);
          tally.latencies.push(performance.now() - started);
          tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
          tally.perGateway[gatewayIndex]!++;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code ?? String(error);
          tally.errors.set(code, (tally.errors.get(code) ?? 0) + 1);
        }
      }
    }
  } finally {
    agent.destroy();
  }
}

async function main(): Promise<void> {
  const visitors = Number(arg('visitors', '1000'));
  const seconds = Number(setting('seconds', '60'));
  const gatewayCount = Number(setting('gateways', '1'));
  const tunnel = process.argv.includes('--tunnel') || process.env.BENCH_LOAD_TUNNEL === '1';
  if (!Number.isInteger(visitors) || visitors < 1 || visitors > 65000) throw new Error('--visitors must be a whole number from 1 to 65000');
  if (!(seconds > 0)) throw new Error('--seconds (BENCH_LOAD_SECONDS) must be a positive number');
  if (!Number.isInteger(gatewayCount) || gatewayCount < 1 || gatewayCount > 8) throw new Error('--gateways (BENCH_LOAD_GATEWAYS) must be a whole number from 1 to 8');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-bench-load-'));
  const origin = await child<OriginReady>('origin');
  // One after the other: the first creates the shared file (and its schema), the others open it.
  const gateways: Array<Awaited<ReturnType<typeof child<GatewayReady>>>> = [];
  const originUrl = `http://127.0.0.1:${origin.ready.port}`;
  for (let i = 0; i < gatewayCount; i++) gateways.push(await child<GatewayReady>('gateway', ['--origin', originUrl, '--data-dir', dataDir, ...(tunnel ? ['--tunnel'] : [])]));
  let connector: Awaited<ReturnType<typeof child<GatewayReady>>> | undefined;
  if (tunnel) {
    const { openTunnelTokenStore } = await import('../src/tunnel/gateway-tunnel.js');
    const { createTunnelToken } = await import('../src/tunnel/token-store.js');
    const { encodeToken } = await import('../src/tunnel/token.js');
    const tokens = openTunnelTokenStore(dataDir);
    const { id, secret } = createTunnelToken(tokens.store, 'bench');
    tokens.close();
    const [first, ...more] = gateways.map((g) => ({ address: `127.0.0.1:${g.ready.tlsPort}`, fingerprint: g.ready.fingerprint ?? null }));
    const token = encodeToken({ id, secret, gateway: first!.address, fingerprint: first!.fingerprint, moreGateways: more });
    connector = await child<GatewayReady>('connector', ['--token', token, '--origin', originUrl, '--gateways', String(gatewayCount)]);
  }
  const watched = [...gateways, ...(connector ? [connector] : [])];
  const memory = watched.map((g) => [rssMiB(g.pid)]);
  const sampler = setInterval(() => watched.forEach((g, i) => memory[i]!.push(rssMiB(g.pid))), 1000);
  const tally: Tally = { latencies: [], statuses: new Map(), errors: new Map(), perGateway: gateways.map(() => 0) };
  const loadBefore = os.loadavg();
  try {
    const until = Date.now() + seconds * 1000;
    await Promise.all(Array.from({ length: visitors }, (_, n) => visitor(n, gateways[n % gatewayCount]!.ready.port, n % gatewayCount, origin.ready, until, tally)));
  } finally {
    clearInterval(sampler);
    for (const g of watched) g.stop();
    origin.stop();
  }
  const loadAfter = os.loadavg();
  const sorted = Float64Array.from(tally.latencies).sort();
  const answers = [...tally.statuses].sort(([a], [b]) => a - b);
  const failed = [...tally.statuses].filter(([status]) => status >= 400).reduce((sum, [, count]) => sum + count, 0);
  const errors = [...tally.errors.values()].reduce((sum, count) => sum + count, 0);
  const which =
    (gatewayCount === 1 ? 'one gateway' : `${gatewayCount} gateways on one data folder, visitors in turn`) +
    (tunnel ? ', Immich reached through one connector attached to every gateway' : '');
  process.stdout.write(`\nShare host under load: ${visitors} visitors, ${seconds} s, ${which}, ${os.cpus().length} cores, Node ${process.version}\n`);
  process.stdout.write(`load average (1 min) before ${loadBefore[0]!.toFixed(1)}, after ${loadAfter[0]!.toFixed(1)} (other work on the same machine included)\n`);
  process.stdout.write(
    `answers: ${answers.map(([status, count]) => `${status} x ${count}`).join(', ')}; socket errors: ${errors ? [...tally.errors].map(([code, count]) => `${code} x ${count}`).join(', ') : 'none'}\n`,
  );
  if (gatewayCount > 1) process.stdout.write(`answers per gateway: ${tally.perGateway.join(' / ')}\n`);
  process.stdout.write(`requests/s: ${Math.round(sorted.length / seconds)}; p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p99 ${percentile(sorted, 0.99).toFixed(1)} ms\n`);
  memory.forEach((m, i) => process.stdout.write(memoryReport(i === gatewayCount ? 'connector' : gatewayCount === 1 ? 'gateway' : `gateway ${i + 1}`, m)));
  fs.rmSync(dataDir, { recursive: true, force: true });
  if (failed > 0 || errors > 0) {
    process.stdout.write(`FAILED: ${failed} answers of 400 or more, ${errors} socket errors\n`);
    process.exitCode = 1;
  }
}

const role = arg('role', 'main');
if (role === 'origin') await runOrigin();
else if (role === 'gateway') await runGateway(arg('origin', ''), arg('data-dir', ''), process.argv.includes('--tunnel'));
else if (role === 'connector') await runConnectorRole(arg('token', ''), arg('origin', ''), Number(arg('gateways', '1')));
else await main();
