// What the metrics cost on the hot path: small proxied GETs (20 KiB from a Node origin in this process, 64 connections, wrk) through
// Porthole with metrics off and on, rounds interleaved, medians reported: req/s, p99 and the gateway's CPU time
// per request. Run: node --import tsx bench/metrics.ts [--rounds N] [--seconds S]
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { spawnGateway, type GatewayChild } from '../test/proxy/spawn-gateway.js';
import { runWrk } from './lib/wrk.js';

const HOST = 'photos.localhost';
const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const ROUNDS = arg('rounds', 5);
const SECONDS = arg('seconds', 6);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

// The origin answers from memory in its own process, so both runs see the same origin cost.
const small = Buffer.alloc(20 * 1024, 0x61);
const origin = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': small.length }).end(small));
await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
const originPort = (origin.address() as AddressInfo).port;
const gateways: Array<[string, GatewayChild]> = [];
try {
  for (const metrics of [false, true])
    gateways.push([metrics ? 'metrics on' : 'metrics off', await spawnGateway({ originUrl: `http://127.0.0.1:${originPort}`, host: HOST, metrics })]);
  // Warm-up (JIT, pools) is not measured.
  for (const [, gateway] of gateways)
    await runWrk(`http://127.0.0.1:${gateway.port}/small`, { connections: 64, threads: 2, seconds: 2, headers: [`Host: ${HOST}`, `Cookie: ${gateway.cookie}`] });
  const results = new Map<string, { rps: number[]; p99: number[]; cpuUs: number[] }>(gateways.map(([name]) => [name, { rps: [], p99: [], cpuUs: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, gateway] of round % 2 ? [...gateways].reverse() : gateways) {
      const cpuBefore = gateway.cpuMicros();
      const wrk = await runWrk(`http://127.0.0.1:${gateway.port}/small`, {
        connections: 64,
        threads: 2,
        seconds: SECONDS,
        headers: [`Host: ${HOST}`, `Cookie: ${gateway.cookie}`],
      });
      if (wrk.bad > 0) throw new Error(`${name}: ${wrk.bad} answers were not 2xx/3xx`);
      const r = results.get(name)!;
      r.rps.push(wrk.reqPerSec);
      r.p99.push(wrk.p99Ms);
      r.cpuUs.push((gateway.cpuMicros() - cpuBefore) / wrk.requests);
    }
  }
  console.log(`${os.cpus().length} CPUs (${os.cpus()[0]?.model}), node ${process.version}, ${ROUNDS} rounds of ${SECONDS}s, medians`);
  for (const [name, r] of results)
    console.log(`${name.padEnd(12)} ${median(r.rps).toFixed(0).padStart(7)} req/s   p99 ${median(r.p99).toFixed(1)} ms   ${median(r.cpuUs).toFixed(1)} µs CPU/request`);
} finally {
  for (const [, gateway] of gateways) await gateway.stop();
  origin.closeAllConnections();
  origin.close();
}
