// Porthole with its HTTPS port (self-signed certificate for both hosts) in a process of its own, for the
// first-screen and HTTP/2 benchmarks: its CPU is read from /proc apart from the browser, the client and the
// origin. Compiled into dist-bench/ by `npm run build:bench` and run by plain node, as `porthole serve` runs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { startGateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';

export interface TlsGatewayOptions {
  originUrl: string;
  privateHost: string;
  shareHost: string;
}

export interface TlsGatewayReady {
  httpPort: number;
  httpsPort: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as TlsGatewayOptions;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-bench-tls-'));
const config = parseConfig(
  {
    // The load comes from one address at thousands of requests per second: the request-rate limit stays on (its
    // cost is part of the measurement) with a budget no load generator here reaches.
    listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0, requestRate: { perSecond: 1_000_000, burst: 0 } },
    hosts: { private: options.privateHost, share: options.shareHost },
    publicScheme: 'https',
    origin: { url: options.originUrl },
    gate: { allow: ['bench@example.com'] },
    mail: { from: 'Porthole <porthole@example.com>', transport: 'console' },
    dataDir,
  },
  'benchmark gateway',
);
const gateway = await startGateway(
  config,
  createConsoleMailer(() => {}),
  silentLogger,
);
process.send!({ httpPort: gateway.httpPort, httpsPort: gateway.https!.port } satisfies TlsGatewayReady);
process.on(
  'disconnect',
  () =>
    void gateway.close().finally(() => {
      fs.rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    }),
);
