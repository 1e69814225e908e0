// With the tunnel's home connector away, share links say "offline" (503) instead of the share host's 404,
// without trying a link lookup that could only fail.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startGateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';
import type { Origin } from '../../src/origin/origin.js';
import { OriginPool } from '../../src/proxy/lean-client.js';
import { configFor, send } from './harness.js';

test('share links answer 503 tunnel-offline while no connector is attached', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-share-offline-'));
  const agent = new http.Agent({ keepAlive: false });
  let dialled = 0;
  const origin: Origin = {
    agent: Object.assign(new http.Agent(), { createConnection: () => (dialled++, null as never) }),
    leanPool: new OriginPool({ kind: 'stream', open: () => (dialled++, new Error('no connector')) }),
    target: { protocol: 'http:', hostname: '127.0.0.1', port: 9 },
    describe: () => 'tunnel (test)',
    unavailable: () => ({ kind: 'tunnel-offline', since: null }),
    close: async () => undefined,
  };
  const gateway = await startGateway(configFor('http://127.0.0.1:9', dataDir, {}), createConsoleMailer(() => undefined), silentLogger, { origin });
  try {
    const page = await send(gateway.httpPort, agent, `/share/${'k'.repeat(67)}`);
    assert.equal(page.status, 503);
    const api = await send(gateway.httpPort, agent, `/api/assets/00000000-0000-4000-8000-000000000108/thumbnail?key=${'k'.repeat(67)}`);
    assert.equal(api.status, 503);
    assert.equal((await send(gateway.httpPort, agent, '/api/users/me')).status, 404, 'policy refusals stay 404');
    assert.equal(dialled, 0);
  } finally {
    agent.destroy();
    await gateway.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
