// Starts gateway-process.ts as a child and reads its memory and CPU from /proc: what a proxy costs is
// measured on the proxy's own process, never on the test runner that also plays client and origin.
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { GatewayProcessOptions, GatewayProcessReady } from './gateway-process.js';

export interface GatewayChild extends GatewayProcessReady {
  readonly pid: number;
  /** Resident set size now, in bytes (VmRSS). */
  rss(): number;
  /** Peak resident set size since start or the last resetPeak(), in bytes (VmHWM). */
  peakRss(): number;
  /** Clears the peak so the next peakRss() covers only what happens from now on. */
  resetPeak(): void;
  /** User + system CPU time used so far by every gateway process, in microseconds. */
  cpuMicros(): number;
  stop(): Promise<void>;
}

const script = fileURLToPath(new URL('./gateway-process.ts', import.meta.url));
// The same file compiled by `npm run build` (tsconfig.build.json includes it), run by plain node.
const compiledScript = fileURLToPath(new URL('../../dist-bench/test/proxy/gateway-process.js', import.meta.url));
const TICK_MICROS = 1_000_000 / 100;

export function statusKb(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : 0;
}

/** utime + stime of a process, in microseconds (assumes the usual 100 Hz clock tick). */
export function cpuMicrosOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MICROS;
}

/**
 * Starts a gateway process. With `compiled`, the build in dist-bench/ (`npm run build:bench`) under plain node (how `porthole serve` runs,
 * what the benchmark measures); otherwise the sources through tsx (how the tests run).
 */
export async function spawnGateway(
  options: GatewayProcessOptions & { compiled?: boolean; /** Another compiled gateway-process.js (before/after benchmarks). */ script?: string },
  execArgv: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<GatewayChild> {
  const child: ChildProcess = fork(options.script ?? (options.compiled ? compiledScript : script), [JSON.stringify(options)], {
    execArgv: options.compiled ? execArgv : ['--import', 'tsx', ...execArgv],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<GatewayProcessReady>((resolve, reject) => {
    child.once('message', (message) => resolve(message as GatewayProcessReady));
    child.once('exit', (code) => reject(new Error(`gateway process exited early (${code})`)));
  });
  const pid = child.pid!;
  return {
    ...ready,
    pid,
    rss: () => statusKb(pid, 'VmRSS') * 1024,
    peakRss: () => statusKb(pid, 'VmHWM') * 1024,
    resetPeak: () => fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'),
    cpuMicros: () => ready.pids.reduce((sum, p) => sum + cpuMicrosOf(p), 0),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}
