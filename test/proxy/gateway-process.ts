// The real gateway (listener, gate, proxy) in a process of its own, so a test or the benchmark can measure its
// memory and CPU apart from the client and the origin. Started by spawn-gateway.ts; it signs in one person
// with issueSession (no mail round trip) and reports its port and session cookie over IPC. With `workers`
// above 1 it runs that many gateway processes on one port (node:cluster), for the benchmark's multi-core run.
import cluster, { type Worker } from 'node:cluster';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { issueSession } from '../../src/gate/session.js';
import { startGateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';

export interface GatewayProcessOptions {
  originUrl: string;
  host: string;
  maxBodySize?: string;
  /** 'pass-through' runs the proxy layer alone (no gate), to tell the gate's cost from the proxy's. */
  mode?: 'gate' | 'pass-through';
  /** Gateway processes sharing the port (cluster); 1 by default. Only with the gate. */
  workers?: number;
  /** Set by the cluster primary for its workers: the shared data directory. */
  dataDir?: string;
}

export interface GatewayProcessReady {
  port: number;
  /** Cookie header value of a signed-in session ('' in pass-through mode). */
  cookie: string;
  /** Every process doing the gateway's work (the primary and its workers in cluster mode). */
  pids: number[];
}

async function startWithGate(options: GatewayProcessOptions, report: (ready: GatewayProcessReady) => void): Promise<() => Promise<void>> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-gateway-process-'));
  const config = parseConfig(
    {
      listen: { address: '127.0.0.1', httpPort: 0 },
      hosts: { private: options.host },
      publicScheme: 'http',
      origin: { url: options.originUrl },
      gate: { allow: ['bench@example.com'] },
      mail: { from: 'Porthole <porthole@example.com>', transport: 'console' },
      dataDir,
      proxy: options.maxBodySize ? { maxBodySize: options.maxBodySize } : {},
    },
    'gateway process',
  );
  const gateway = await startGateway(config, createConsoleMailer(() => {}), silentLogger);
  const session = issueSession(gateway.deps.store, config, 'bench@example.com');
  report({ port: gateway.httpPort, cookie: `${session.cookieName}=${session.cookieValue}`, pids: [process.pid] });
  return async () => {
    await gateway.close();
    if (!options.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  };
}

async function startPassThrough(options: GatewayProcessOptions): Promise<() => Promise<void>> {
  const { startHarness } = await import('./harness.js');
  const harness = await startHarness({ originUrl: options.originUrl });
  process.send!({ port: harness.port, cookie: '', pids: [process.pid] } satisfies GatewayProcessReady);
  return () => harness.close();
}

/** Cluster primary: starts the workers one after the other (schema migrations never race) on one port. */
async function startCluster(options: GatewayProcessOptions): Promise<() => Promise<void>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-gateway-process-'));
  const workers: Worker[] = [];
  let first: GatewayProcessReady | undefined;
  for (let i = 0; i < options.workers!; i++) {
    const worker = cluster.fork({ PORTHOLE_GATEWAY_WORKER: JSON.stringify({ ...options, dataDir, workers: 1 }) });
    const ready = await new Promise<GatewayProcessReady>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('exit', (code) => reject(new Error(`gateway worker exited early (${code})`)));
    });
    first ??= ready;
    workers.push(worker);
  }
  process.send!({ ...first!, pids: [process.pid, ...workers.map((w) => w.process.pid!)] } satisfies GatewayProcessReady);
  return async () => {
    await Promise.all(workers.map((w) => new Promise((resolve) => (w.once('exit', resolve), w.disconnect()))));
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
}

if (cluster.isWorker) {
  // Port 0 in a cluster worker is one port shared by all workers; the first one's answer is everyone's.
  const stop = await startWithGate(JSON.parse(process.env.PORTHOLE_GATEWAY_WORKER!) as GatewayProcessOptions, (ready) => process.send!(ready));
  process.on('disconnect', () => void stop().finally(() => process.exit(0)));
} else {
  const options = JSON.parse(process.argv[2] ?? '{}') as GatewayProcessOptions;
  const stop =
    options.mode === 'pass-through'
      ? await startPassThrough(options)
      : (options.workers ?? 1) > 1
        ? await startCluster(options)
        : await startWithGate(options, (ready) => process.send!(ready));
  process.on('disconnect', () => void stop().finally(() => process.exit(0)));
}
