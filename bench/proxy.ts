// npm run bench: what the proxy costs. Direct to the origin vs through Porthole (real gate, signed-in session)
// vs nginx as a reverse proxy with the fair configuration, and a bare Node TCP pipe (the ceiling for any Node
// proxy here), against the same origins in the same run:
//   (a) 20 KiB GETs at 64 connections (wrk): req/s, p50/p99, the proxy's CPU time per request;
//   (b) 2 GiB download and upload (curl, data generated on the fly): MB/s and the proxy's peak RSS.
// Rounds are interleaved and medians reported. Options: --rounds N --seconds S --bulk-gib G --skip-bulk --skip-small.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBulkOrigin } from './lib/bulk-origin.js';
import { download, upload, type Transfer } from './lib/curl.js';
import { startNodePipe } from './lib/node-pipe.js';
import { freePort, proxyServerBlock, startNginx, staticServerBlock, type NginxInstance } from './lib/nginx.js';
import { cpuMicrosOf, spawnGateway, statusKb } from '../test/proxy/spawn-gateway.js';
import { TUNED_ENV } from './lib/runtime.js';
import { runWrk, type WrkResult } from './lib/wrk.js';

const HOST = 'photos.localhost';
const SMALL_BYTES = 20 * 1024;

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}
const ROUNDS = arg('rounds', 3);
const SECONDS = arg('seconds', 8);
const BULK_BYTES = Math.round(arg('bulk-gib', 2) * 1024 ** 3);
const SKIP_BULK = process.argv.includes('--skip-bulk');
const SKIP_SMALL = process.argv.includes('--skip-small');
/** Only these paths (comma-separated names), e.g. --paths direct,porthole,nginx. */
const PATHS = process.argv.includes('--paths') ? new Set(process.argv[process.argv.indexOf('--paths') + 1]!.split(',')) : null;
/**
 * More gateways in the same run, as JSON in BENCH_VARIANTS: [{"name": ..., "script"?: another build's
 * dist-bench/test/proxy/gateway-process.js, "env"?: {...}, "execArgv"?: node flags such as ["--cpu-prof"]}]. Before/after and client comparisons (docs/performance.md).
 */
const VARIANTS = JSON.parse(process.env.BENCH_VARIANTS ?? '[]') as Array<{ name: string; script?: string; env?: Record<string, string>; execArgv?: string[] }>;
const wanted = (name: string) => PATHS === null || PATHS.has(name);

interface Leg {
  url: string;
  headers: string[];
  /** Processes whose CPU and memory are the proxy's; none for direct. */
  pids(): number[];
}

interface Target {
  name: string;
  small: Leg;
  /** Absent where a bulk run would say nothing new. */
  bulk?: Leg;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuMicrosOf(pid), 0);
const peakOf = (pids: number[]) => pids.reduce((sum, pid) => sum + statusKb(pid, 'VmHWM') * 1024, 0);
const resetPeaks = (pids: number[]) => pids.forEach((pid) => fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'));

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-bench-'));
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  // nginx workers drop privileges: they must be able to read the static file.
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(www, 'small'), Buffer.alloc(SMALL_BYTES, 0x61));
  const stops: Array<() => Promise<void>> = [];
  try {
    // Origins: nginx serving a static 20 KiB file (fast enough never to be the bottleneck) and a Node origin that
    // generates and swallows bulk bodies without storing them.
    const originPort = await freePort();
    const origin = await startNginx(dir, 'origin', originPort, staticServerBlock(originPort, www));
    stops.push(() => origin.stop());
    const bulkOrigin = await startBulkOrigin();
    stops.push(() => bulkOrigin.close());

    const nginxSmallPort = await freePort();
    const nginxSmall: NginxInstance = await startNginx(dir, 'proxy-small', nginxSmallPort, proxyServerBlock(nginxSmallPort, origin.port));
    stops.push(() => nginxSmall.stop());
    const nginxBulkPort = await freePort();
    const nginxBulk: NginxInstance = await startNginx(dir, 'proxy-bulk', nginxBulkPort, proxyServerBlock(nginxBulkPort, bulkOrigin.port));
    stops.push(() => nginxBulk.stop());

    const targets: Target[] = [
      {
        name: 'direct',
        small: { url: `http://127.0.0.1:${origin.port}/small`, headers: [], pids: () => [] },
        bulk: { url: `http://127.0.0.1:${bulkOrigin.port}`, headers: [], pids: () => [] },
      },
    ];
    // Porthole as `porthole serve` runs it (the compiled build), with default and with tuned malloc settings.
    for (const { name, env, script, execArgv = [] } of [{ name: 'porthole', env: {} }, { name: 'porthole-tuned', env: TUNED_ENV }, ...VARIANTS] as Array<{
      name: string;
      env?: Record<string, string>;
      script?: string;
      execArgv?: string[];
    }>) {
      if (!wanted(name)) continue;
      const small = await spawnGateway({ originUrl: `http://127.0.0.1:${origin.port}`, host: HOST, compiled: true, script }, execArgv, env);
      stops.push(() => small.stop());
      const bulk = await spawnGateway({ originUrl: `http://127.0.0.1:${bulkOrigin.port}`, host: HOST, compiled: true, script }, execArgv, env);
      stops.push(() => bulk.stop());
      targets.push({
        name,
        small: { url: `http://127.0.0.1:${small.port}/small`, headers: [`Host: ${HOST}`, `Cookie: ${small.cookie}`], pids: () => [small.pid] },
        bulk: { url: `http://127.0.0.1:${bulk.port}`, headers: [`Host: ${HOST}`, `Cookie: ${bulk.cookie}`], pids: () => [bulk.pid] },
      });
    }
    // The ceiling for a proxy written in Node here: a bare socket-to-socket pipe (no HTTP, no gate).
    if (wanted('node-tcp-pipe')) {
      const pipeSmall = await startNodePipe(origin.port);
      stops.push(() => pipeSmall.stop());
      const pipeBulk = await startNodePipe(bulkOrigin.port);
      stops.push(() => pipeBulk.stop());
      targets.push({
        name: 'node-tcp-pipe',
        small: { url: `http://127.0.0.1:${pipeSmall.port}/small`, headers: [`Host: ${HOST}`], pids: () => [pipeSmall.pid] },
        bulk: { url: `http://127.0.0.1:${pipeBulk.port}`, headers: [`Host: ${HOST}`], pids: () => [pipeBulk.pid] },
      });
    }
    targets.push({
      name: 'nginx',
      small: { url: `http://127.0.0.1:${nginxSmall.port}/small`, headers: [`Host: ${HOST}`], pids: () => nginxSmall.pids() },
      bulk: { url: `http://127.0.0.1:${nginxBulk.port}`, headers: [`Host: ${HOST}`], pids: () => nginxBulk.pids() },
    });

    const small = new Map<string, Array<WrkResult & { cpuUsPerReq: number }>>();
    const down = new Map<string, Array<Transfer & { peak: number; cpuS: number }>>();
    const up = new Map<string, Array<Transfer & { peak: number; cpuS: number }>>();
    for (const t of targets) (small.set(t.name, []), down.set(t.name, []), up.set(t.name, []));

    if (!SKIP_SMALL) {
      for (const t of targets) await runWrk(t.small.url, { connections: 64, threads: 2, seconds: 2, headers: t.small.headers }); // warm-up (JIT, pools)
    }
    for (let round = 1; round <= ROUNDS; round++) {
      // Every other round runs the paths in reverse, so no path always follows the same neighbour (an origin
      // or a page cache warmed by the one before) and before/after pairs interleave both ways.
      const order = round % 2 ? targets : [...targets].reverse();
      for (const t of SKIP_SMALL ? [] : order) {
        const before = cpuOf(t.small.pids());
        const result = await runWrk(t.small.url, { connections: 64, threads: 2, seconds: SECONDS, headers: t.small.headers });
        const cpuUsPerReq = (cpuOf(t.small.pids()) - before) / result.requests;
        if (result.bad > 0) throw new Error(`${t.name}: ${result.bad} responses were not 2xx/3xx; the run is not valid`);
        small.get(t.name)!.push({ ...result, cpuUsPerReq });
        console.error(
          `round ${round} small ${t.name}: ${result.reqPerSec.toFixed(0)} req/s p50 ${result.p50Ms}ms p99 ${result.p99Ms}ms cpu ${cpuUsPerReq.toFixed(1)}us/req${result.errors ? ` errors ${result.errors}` : ''}`,
        );
      }
      for (const t of SKIP_BULK ? [] : order) {
        if (!t.bulk) continue;
        const pids = t.bulk.pids();
        resetPeaks(pids);
        let cpu = cpuOf(pids);
        const d = await download(`${t.bulk.url}/blob?size=${BULK_BYTES}`, t.bulk.headers);
        if (d.status !== 200 || d.bytes !== BULK_BYTES) throw new Error(`${t.name}: download answered ${d.status} with ${d.bytes} bytes`);
        down.get(t.name)!.push({ ...d, peak: peakOf(pids), cpuS: (cpuOf(pids) - cpu) / 1e6 });
        resetPeaks(pids);
        cpu = cpuOf(pids);
        const u = await upload(`${t.bulk.url}/sink`, t.bulk.headers, BULK_BYTES);
        if (u.status !== 201 || u.bytes !== BULK_BYTES) throw new Error(`${t.name}: upload answered ${u.status} after ${u.bytes} bytes`);
        up.get(t.name)!.push({ ...u, peak: peakOf(pids), cpuS: (cpuOf(pids) - cpu) / 1e6 });
        console.error(`round ${round} bulk ${t.name}: down ${d.mbPerSec.toFixed(0)} MB/s up ${u.mbPerSec.toFixed(0)} MB/s peak ${(peakOf(pids) / 1048576).toFixed(0)} MiB`);
      }
    }

    report(
      targets.map((t) => t.name),
      small,
      down,
      up,
    );
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

type Bulk = Transfer & { peak: number; cpuS: number };

function report(names: string[], small: Map<string, Array<WrkResult & { cpuUsPerReq: number }>>, down: Map<string, Bulk[]>, up: Map<string, Bulk[]>): void {
  const cpuModel = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  const gib = (BULK_BYTES / 1024 ** 3).toFixed(1);
  console.log(`\nMachine: ${os.cpus().length} cores, ${cpuModel}, Node ${process.version}, ${fs.readFileSync('/proc/version', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  console.log(`Medians of ${ROUNDS} interleaved rounds (every other one in reverse order). Origin, proxy, wrk and curl share the cores.`);
  console.log(
    `(a) ${SMALL_BYTES / 1024} KiB GETs from a static nginx origin, 64 connections, wrk -t2, ${SECONDS}s per run; Porthole: 1 process, gated with a signed-in session; nginx: 1 worker`,
  );
  console.log(`(b) ${gib} GiB bodies with curl from/to a Node origin that generates/swallows them; peak RSS (VmHWM) of the proxy during each transfer`);
  console.log('porthole: the compiled build under plain node, as `porthole serve` runs it');
  console.log(
    `porthole-tuned: the same, started with ${Object.entries(TUNED_ENV)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}\n`,
  );
  const m = (list: number[]) => (list.length ? median(list) : NaN);
  const rows = new Map(
    names.map((name) => {
      const s = small.get(name)!;
      const d = down.get(name)!;
      const u = up.get(name)!;
      return [
        name,
        {
          rps: m(s.map((r) => r.reqPerSec)),
          p50: m(s.map((r) => r.p50Ms)),
          p99: m(s.map((r) => r.p99Ms)),
          cpu: m(s.map((r) => r.cpuUsPerReq)),
          down: m(d.map((r) => r.mbPerSec)),
          up: m(u.map((r) => r.mbPerSec)),
          downCpu: m(d.map((r) => r.cpuS)),
          upCpu: m(u.map((r) => r.cpuS)),
          peak: Math.max(...d.map((r) => r.peak), ...u.map((r) => r.peak), 0),
        },
      ] as const;
    }),
  );
  const direct = rows.get('direct')!;
  console.log(`| path | req/s (x direct) | p50 | p99 | proxy CPU/req | ${gib} GiB download | ${gib} GiB upload | proxy CPU down/up | peak RSS |`);
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const [name, r] of rows) {
    const isDirect = name === 'direct';
    const bulk = Number.isNaN(r.down)
      ? '- | - | - | -'
      : `${r.down.toFixed(0)} MB/s | ${r.up.toFixed(0)} MB/s | ${isDirect ? '-' : `${r.downCpu.toFixed(2)} s / ${r.upCpu.toFixed(2)} s`} | ${isDirect ? '-' : `${(r.peak / 1048576).toFixed(0)} MiB`}`;
    console.log(
      `| ${name} | ${r.rps.toFixed(0)} (${(r.rps / direct.rps).toFixed(2)}) | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms | ${isDirect ? '-' : `${r.cpu.toFixed(1)} us`} | ${bulk} |`,
    );
  }
  const n = rows.get('nginx')!;
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  for (const [name, p] of rows) {
    if (name !== 'node-tcp-pipe' && !name.startsWith('porthole')) continue;
    console.log(
      name === 'node-tcp-pipe'
        ? '\nnode-tcp-pipe against nginx (the ceiling for any Node proxy on this machine, not a target):'
        : `\n${name} against nginx (targets from the issue):`,
    );
    console.log(`  req/s            ${(p.rps / n.rps).toFixed(2)}x  (>= 0.80, never < 0.60: ${verdict(p.rps / n.rps >= 0.8)})`);
    console.log(`  CPU per request  ${(p.cpu / n.cpu).toFixed(2)}x  (<= 1.5: ${verdict(p.cpu / n.cpu <= 1.5)})`);
    if (Number.isNaN(p.down)) continue;
    console.log(`  download MB/s    ${(p.down / n.down).toFixed(2)}x  (>= 0.80: ${verdict(p.down / n.down >= 0.8)})`);
    console.log(`  upload MB/s      ${(p.up / n.up).toFixed(2)}x  (>= 0.80: ${verdict(p.up / n.up >= 0.8)})`);
    console.log(`  peak RSS         ${(p.peak / 1048576).toFixed(0)} MiB  (< 150 MB: ${verdict(p.peak < 150e6)})`);
  }
}

await main();
