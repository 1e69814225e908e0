// Small requests to the compiled gateway over HTTP/2 and HTTP/1.1 TLS, for profiling and for before/after
// comparisons (issue 11): the share-link thumbnail of bench/first-screen.ts, 64 in flight (h2-load: 4 sessions x
// 16 streams; wrk: 64 connections), against the sample Immich in a process of its own.
//   --gateway NAME=PATH  a compiled tls-gateway-process.js (repeatable; default: this tree's dist-bench build)
//   --leg h2|h1tls|h1    the legs (repeatable; default h2 and h1tls)
//   --node-flag F        a node option for the gateway processes (repeatable), e.g. --node-flag --trace-gc
//   --caddy              caddy (bench/lib/caddy.ts) as one more proxy, the HTTP/2 reference
//   --inflight N         requests in flight (default 64: 4 sessions x 16 streams, 64 wrk connections)
//   --rate R             HTTP/2 legs at a fixed R requests/s (h2-load's open-loop pace), for CPU per request
//                        at equal throughput; absent: as fast as 64 in flight allow (closed loop, as the bench)
//   --rounds N --seconds S --warmup S
//   --profile DIR        instead of rounds: one profiled window of S seconds per gateway and leg, after the
//                        warm-up, written to DIR/<gateway>-<leg>.cpuprofile and summarized (bench/cpuprofile-summary.ts)
// Rounds interleave gateways and legs (the order rotates each round) and report medians: the cores are shared.
// The load client's own CPU per request is shown too (h2-load runs in this process; wrk in its own): a client
// that needs more CPU per answer slows every leg on these shared cores.
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMicrosOf } from '../test/proxy/spawn-gateway.js';
import { startCaddy } from './lib/caddy.js';
import { formatSummary, summarize, type CpuProfile } from './cpuprofile-summary.js';
import { runH2Load } from './lib/h2-load.js';
import type { TlsGatewayReady } from './lib/tls-gateway-process.js';
import { runWrk } from './lib/wrk.js';
import { runAlbumOrigin, type AlbumOriginReady } from './lib/album-origin.js';

const SHARE_HOST = 'share.localhost';
const self = fileURLToPath(import.meta.url);
const hook = fileURLToPath(new URL('./lib/cpu-profile-hook.mjs', import.meta.url));
const defaultGateway = fileURLToPath(new URL('../dist-bench/bench/lib/tls-gateway-process.js', import.meta.url));

const argv = process.argv.slice(2);
function all(name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) if (argv[i] === `--${name}`) out.push(argv[i + 1]!);
  return out;
}
const one = (name: string, fallback: string) => all(name)[0] ?? fallback;
const ROUNDS = Number(one('rounds', '5'));
const SECONDS = Number(one('seconds', '8'));
const WARMUP = Number(one('warmup', '3'));
const INFLIGHT = Number(one('inflight', '64'));
const SESSIONS = Math.min(4, INFLIGHT);
const RATE = all('rate')[0] ? Number(all('rate')[0]) : undefined;
const PROFILE_DIR = all('profile')[0];
const LEGS = (all('leg').length ? all('leg') : ['h2', 'h1tls']) as Array<'h2' | 'h1tls' | 'h1'>;
const GATEWAYS = (all('gateway').length ? all('gateway') : [`this=${defaultGateway}`]).map((spec) => {
  const at = spec.indexOf('=');
  return { name: spec.slice(0, at), script: path.resolve(spec.slice(at + 1)) };
});

function firstMessage<T>(proc: ChildProcess, name: string, accept: (m: unknown) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (!accept(m)) return;
      proc.off('message', onMessage);
      proc.off('exit', onExit);
      resolve(m as T);
    };
    const onExit = (code: number | null) => reject(new Error(`${name} exited (${code})`));
    proc.on('message', onMessage);
    proc.once('exit', onExit);
  });
}

function stop(proc: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (proc.exitCode !== null || !proc.connected) return done();
    proc.once('exit', () => done());
    proc.disconnect();
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Gateway {
  name: string;
  pid: number;
  /** Absent for caddy (not profiled). */
  proc?: ChildProcess;
  ready: TlsGatewayReady;
}

async function main(): Promise<void> {
  const stops: Array<() => Promise<void>> = [];
  const loadBefore = os.loadavg()[0]!;
  try {
    const originProc = fork(self, ['--role', 'origin'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    stops.push(() => stop(originProc));
    const origin = await firstMessage<AlbumOriginReady>(originProc, 'sample Immich');
    const gateways: Gateway[] = [];
    for (const { name, script } of GATEWAYS) {
      const proc = fork(script, [JSON.stringify({ originUrl: `http://127.0.0.1:${origin.port}`, privateHost: 'photos.localhost', shareHost: SHARE_HOST })], {
        execArgv: [...(PROFILE_DIR ? ['--import', hook] : []), ...all('node-flag')],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      stops.push(() => stop(proc));
      gateways.push({ name, proc, pid: proc.pid!, ready: await firstMessage<TlsGatewayReady>(proc, name, (m) => typeof m === 'object' && m !== null && 'httpsPort' in m) });
    }
    if (argv.includes('--caddy')) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-h2-profile-'));
      const caddy = await startCaddy(dir, [SHARE_HOST], origin.port);
      stops.push(() => caddy.stop().finally(() => fs.rmSync(dir, { recursive: true, force: true })));
      gateways.push({ name: 'caddy', pid: caddy.pid, ready: { httpPort: 0, httpsPort: caddy.port } });
    }
    const thumbnailPath = `/api/assets/${origin.assetId}/thumbnail?key=${origin.key}&size=thumbnail`;
    const load = (gateway: Gateway, leg: string, seconds: number) => {
      if (leg === 'h2') {
        return runH2Load({
          address: '127.0.0.1',
          port: gateway.ready.httpsPort,
          hostname: SHARE_HOST,
          path: thumbnailPath,
          sessions: SESSIONS,
          streamsPerSession: Math.ceil(INFLIGHT / SESSIONS),
          seconds,
          perSecond: RATE,
        });
      }
      const url = leg === 'h1' ? `http://127.0.0.1:${gateway.ready.httpPort}${thumbnailPath}` : `https://127.0.0.1:${gateway.ready.httpsPort}${thumbnailPath}`;
      return runWrk(url, { connections: INFLIGHT, threads: Math.min(2, INFLIGHT), seconds, headers: [`Host: ${SHARE_HOST}`] });
    };
    const measure = async (gateway: Gateway, leg: string, seconds: number) => {
      const before = cpuMicrosOf(gateway.pid);
      const client = process.cpuUsage();
      const r = await load(gateway, leg, seconds);
      const cpu = (cpuMicrosOf(gateway.pid) - before) / r.requests;
      const used = process.cpuUsage(client);
      if (r.bad > 0 || r.errors) throw new Error(`${gateway.name} ${leg}: ${r.bad} non-2xx responses, errors ${r.errors}; not valid`);
      return { requests: r.requests, rps: r.reqPerSec, p50: r.p50Ms, p99: r.p99Ms, cpu, clientCpu: leg === 'h2' ? (used.user + used.system) / r.requests : NaN };
    };
    const cells = gateways.flatMap((gateway) => LEGS.filter((leg) => gateway.proc || leg !== 'h1').map((leg) => ({ gateway, leg })));
    for (const { gateway, leg } of cells) await load(gateway, leg, WARMUP);

    if (PROFILE_DIR) {
      fs.mkdirSync(PROFILE_DIR, { recursive: true });
      for (const { gateway, leg } of cells) {
        if (!gateway.proc) continue;
        gateway.proc.send({ cpuProfile: 'start', intervalUs: 250 });
        await firstMessage(gateway.proc, gateway.name, (m) => (m as { cpuProfile?: string })?.cpuProfile === 'started');
        const r = await measure(gateway, leg, SECONDS);
        const file = path.resolve(PROFILE_DIR, `${gateway.name}-${leg}.cpuprofile`);
        gateway.proc.send({ cpuProfile: 'stop', file });
        await firstMessage(gateway.proc, gateway.name, (m) => (m as { cpuProfile?: string })?.cpuProfile === 'stopped');
        console.log(`\n=== ${gateway.name} ${leg} (profiled): ${r.rps.toFixed(0)} req/s p50 ${r.p50.toFixed(2)} ms cpu ${r.cpu.toFixed(0)} us/req; ${file}`);
        console.log(`requests: ${r.requests}`);
        console.log(formatSummary(summarize(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile), 25, undefined, r.requests));
      }
    } else {
      const results = new Map<string, Array<{ rps: number; p50: number; p99: number; cpu: number; clientCpu: number }>>();
      for (let round = 0; round < ROUNDS; round++) {
        const order = cells.map((_, i) => cells[(i + round) % cells.length]!);
        for (const { gateway, leg } of order) {
          const key = `${gateway.name} ${leg}`;
          const r = await measure(gateway, leg, SECONDS);
          if (!results.has(key)) results.set(key, []);
          results.get(key)!.push(r);
          console.error(
            `round ${round + 1} ${key}: ${r.rps.toFixed(0)} req/s p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms cpu ${r.cpu.toFixed(0)} us/req client ${r.clientCpu.toFixed(0)} us/req (load ${os.loadavg()[0]!.toFixed(1)})`,
          );
        }
      }
      console.log(`\nLoad average (1 min) ${loadBefore.toFixed(2)} at the start, ${os.loadavg()[0]!.toFixed(2)} at the end; ${ROUNDS} rounds x ${SECONDS} s, medians (min - max)`);
      console.log('| proxy, leg | req/s | p50 | p99 | proxy CPU/req | h2-load CPU/req |\n|---|---|---|---|---|---|');
      for (const [key, r] of results) {
        const m = (f: (x: (typeof r)[number]) => number, digits: number) => `${median(r.map(f)).toFixed(digits)}`;
        const range = (f: (x: (typeof r)[number]) => number) => `${Math.min(...r.map(f)).toFixed(0)}-${Math.max(...r.map(f)).toFixed(0)}`;
        console.log(
          `| ${key} | ${m((x) => x.rps, 0)} (${range((x) => x.rps)}) | ${m((x) => x.p50, 1)} ms | ${m((x) => x.p99, 1)} ms | ${m((x) => x.cpu, 0)} us (${range((x) => x.cpu)}) | ${key.endsWith('h2') ? `${m((x) => x.clientCpu, 0)} us` : '-'} |`,
        );
      }
    }
  } finally {
    for (const s of stops.reverse()) await s().catch(() => {});
  }
}

const role = argv.includes('--role') ? argv[argv.indexOf('--role') + 1] : 'main';
if (role === 'origin') await runAlbumOrigin(200);
else await main();
