// The real gateway (listener, gate, proxy) in a process of its own, so a test or the benchmark can measure its
// memory and CPU apart from the client and the origin. Started by spawn-gateway.ts; it signs in one person
// with issueSession (no mail round trip) and reports its port and session cookie over IPC.
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
}

export interface GatewayProcessReady {
  port: number;
  /** Cookie header value of a signed-in session ('' in pass-through mode). */
  cookie: string;
}

async function startWithGate(options: GatewayProcessOptions): Promise<() => Promise<void>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-gateway-process-'));
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
  process.send!({ port: gateway.httpPort, cookie: `${session.cookieName}=${session.cookieValue}` } satisfies GatewayProcessReady);
  return async () => {
    await gateway.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
}

async function startPassThrough(options: GatewayProcessOptions): Promise<() => Promise<void>> {
  const { startHarness } = await import('./harness.js');
  const harness = await startHarness({ originUrl: options.originUrl });
  process.send!({ port: harness.port, cookie: '' } satisfies GatewayProcessReady);
  return () => harness.close();
}

const options = JSON.parse(process.argv[2] ?? '{}') as GatewayProcessOptions;
const stop = options.mode === 'pass-through' ? await startPassThrough(options) : await startWithGate(options);
process.on('disconnect', () => void stop().finally(() => process.exit(0)));
