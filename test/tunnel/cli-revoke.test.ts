// Revocations by the real command line reach the running gateway through the store's one change signal: `porthole
// tunnel token revoke` (another process writing the SQLite file) drops the attached connector, and `porthole
// sessions revoke` ends a session, each waited on as an event (the connector's refusal, the store's change) with
// a generous bound, never a fixed sleep. The times are reported; before the change feed the tunnel polled every 2 s.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { issueSession } from '../../src/gate/session.js';
import type { ChangeKind } from '../../src/store/store.js';
import { spawnConnector } from './fixtures/connector-process.js';
import { PRIVATE_HOST, startGateway, tempDir, type TestGateway } from './fixtures/gateway.js';
import { startOrigin, type TestOrigin } from './fixtures/origin.js';

/** Generous: the change arrives within about a second; the machine running the tests may be busy. */
const BOUND_MS = 10_000;
const CLI = path.resolve('src/cli/main.ts');

let d: ReturnType<typeof tempDir>;
let g: TestGateway;
let origin: TestOrigin;
let configFile: string;

before(async () => {
  d = tempDir();
  origin = await startOrigin();
  g = await startGateway({ dataDir: d.dir });
  configFile = path.join(d.dir, 'cli.yaml');
  fs.writeFileSync(
    configFile,
    [
      'listen: { httpsPort: 8443 }',
      `hosts: { private: ${PRIVATE_HOST} }`,
      'origin: { url: "http://immich-server:2283" }',
      'gate: { allow: ["tunnel@example.com"] }',
      'mail: { from: "p@example.com", transport: console }',
      'tunnel: { enabled: true, publicAddress: "127.0.0.1:443" }',
      `dataDir: ${JSON.stringify(d.dir)}`,
    ].join('\n'),
  );
});
after(async () => {
  await g?.close();
  await origin?.close();
  d?.remove();
});

function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Resolves on the store's next announced change of `kind`, rejects after BOUND_MS. */
function nextChange(kind: ChangeKind): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (stop(), reject(new Error(`no ${kind} change reached the gateway within ${BOUND_MS} ms`))), BOUND_MS);
    const stop = g.gateway.deps.store.changes.subscribe((change) => {
      if (change.kind !== kind) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}

/** Rejects after BOUND_MS with `what`. */
const bounded = <T>(promise: Promise<T>, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${BOUND_MS} ms`)), BOUND_MS)));
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
};

test('`porthole tunnel token revoke` in another process drops the attached connector', async (t) => {
  const { id, token } = g.newToken('revoked-by-cli');
  const connector = spawnConnector({ token, origin: origin.url.href });
  try {
    await connector.waitFor('connected');
    await g.waitForConnectors(1);
    const refused = connector.waitFor('refused');
    refused.catch(() => undefined);
    const revoked = await cli('tunnel', 'token', 'revoke', id);
    const writtenAt = Date.now();
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`Revoked ${id}`));
    await bounded(refused, 'the connector was not dropped');
    t.diagnostic(`connector dropped ${Date.now() - writtenAt} ms after the CLI exited`);
    assert.equal(await connector.exited, 3, 'a refused token ends the connector');
    assert.equal(g.hub.status().connectors.length, 0);
  } finally {
    await connector.kill();
  }
});

test('`porthole sessions revoke` in another process ends the session at the running gateway', async (t) => {
  const connector = spawnConnector({ token: g.newToken('for-requests').token, origin: origin.url.href });
  try {
    await connector.waitFor('connected');
    const session = issueSession(g.gateway.deps.store, g.gateway.deps.config, 'tunnel@example.com');
    const headers = { cookie: `${session.cookieName}=${session.cookieValue}` };
    assert.equal((await g.request('/hello', { headers })).status, 200, "the session works, and is now in the gate's cache");
    const changed = nextChange('session');
    changed.catch(() => undefined);
    const revoked = await cli('sessions', 'revoke', session.id);
    const writtenAt = Date.now();
    assert.equal(revoked.status, 0, revoked.stderr);
    await changed;
    t.diagnostic(`session revocation reached the gateway ${Date.now() - writtenAt} ms after the CLI exited`);
    assert.equal((await g.request('/hello', { headers })).status, 401, 'the cached session no longer opens the door');
  } finally {
    await connector.kill();
  }
});
