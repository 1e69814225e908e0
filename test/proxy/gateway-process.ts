// The real gateway (listener, gate, proxy) in a process of its own, so a test can measure its memory and CPU
// apart from the client and the origin. Started by spawn-gateway.ts; it signs in one person with issueSession
// (no mail round trip) and reports its port and session cookie over IPC. The benchmark runs this file as compiled
// into dist-bench/ by `npm run build:bench`.
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
  /** Turn Prometheus metrics on (a loopback port of its own), to measure what they cost. */
  metrics?: boolean;
}

export interface GatewayProcessReady {
  port: number;
  /** Cookie header value of a signed-in session. */
  cookie: string;
  /** The processes doing the gateway's work. */
  pids: number[];
}

const options = JSON.parse(process.argv[2] ?? '{}') as GatewayProcessOptions;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-gateway-process-'));
const config = parseConfig(
  {
    // The load comes from one address at thousands of requests per second: the request-rate limit stays on (its
    // cost is part of the measurement) with a budget no load generator here reaches.
    listen: { address: '127.0.0.1', httpPort: 0, requestRate: { perSecond: 1_000_000, burst: 0 } },
    hosts: { private: options.host },
    publicScheme: 'http',
    origin: { url: options.originUrl },
    gate: { allow: ['bench@example.com'] },
    mail: { from: 'Porthole <porthole@example.com>', transport: 'console' },
    dataDir,
    proxy: options.maxBodySize ? { maxBodySize: options.maxBodySize } : {},
    metrics: options.metrics ? { listen: '127.0.0.1:0' } : {},
  },
  'gateway process',
);
const gateway = await startGateway(
  config,
  createConsoleMailer(() => {}),
  silentLogger,
);
const session = issueSession(gateway.deps.store, config, 'bench@example.com');
process.send!({ port: gateway.httpPort, cookie: `${session.cookieName}=${session.cookieValue}`, pids: [process.pid] } satisfies GatewayProcessReady);
process.on(
  'disconnect',
  () =>
    void gateway.close().finally(() => {
      fs.rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    }),
);
