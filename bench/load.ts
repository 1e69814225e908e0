// Load benchmark for the share host: many visitors at once open one album link, as when a link goes to every
// guest of a wedding. Each visitor has its own loopback address (127.1.x.y, so the per-address limits see
// distinct people) and one keep-alive connection, and loops: the share page, the link's /me answer, then every
// thumbnail of the album. Reports answers by status, errors, p50/p99 and the gateway's memory every second.
// A failed request is listed by kind, gateway and status (with the start of the body) or socket error (whether
// its connection was kept alive, how long it had waited), next to every process's worst timer lateness per
// second: a reset after a stall of the gateway, or at once after a stall of this load generator, is the
// keep-alive timeout's race, not a refusal.
// Sample Immich and gateway run in child processes (this same file with --role), so the gateway's memory is its
// own. Options: --visitors N (1000) --seconds S (60) --gateways G (1) --store sqlite|redis (sqlite).
// Several gateways act as one: visitor n goes to gateway n mod G, as DNS round robin hands each visitor one
// address that its keep-alive connection then sticks to. Where their shared state lives:
// - sqlite (the default): they share one data folder (one SQLite file, WAL);
// - redis (--store redis, BENCH_LOAD_STORE=redis): each has a data folder of its own and all of them use one
//   redis-server (Debian's /usr/bin/redis-server) that the benchmark starts on a free loopback port with no
//   persistence, in a temp folder, and stops by its PID at the end. Its memory is sampled with the gateways', so
//   a soak shows whether the shared state grows.
// Soak: BENCH_LOAD_SECONDS=1800 (or --seconds) runs as long as that; memory is sampled every second and summed up
// per stretch, with its slope over the second half. BENCH_LOAD_GATEWAYS stands for --gateways.
// --tunnel (BENCH_LOAD_TUNNEL=1): the gateways reach the sample Immich only through one connector (`porthole
// connect`, its own process) attached to every gateway, as a home behind several gateways would. Not part of `npm test`.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from './lib/ports.js';

const SHARE_HOST = 'share.localhost';
const REDIS_SERVER = '/usr/bin/redis-server';
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

/** A child's worst event-loop delay of each second, sent to the parent (a stalled loop reports it when it runs again). */
interface LoopDelay {
  loopMaxMs: number;
}

/**
 * Tells the parent, once a second, how late this process's timers ran at worst: a loop that stalls for longer
 * than the keep-alive timeout fires its idle timers before it reads requests that arrived meanwhile. Measured
 * as a 100 ms tick's lateness, not with monitorEventLoopDelay, which misses a process that got no CPU at all
 * (its histogram did not see a 3 s SIGSTOP while other timers were pending).
 */
function reportLoopDelay(send: (m: LoopDelay) => void): void {
  const TICK_MS = 100;
  let last = performance.now();
  let worst = 0;
  setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - TICK_MS);
    last = now;
  }, TICK_MS).unref();
  setInterval(() => {
    send({ loopMaxMs: worst });
    worst = 0;
  }, 1000).unref();
}

async function runOrigin(): Promise<void> {
  const { startSampleImmich } = await import('../src/demo/sample-immich/server.js');
  const origin = await startSampleImmich();
  const link = origin.library.createLink({});
  // The recorder would grow without bound under load.
  setInterval(() => (origin.received.length = 0), 1000).unref();
  process.send!({ port: origin.port, key: link.key, assetIds: origin.library.album.assetIds } satisfies OriginReady);
  reportLoopDelay((m) => process.connected && process.send!(m));
  process.on('disconnect', () => void origin.close().finally(() => process.exit(0)));
}

/** redisUrl: the state lives in that Redis (store.kind: redis); without it, in dataDir's SQLite file. */
async function runGateway(originUrl: string, dataDir: string, tunnel: boolean, redisUrl: string): Promise<void> {
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
    ...(redisUrl ? { store: { kind: 'redis', url: redisUrl } } : {}),
  });
  const gateway = await startGateway(
    config,
    createConsoleMailer(() => {}),
    silentLogger,
  );
  process.send!({ port: gateway.httpPort, tlsPort: gateway.https?.port, fingerprint: gateway.https?.certificate.fingerprint } satisfies GatewayReady);
  reportLoopDelay((m) => process.connected && process.send!(m));
  process.on('disconnect', () => void gateway.close().finally(() => process.exit(0)));
}

/** The home side: one connector attached to every gateway the token names; ready once all of them welcomed it. */
async function runConnectorRole(token: string, originUrl: string, gatewayCount: number): Promise<void> {
  const { runConnector } = await import('../src/tunnel/connector.js');
  const connector = runConnector({ token, origin: new URL(originUrl), name: 'bench' });
  const welcomedBy = new Set<string>();
  let ready = false;
  connector.on('connected', (_id: string, gateway: string) => {
    welcomedBy.add(gateway);
    if (!ready && welcomedBy.size === gatewayCount) {
      ready = true;
      process.send!({ port: 0 });
      reportLoopDelay((m) => process.connected && process.send!(m));
    }
  });
  process.on('disconnect', () => void connector.stop().finally(() => process.exit(0)));
}

interface RedisServer {
  url: string;
  port: number;
  pid: number;
  /** used_memory (MiB) and the number of keys, as Redis itself counts them. */
  info(): Promise<{ usedMiB: number; keys: number }>;
  stop(): Promise<void>;
  /** SIGTERM by PID at once, for an interrupted run (its temp folder stays). */
  stopNow(): void;
}

/** One redis-server for this run: loopback only, nothing saved to disk (the state is the run's own). */
async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-bench-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'];
  const proc: ChildProcess = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const running = () => proc.exitCode === null && proc.signalCode === null;
  const stopNow = () => {
    if (running()) process.kill(proc.pid!, 'SIGTERM');
  };
  const stop = async () => {
    if (running()) {
      stopNow();
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, proc, 'redis-server');
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, port, pid: proc.pid!, info: () => redisInfo(port), stop, stopNow };
}

/** INFO memory and DBSIZE over the inline protocol: two numbers do not need a client. */
function redisInfo(port: number): Promise<{ usedMiB: number; keys: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('INFO memory\r\nDBSIZE\r\nQUIT\r\n'));
    let reply = '';
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString()));
    socket.once('error', reject);
    socket.once('close', () => {
      const used = /used_memory:(\d+)/.exec(reply);
      const keys = /\r\n:(\d+)\r\n/.exec(reply);
      if (!used || !keys) return reject(new Error(`unexpected answer from redis-server: ${reply.slice(0, 200)}`));
      resolve({ usedMiB: Number(used[1]) / 1024 / 1024, keys: Number(keys[1]) });
    });
  });
}

/** loopMaxMs: the worst event-loop delay of each second since ready. */
type Child<T> = { ready: T; pid: number; loopMaxMs: number[]; stop: () => Promise<void> };

/** stop() waits for the child to exit (killing it by PID after 10 s), so Redis is stopped only once no gateway uses it. */
function child<T>(role: string, extra: string[] = []): Promise<Child<T>> {
  const proc = fork(self, ['--role', role, ...extra], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    if (proc.connected) proc.disconnect();
    const late = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(late);
  };
  const loopMaxMs: number[] = [];
  proc.on('message', (m) => typeof (m as Partial<LoopDelay>).loopMaxMs === 'number' && loopMaxMs.push((m as LoopDelay).loopMaxMs));
  return new Promise((resolve, reject) => {
    proc.once('message', (ready) => resolve({ ready: ready as T, pid: proc.pid!, loopMaxMs, stop }));
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

/** The worst delay of each second: its median, its max, and how many seconds held a stall past the keep-alive timeout. */
function loopReport(perSecond: readonly number[]): string {
  if (perSecond.length === 0) return 'no samples';
  const sorted = Float64Array.from(perSecond).sort();
  const stalls = perSecond.filter((ms) => ms >= 5000).length;
  return `${percentile(sorted, 0.5).toFixed(0)} / ${sorted[sorted.length - 1]!.toFixed(0)} ms; ${stalls}`;
}

interface Tally {
  latencies: number[];
  statuses: Map<number, number>;
  errors: Map<string, number>;
  /** Answers per gateway, to show the round robin spread the visitors. */
  perGateway: number[];
  /** What failed, by request kind, gateway and status or socket error: enough to tell a defect from a starved client. */
  failures: Map<string, Failure>;
  startedAt: number;
}

interface Failure {
  count: number;
  firstAtSecond: number;
  /** The start of the first refusal's body. */
  body?: string;
  /** Socket errors on a kept-alive connection (not its first request), and how long each request had waited. */
  reused: number;
  waitedMs: number[];
}

/** What a visitor's request is for, in the failure report. */
const kindOf = (urlPath: string) => (urlPath.startsWith('/share/') ? 'share page' : urlPath.includes('/thumbnail') ? 'thumbnail' : '/me');

/** One visitor's GET; resolves with the status and, for a refusal, the start of its body; rejects with the socket error. */
function get(agent: http.Agent, port: number, localAddress: string, urlPath: string): Promise<{ status: number; body?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: urlPath, agent, localAddress, headers: { host: SHARE_HOST, accept: urlPath.startsWith('/share/') ? 'text/html' : 'application/json' } },
      (res) => {
        const status = res.statusCode ?? 0;
        let body = '';
        res.on('data', (chunk: Buffer) => {
          if (status >= 400 && body.length < 300) body += chunk.toString('utf8', 0, 300);
        });
        res.on('end', () => resolve(status >= 400 ? { status, body: body.slice(0, 300).replace(/\s+/g, ' ') } : { status }));
        res.on('error', reject);
      },
    );
    // Whether the connection had served a request before: a reset there is the keep-alive race's signature.
    req.on('error', (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
  });
}

function noteFailure(tally: Tally, what: string, details: { body?: string; reused?: boolean; waitedMs?: number }): void {
  let seen = tally.failures.get(what);
  if (!seen) tally.failures.set(what, (seen = { count: 0, firstAtSecond: Math.round((Date.now() - tally.startedAt) / 1000), body: details.body, reused: 0, waitedMs: [] }));
  seen.count++;
  if (details.reused) seen.reused++;
  if (details.waitedMs !== undefined && seen.waitedMs.length < 100_000) seen.waitedMs.push(details.waitedMs);
}

function describeFailure(what: string, failure: Failure): string {
  let line = `  ${what} x ${failure.count}, first at ${failure.firstAtSecond} s`;
  if (failure.body) line += `: ${failure.body}`;
  if (failure.waitedMs.length > 0) {
    const waits = Float64Array.from(failure.waitedMs).sort();
    line += `; ${failure.reused} on a kept-alive connection; after ${(waits[0]! / 1000).toFixed(1)} / ${(percentile(waits, 0.5) / 1000).toFixed(1)} / ${(waits[waits.length - 1]! / 1000).toFixed(1)} s (min / median / max)`;
  }
  return line + '\n';
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
          const { status, body } = await get(agent, port, localAddress, urlPath);
          tally.latencies.push(performance.now() - started);
          tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
          tally.perGateway[gatewayIndex]!++;
          if (status >= 400) noteFailure(tally, `${kindOf(urlPath)} on gateway ${gatewayIndex + 1}: ${status}`, { body });
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code ?? String(error);
          tally.errors.set(code, (tally.errors.get(code) ?? 0) + 1);
          const reused = (error as { reusedSocket?: boolean }).reusedSocket === true;
          noteFailure(tally, `${kindOf(urlPath)} on gateway ${gatewayIndex + 1}: ${code}`, { reused, waitedMs: performance.now() - started });
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
  const storeKind = setting('store', 'sqlite');
  const tunnel = process.argv.includes('--tunnel') || process.env.BENCH_LOAD_TUNNEL === '1';
  if (!Number.isInteger(visitors) || visitors < 1 || visitors > 65000) throw new Error('--visitors must be a whole number from 1 to 65000');
  if (!(seconds > 0)) throw new Error('--seconds (BENCH_LOAD_SECONDS) must be a positive number');
  if (!Number.isInteger(gatewayCount) || gatewayCount < 1 || gatewayCount > 8) throw new Error('--gateways (BENCH_LOAD_GATEWAYS) must be a whole number from 1 to 8');
  if (storeKind !== 'sqlite' && storeKind !== 'redis') throw new Error('--store (BENCH_LOAD_STORE) must be sqlite or redis');
  if (storeKind === 'redis' && !fs.existsSync(REDIS_SERVER)) {
    process.stderr.write(`${REDIS_SERVER} is missing (--store redis runs its own): install it with \`apt-get install redis-server\` and run the benchmark again\n`);
    process.exitCode = 1;
    return;
  }
  const redis = storeKind === 'redis' ? await startRedis() : undefined;
  // Interrupted (Ctrl-C, a kill by PID): the gateways exit when their IPC channel closes, the redis-server would not.
  const interrupted = () => {
    redis?.stopNow();
    process.exit(130);
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  // On SQLite the gateways share this folder; on Redis each gets a folder of its own below it, so Redis is the
  // only state they share (as on separate machines).
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-bench-load-'));
  try {
    await run({ visitors, seconds, gatewayCount, tunnel, redis, dataDir });
  } finally {
    await redis?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

interface RunOptions {
  visitors: number;
  seconds: number;
  gatewayCount: number;
  tunnel: boolean;
  /** Where the gateways keep their state; without it, one SQLite file in a shared data folder. */
  redis?: RedisServer;
  dataDir: string;
}

async function run({ visitors, seconds, gatewayCount, tunnel, redis, dataDir }: RunOptions): Promise<void> {
  const gatewayDir = (i: number) => {
    if (!redis) return dataDir;
    const own = path.join(dataDir, `gateway-${i + 1}`);
    fs.mkdirSync(own);
    return own;
  };
  const origin = await child<OriginReady>('origin');
  // One after the other: on SQLite the first creates the shared file (and its schema), the others open it.
  const gateways: Array<Child<GatewayReady>> = [];
  const originUrl = `http://127.0.0.1:${origin.ready.port}`;
  let connector: Child<GatewayReady> | undefined;
  try {
    for (let i = 0; i < gatewayCount; i++) {
      const extra = ['--origin', originUrl, '--data-dir', gatewayDir(i), ...(redis ? ['--redis', redis.url] : []), ...(tunnel ? ['--tunnel'] : [])];
      gateways.push(await child<GatewayReady>('gateway', extra));
    }
    if (tunnel) connector = await startConnector(gateways, originUrl, dataDir, redis);
  } catch (error) {
    await Promise.all([...gateways, origin].map((c) => c.stop()));
    throw error;
  }
  const watched = [...gateways.map((g, i) => ({ label: gatewayCount === 1 ? 'gateway' : `gateway ${i + 1}`, pid: g.pid }))];
  if (connector) watched.push({ label: 'connector', pid: connector.pid });
  if (redis) watched.push({ label: 'redis-server', pid: redis.pid });
  const memory = watched.map((w) => [rssMiB(w.pid)]);
  // Event-loop delay of every Node process in the run, from here on: the load generator's own, sampled like theirs.
  const loops = [
    ...gateways.map((g, i) => ({ label: watched[i]!.label, child: g })),
    ...(connector ? [{ label: 'connector', child: connector }] : []),
    { label: 'sample Immich', child: origin },
  ].map(({ label, child }) => ({ label, series: child.loopMaxMs, from: child.loopMaxMs.length }));
  const ownLoop: number[] = [];
  reportLoopDelay((m) => ownLoop.push(m.loopMaxMs));
  loops.push({ label: 'load generator', series: ownLoop, from: 0 });
  const gone = new Set<string>();
  const sampler = setInterval(
    () =>
      watched.forEach((w, i) => {
        try {
          memory[i]!.push(rssMiB(w.pid));
        } catch {
          gone.add(w.label); // exited mid-run: said below, and its visitors' errors are counted
        }
      }),
    1000,
  );
  const tally: Tally = { latencies: [], statuses: new Map(), errors: new Map(), perGateway: gateways.map(() => 0), failures: new Map(), startedAt: Date.now() };
  const loadBefore = os.loadavg();
  let redisAfter: { usedMiB: number; keys: number } | undefined;
  try {
    const until = Date.now() + seconds * 1000;
    await Promise.all(Array.from({ length: visitors }, (_, n) => visitor(n, gateways[n % gatewayCount]!.ready.port, n % gatewayCount, origin.ready, until, tally)));
    // A redis-server that died mid-run shows in the answers and its memory series; the report still comes.
    redisAfter = await redis?.info().catch(() => undefined);
  } finally {
    clearInterval(sampler);
    await Promise.all([...gateways, ...(connector ? [connector] : []), origin].map((c) => c.stop()));
  }
  const loadAfter = os.loadavg();
  const sorted = Float64Array.from(tally.latencies).sort();
  const answers = [...tally.statuses].sort(([a], [b]) => a - b);
  const failed = [...tally.statuses].filter(([status]) => status >= 400).reduce((sum, [, count]) => sum + count, 0);
  const errors = [...tally.errors.values()].reduce((sum, count) => sum + count, 0);
  const shared = redis ? 'one redis-server' : 'one data folder';
  const which =
    (gatewayCount === 1 ? `one gateway on ${shared}` : `${gatewayCount} gateways on ${shared}, visitors in turn`) +
    (tunnel ? ', Immich reached through one connector attached to every gateway' : '');
  process.stdout.write(`\nShare host under load: ${visitors} visitors, ${seconds} s, ${which}, ${os.cpus().length} cores, Node ${process.version}\n`);
  process.stdout.write(`load average (1 min) before ${loadBefore[0]!.toFixed(1)}, after ${loadAfter[0]!.toFixed(1)} (other work on the same machine included)\n`);
  process.stdout.write(
    `answers: ${answers.map(([status, count]) => `${status} x ${count}`).join(', ')}; socket errors: ${errors ? [...tally.errors].map(([code, count]) => `${code} x ${count}`).join(', ') : 'none'}\n`,
  );
  if (gatewayCount > 1) process.stdout.write(`answers per gateway: ${tally.perGateway.join(' / ')}\n`);
  process.stdout.write(`requests/s: ${Math.round(sorted.length / seconds)}; p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p99 ${percentile(sorted, 0.99).toFixed(1)} ms\n`);
  memory.forEach((m, i) => process.stdout.write(memoryReport(watched[i]!.label, m)));
  process.stdout.write(`event-loop delay, worst of each second (median / max; seconds over the 5 s keep-alive timeout):\n`);
  for (const loop of loops) process.stdout.write(`  ${loop.label}: ${loopReport(loop.series.slice(loop.from))}\n`);
  if (gone.size > 0) process.stdout.write(`exited during the run: ${[...gone].join(', ')}\n`);
  if (redis)
    process.stdout.write(
      redisAfter ? `redis-server at the end: used_memory ${redisAfter.usedMiB.toFixed(1)} MiB, ${redisAfter.keys} keys\n` : 'redis-server did not answer at the end\n',
    );
  if (failed > 0 || errors > 0 || gone.size > 0) {
    process.stdout.write(`FAILED: ${failed} answers of 400 or more, ${errors} socket errors${gone.size ? `, ${[...gone].join(', ')} exited` : ''}\n`);
    for (const [what, failure] of tally.failures) process.stdout.write(describeFailure(what, failure));
    process.exitCode = 1;
  }
}

/** One connector attached to every gateway, with a token made in the store they share. */
async function startConnector(gateways: Array<Child<GatewayReady>>, originUrl: string, dataDir: string, redis?: RedisServer): Promise<Child<GatewayReady>> {
  const { createTunnelToken } = await import('../src/tunnel/token-store.js');
  const { encodeToken } = await import('../src/tunnel/token.js');
  let made: { id: string; secret: string };
  if (redis) {
    const { openRedisStore } = await import('../src/store/redis/index.js');
    const store = await openRedisStore({ url: redis.url });
    made = createTunnelToken(store.tunnelTokens, 'bench');
    await store.closeAsync();
  } else {
    const { openTunnelTokenStore } = await import('../src/tunnel/gateway-tunnel.js');
    const tokens = openTunnelTokenStore(dataDir);
    made = createTunnelToken(tokens.store, 'bench');
    tokens.close();
  }
  const [first, ...more] = gateways.map((g) => ({ address: `127.0.0.1:${g.ready.tlsPort}`, fingerprint: g.ready.fingerprint ?? null }));
  const token = encodeToken({ id: made.id, secret: made.secret, gateway: first!.address, fingerprint: first!.fingerprint, moreGateways: more });
  return child<GatewayReady>('connector', ['--token', token, '--origin', originUrl, '--gateways', String(gateways.length)]);
}

const role = arg('role', 'main');
if (role === 'origin') await runOrigin();
else if (role === 'gateway') await runGateway(arg('origin', ''), arg('data-dir', ''), process.argv.includes('--tunnel'), arg('redis', ''));
else if (role === 'connector') await runConnectorRole(arg('token', ''), arg('origin', ''), Number(arg('gateways', '1')));
else await main();
