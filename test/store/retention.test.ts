// The audit log keeps events for config auditRetention: a gateway deletes older ones when it starts (and
// hourly after), and keeps everything newer.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startGateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { configFor } from '../share/harness.js';

const DAY = 86_400_000;

test('a gateway deletes audit events older than auditRetention and keeps the rest', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-retention-'));
  const store = openSqliteStore(dataDir);
  const now = Date.UTC(2026, 10, 27);
  store.audit.record({ type: 'code.wrong', email: 'old@example.com', at: now - 31 * DAY });
  store.audit.record({ type: 'code.wrong', email: 'edge@example.com', at: now - 29 * DAY });
  store.audit.record({ type: 'session.created', email: 'new@example.com', at: now - 1000 });
  const gateway = await startGateway(
    configFor('http://127.0.0.1:9', dataDir, { auditRetention: '30d' }),
    createConsoleMailer(() => undefined),
    silentLogger,
    { store, now: () => now },
  );
  try {
    assert.deepEqual(
      store.audit
        .list()
        .map((e) => e.email)
        .sort(),
      ['edge@example.com', 'new@example.com'],
    );
  } finally {
    await gateway.close();
    store.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('auditRetention is validated like every duration', async () => {
  const { parseConfig, ConfigError } = await import('../../src/config/load.js');
  const base = {
    hosts: { private: 'p.example' },
    origin: { url: 'http://immich:2283' },
    gate: { allow: ['a@example.com'] },
    mail: { from: 'a@example.com', transport: 'console' },
  };
  assert.equal(parseConfig({ ...base }).auditRetention, 180 * DAY);
  assert.throws(
    () => parseConfig({ ...base, auditRetention: 'forever' }),
    (e: unknown) => e instanceof ConfigError && /auditRetention/.test(e.message),
  );
});
