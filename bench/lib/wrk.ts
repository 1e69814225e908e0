// Runs wrk (the load generator for small requests) and reads its summary.
import { execFile } from 'node:child_process';

export interface WrkResult {
  requests: number;
  seconds: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses that were not 2xx/3xx: a gated run with any of these measured refusals, not proxying. */
  bad: number;
  errors: string | null;
}

function toMs(value: string, unit: string): number {
  return Number(value) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[unit]!;
}

export function parseWrk(output: string): WrkResult {
  const total = /(\d+) requests in ([\d.]+)(ms|s|m)/.exec(output);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(output);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(output);
  if (!total || !rps || !p50 || !p99) throw new Error(`cannot read wrk output:\n${output}`);
  const seconds = Number(total[2]) * ({ ms: 0.001, s: 1, m: 60 } as Record<string, number>)[total[3]!]!;
  return {
    requests: Number(total[1]),
    seconds,
    reqPerSec: Number(rps[1]),
    p50Ms: toMs(p50[1]!, p50[2]!),
    p99Ms: toMs(p99[1]!, p99[2]!),
    bad: Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0),
    errors: /Socket errors: (.*)/.exec(output)?.[1] ?? null,
  };
}

export function runWrk(url: string, options: { connections: number; threads: number; seconds: number; headers: string[] }): Promise<WrkResult> {
  const args = ['-t', String(options.threads), '-c', String(options.connections), '-d', `${options.seconds}s`, '--latency'];
  for (const header of options.headers) args.push('-H', header);
  args.push(url);
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { maxBuffer: 1 << 20 }, (error, stdout) => {
      if (error) return reject(error);
      try {
        resolve(parseWrk(stdout));
      } catch (parseError) {
        reject(parseError);
      }
    });
  });
}
