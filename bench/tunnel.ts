// `npm run bench:tunnel`: the home tunnel against direct access, a raw TCP pipe and stock OpenSSH `ssh -R`,
// on loopback and across a 20 ms RTT link (a delay proxy: this kernel has no netem). Measures single- and
// 8-stream bulk MB/s, small-GET latency and req/s at 64 concurrency (wrk), CPU seconds per GB and peak RSS
// on both ends (over the bulk legs, each bulk leg and the wrk legs). A script, never a test: numbers depend on the machine. Needs wrk and OpenSSH (sshd is
// started on a loopback port with a throwaway config, host key and authorized key in a temp dir).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { need } from './lib/need.js';
import { freePort, resetPeaks, start, usage, waitForPort } from './tunnel/procs.js';

const MiB = 1024 * 1024;
// Both tunnel ends run the compiled build under plain node, as in production; PORTHOLE_BENCH_DIST points at
// another build (a checkout of the code before a change) for before/after figures from the same harness.
const dist = process.env.PORTHOLE_BENCH_DIST ?? path.join(import.meta.dirname, '..', 'dist');
const compiledCli = path.join(dist, 'src', 'cli', 'main.js');
const tsx = (file: string) => [process.execPath, '--import', 'tsx', path.join(import.meta.dirname, file)];
const args = process.argv.slice(2);
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 1);
const envs = args
  .find((a) => a.startsWith('--env='))
  ?.slice(6)
  .split(',') ?? ['loopback', 'rtt20'];

function sh(cmd: string, argv: string[]): void {
  execFileSync(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
}

interface Path {
  name: string;
  /** Where the client connects. */
  host: string;
  port: number;
  gatewayEnd: number[];
  homeEnd: number[];
  stop(): Promise<void>;
}

interface Link {
  port: number;
  stop(): Promise<void>;
}

interface Env {
  name: string;
  originPort: number;
  /** The home-gateway link towards a port: a delay proxy at 20 ms RTT, nothing on loopback. */
  link(targetPort: number): Promise<Link>;
}

async function delayLink(targetPort: number): Promise<Link> {
  const proxy = start([...tsx('tunnel/delay-main.ts'), '127.0.0.1', String(targetPort), '10']);
  const { port } = (await proxy.next((m) => 'port' in m)) as { port: number };
  return { port, stop: () => proxy.stop() };
}

async function directPath(env: Env): Promise<Path> {
  const link = await env.link(env.originPort);
  return { name: 'direct', host: '127.0.0.1', port: link.port, gatewayEnd: [], homeEnd: [], stop: () => link.stop() };
}

async function rawPipePath(env: Env): Promise<Path> {
  const link = await env.link(env.originPort);
  const relay = start([...tsx('tunnel/relay-main.ts'), '127.0.0.1', '127.0.0.1', String(link.port)]);
  const { port } = (await relay.next((m) => 'port' in m)) as { port: number };
  return {
    name: 'raw TCP pipe',
    host: '127.0.0.1',
    port,
    gatewayEnd: [relay.child.pid!],
    homeEnd: [],
    stop: async () => {
      await relay.stop();
      await link.stop();
    },
  };
}

/** Another build measured in the same run as `tunnel-before` (before/after figures, docs/performance.md). */
const beforeDist = process.env.PORTHOLE_BENCH_BEFORE_DIST;

const tunnelPath = (env: Env) => tunnelPathFrom(env, dist, 'porthole tunnel');

async function tunnelPathFrom(env: Env, dist: string, name: string): Promise<Path> {
  const compiledCli = path.join(dist, 'src', 'cli', 'main.js');
  const gateway = start([process.execPath, path.join(import.meta.dirname, 'tunnel', 'gateway-main.mjs'), '127.0.0.1'], {
    PORTHOLE_BENCH_DIST: dist,
    // Node flags for the gateway end alone, as PORTHOLE_BENCH_HOME_NODE_OPTIONS below for the home end.
    ...(process.env.PORTHOLE_BENCH_GATEWAY_NODE_OPTIONS ? { NODE_OPTIONS: process.env.PORTHOLE_BENCH_GATEWAY_NODE_OPTIONS } : {}),
  });
  const ready = (await gateway.next((m) => 'token' in m)) as { port: number; tlsPort: number; token: string };
  const link = await env.link(ready.tlsPort);
  // The home end as people run it: `porthole connect` from the compiled build (npm run bench:tunnel builds it).
  const connector = start([process.execPath, compiledCli, 'connect', '--origin', `http://127.0.0.1:${env.originPort}`, '--gateway', `127.0.0.1:${link.port}`, '--name', 'bench'], {
    PORTHOLE_TUNNEL_TOKEN: ready.token,
    // Node flags for the home end alone (e.g. --max-semi-space-size=4), to weigh memory against speed there.
    ...(process.env.PORTHOLE_BENCH_HOME_NODE_OPTIONS ? { NODE_OPTIONS: process.env.PORTHOLE_BENCH_HOME_NODE_OPTIONS } : {}),
  });
  await gateway.next((m) => m.connected === true);
  return {
    name,
    host: '127.0.0.1',
    port: ready.port,
    gatewayEnd: [gateway.child.pid!],
    homeEnd: [connector.child.pid!],
    stop: async () => {
      await connector.stop();
      await gateway.stop();
      await link.stop();
    },
  };
}

async function sshPath(env: Env): Promise<Path> {
  need('/usr/sbin/sshd', 'openssh-server', 'the OpenSSH server of the `ssh -R` path');
  need('/usr/bin/ssh', 'openssh-client', 'the OpenSSH client of the `ssh -R` path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-bench-ssh-'));
  for (const k of ['host_key', 'client_key']) sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, k)]);
  fs.copyFileSync(path.join(dir, 'client_key.pub'), path.join(dir, 'authorized_keys'));
  const sshPort = await freePort();
  const fwdPort = await freePort();
  fs.writeFileSync(
    path.join(dir, 'sshd_config'),
    [
      `Port ${sshPort}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${dir}/host_key`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'AllowTcpForwarding yes',
      'LogLevel ERROR',
    ].join('\n') + '\n',
  );
  fs.mkdirSync('/run/sshd', { recursive: true });
  const sshd = start(['/usr/sbin/sshd', '-D', '-e', '-f', path.join(dir, 'sshd_config')]);
  await waitForPort('127.0.0.1', sshPort);
  const link = await env.link(sshPort);
  // Stock client options apart from the throwaway-key plumbing.
  const ssh = start([
    'ssh',
    '-N',
    '-i',
    path.join(dir, 'client_key'),
    '-p',
    String(link.port),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'ExitOnForwardFailure=yes',
    '-o',
    'LogLevel=ERROR',
    '-R',
    `127.0.0.1:${fwdPort}:127.0.0.1:${env.originPort}`,
    'root@127.0.0.1',
  ]);
  await waitForPort('127.0.0.1', fwdPort);
  return {
    name: 'OpenSSH ssh -R',
    host: '127.0.0.1',
    port: fwdPort,
    gatewayEnd: [sshd.child.pid!],
    homeEnd: [ssh.child.pid!],
    stop: async () => {
      await ssh.stop();
      await sshd.stop();
      await link.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function download(p: Path, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: p.host, port: p.port, path: `/bulk?size=${size}`, agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => (n === size ? resolve(n) : reject(new Error(`short download ${n}/${size}`))));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

const block = Buffer.alloc(MiB, 'u');
function upload(p: Path, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: p.host, port: p.port, path: '/sink', method: 'POST', agent: false, headers: { 'content-length': size } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => (Number(body) === size ? resolve(size) : reject(new Error(`short upload ${body}/${size}`))));
    });
    req.on('error', reject);
    let left = size;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, MiB);
        left -= n;
        if (!req.write(n === MiB ? block : block.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

async function timed(fn: () => Promise<number>): Promise<number> {
  const t0 = process.hrtime.bigint();
  const bytes = await fn();
  return bytes / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** 64 concurrent small GETs; with newConnections every request opens a fresh connection through the path. */
function wrk(p: Path, newConnections = false): { rps: number; p50: number; p99: number } {
  const extra = newConnections ? ['-H', 'Connection: close'] : [];
  const out = execFileSync('wrk', ['-t2', '-c64', '-d8s', '--latency', ...extra, `http://${p.host}:${p.port}/small?n=1024`], { encoding: 'utf8' });
  const ms = (label: string) => {
    const m = new RegExp(`^\\s*${label}\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    if (!m) return NaN;
    return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
  };
  const errors = /Non-2xx|Socket errors/.exec(out)
    ? out
        .split('\n')
        .filter((l) => /Non-2xx|Socket errors/.test(l))
        .join('; ')
    : '';
  if (errors) process.stderr.write(`  wrk: ${errors}\n`);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]), p50: ms('50%'), p99: ms('99%') };
}

interface Row {
  env: string;
  path: string;
  down1: number;
  up1: number;
  down8: number;
  rps: number;
  p50: number;
  p99: number;
  newConnRps: number;
  newConnP99: number;
  gwCpuPerGB: number;
  homeCpuPerGB: number;
  /** Peak RSS over the whole run, and separately over the bulk legs and over the wrk legs. */
  gwRss: number;
  homeRss: number;
  gwBulkRss: number;
  homeBulkRss: number;
  gwWrkRss: number;
  homeWrkRss: number;
  /** Peak RSS during each bulk leg (1-stream down, 1-stream up, 8-stream down). */
  legPeaks: Array<{ gw: number; home: number }>;
  /** RSS of each end once connected, before any traffic (a connector spends most of its life like this). */
  gwIdle: number;
  homeIdle: number;
}

async function measure(env: Env, make: (env: Env) => Promise<Path>): Promise<Row> {
  const p = await make(env);
  try {
    const size = env.name === 'loopback' ? 1024 * MiB : 512 * MiB;
    const idle = { gw: usage(p.gatewayEnd), home: usage(p.homeEnd) };
    await download(p, 16 * MiB); // warm-up: connections, JIT, TCP windows
    const before = { gw: usage(p.gatewayEnd), home: usage(p.homeEnd) };
    const all = [...p.gatewayEnd, ...p.homeEnd];
    // Each bulk leg starts a new peak, so a leg's figure is its own (it starts from whatever RSS the last left).
    const leg = async (fn: () => Promise<number>): Promise<{ rate: number; peak: { gw: number; home: number } }> => {
      resetPeaks(all);
      const rate = await timed(fn);
      return { rate, peak: { gw: usage(p.gatewayEnd).rssMiB, home: usage(p.homeEnd).rssMiB } };
    };
    const down1 = await leg(() => download(p, size));
    const up1 = await leg(() => upload(p, size));
    const down8 = await leg(async () => (await Promise.all(Array.from({ length: 8 }, () => download(p, size / 8)))).reduce((a, b) => a + b, 0));
    const after = { gw: usage(p.gatewayEnd), home: usage(p.homeEnd) };
    const bulkPeak = (end: 'gw' | 'home') => Math.max(down1.peak[end], up1.peak[end], down8.peak[end]);
    const gb = (3 * size) / 1e9;
    resetPeaks(all);
    const small = wrk(p);
    const fresh = wrk(p, true);
    const end = { gw: usage(p.gatewayEnd), home: usage(p.homeEnd) };
    return {
      env: env.name,
      path: p.name,
      down1: down1.rate,
      up1: up1.rate,
      down8: down8.rate,
      legPeaks: [down1.peak, up1.peak, down8.peak],
      ...small,
      newConnRps: fresh.rps,
      newConnP99: fresh.p99,
      gwCpuPerGB: (after.gw.cpu - before.gw.cpu) / gb,
      homeCpuPerGB: (after.home.cpu - before.home.cpu) / gb,
      gwRss: Math.max(before.gw.rssMiB, bulkPeak('gw'), end.gw.rssMiB),
      homeRss: Math.max(before.home.rssMiB, bulkPeak('home'), end.home.rssMiB),
      gwBulkRss: bulkPeak('gw'),
      homeBulkRss: bulkPeak('home'),
      gwWrkRss: end.gw.rssMiB,
      homeWrkRss: end.home.rssMiB,
      gwIdle: idle.gw.nowMiB,
      homeIdle: idle.home.nowMiB,
    };
  } finally {
    await p.stop();
  }
}

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '-');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
/** Gateway / home end in MiB; a path without a process at one end shows '-' there. */
const pair = (gw: number, home: number) => `${gw ? f0(gw) : '-'} / ${home ? f0(home) : '-'}`;

function print(rows: Row[]): void {
  const header =
    '| env | path | 1-stream down MB/s | 1-stream up MB/s | 8-stream down MB/s | small GET req/s | p50 ms | p99 ms | new-conn GET req/s | new-conn p99 ms | CPU s/GB gateway end | CPU s/GB home end | peak RSS MiB gateway / home | bulk legs peak | wrk legs peak | idle RSS MiB gateway / home |';
  const lines = [header, header.replace(/[^|]+/g, '---')];
  for (const r of rows) {
    lines.push(
      `| ${r.env} | ${r.path} | ${f0(r.down1)} | ${f0(r.up1)} | ${f0(r.down8)} | ${f0(r.rps)} | ${f2(r.p50)} | ${f2(r.p99)} | ${f0(r.newConnRps)} | ${f2(r.newConnP99)} | ${r.gwRss ? f2(r.gwCpuPerGB) : '-'} | ${r.homeRss ? f2(r.homeCpuPerGB) : '-'} | ${pair(r.gwRss, r.homeRss)} | ${pair(r.gwBulkRss, r.homeBulkRss)} | ${pair(r.gwWrkRss, r.homeWrkRss)} | ${r.gwRss ? f0(r.gwIdle) : '-'} / ${r.homeRss ? f0(r.homeIdle) : '-'} |`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n\n');
  const legHeader = '| env | path | peak RSS MiB gateway / home: 1-stream down | 1-stream up | 8-stream down |';
  const legLines = [legHeader, legHeader.replace(/[^|]+/g, '---')];
  for (const r of rows) legLines.push(`| ${r.env} | ${r.path} | ${r.legPeaks.map((l) => pair(l.gw, l.home)).join(' | ')} |`);
  process.stdout.write(legLines.join('\n') + '\n\n');
  for (const env of new Set(rows.map((r) => r.env))) {
    const get = (name: string) => rows.find((r) => r.env === env && r.path === name);
    const t = get('porthole tunnel');
    const ssh = get('OpenSSH ssh -R');
    const raw = get('raw TCP pipe');
    if (!t) continue;
    const ratio = (a: number, b?: number) => (b ? (a / b).toFixed(2) + 'x' : '-');
    process.stdout.write(
      `${env}: tunnel vs ssh -R: 1-stream down ${ratio(t.down1, ssh?.down1)}, up ${ratio(t.up1, ssh?.up1)}, 8-stream ${ratio(t.down8, ssh?.down8)}, small req/s ${ratio(t.rps, ssh?.rps)}, new-conn req/s ${ratio(t.newConnRps, ssh?.newConnRps)}; ` +
        `tunnel vs raw pipe: 1-stream down ${ratio(t.down1, raw?.down1)}, up ${ratio(t.up1, raw?.up1)}, 8-stream ${ratio(t.down8, raw?.down8)}, small req/s ${ratio(t.rps, raw?.rps)}, new-conn req/s ${ratio(t.newConnRps, raw?.newConnRps)}\n`,
    );
  }
}

async function main(): Promise<void> {
  if (!fs.existsSync(compiledCli)) throw new Error('no compiled build: run `npm run build` first (npm run bench:tunnel does)');
  need('/usr/bin/wrk', 'wrk', 'the load generator of the small-request legs');
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ');
  process.stdout.write(`machine: ${os.availableParallelism()} cores (nproc), ${cpu}, node ${process.version}, load average (1/5/15 min) ${load()}\n\n`);
  const paths: Array<[string, (env: Env) => Promise<Path>]> = [
    ['direct', directPath],
    ['raw', rawPipePath],
    ['ssh', sshPath],
    ['tunnel', tunnelPath],
    ...(beforeDist ? [['tunnel-before', (env: Env) => tunnelPathFrom(env, beforeDist, 'porthole tunnel (before)')] as [string, (env: Env) => Promise<Path>]] : []),
  ];
  const rows: Row[] = [];
  for (const envName of envs) {
    const origin = start([...tsx('tunnel/origin-main.ts'), '0', '127.0.0.1']);
    try {
      const { port } = (await origin.next((m) => 'port' in m)) as { port: number };
      const env: Env = {
        name: envName,
        originPort: port,
        link: envName === 'rtt20' ? delayLink : async (target) => ({ port: target, stop: async () => {} }),
      };
      // --rounds=N repeats the legs, in reverse order every other round, so before/after figures taken on a
      // busy machine interleave and their spread shows.
      for (let round = 0; round < rounds; round++) {
        for (const [key, make] of round % 2 ? [...paths].reverse() : paths) {
          if (only && !only.includes(key)) continue;
          process.stderr.write(`${envName}: ${key}${rounds > 1 ? ` (round ${round + 1}/${rounds})` : ''}...\n`);
          rows.push(await measure(env, make));
        }
      }
    } finally {
      await origin.stop();
    }
  }
  print(rows);
  process.stdout.write(`load average at the end (1/5/15 min): ${load()}\n`);
}

await main();
