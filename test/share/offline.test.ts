// With the tunnel's home connector away, share links say "temporarily unavailable" (503) instead of the share
// host's 404, without trying a link lookup that could only fail; the same neutral page when Immich itself cannot
// be reached. How Porthole reaches the photos is for the private host and the logs, not for guests.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startGateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';
import type { Origin } from '../../src/origin/origin.js';
import { OriginPool } from '../../src/origin/pool.js';
import { configFor, send } from './harness.js';

test('share links answer 503 tunnel-offline while no connector is attached', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-share-offline-'));
  const agent = new http.Agent({ keepAlive: false });
  let dialled = 0;
  const origin: Origin = {
    pool: new OriginPool({ kind: 'stream', open: () => (dialled++, new Error('no connector')) }),
    target: { protocol: 'http:', hostname: '127.0.0.1', port: 9 },
    describe: () => 'tunnel (test)',
    unavailable: () => ({ kind: 'tunnel-offline', since: null }),
    close: async () => undefined,
  };
  const gateway = await startGateway(
    configFor('http://127.0.0.1:9', dataDir, {}),
    createConsoleMailer(() => undefined),
    silentLogger,
    { origin },
  );
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

/** A port that was just free: nothing listens there. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function withoutDate(reply: { status: number; headers: http.IncomingHttpHeaders; body: Buffer }): string {
  const headers = Object.entries(reply.headers)
    .filter(([name]) => !['date', 'connection', 'keep-alive'].includes(name))
    .sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify({ status: reply.status, headers, body: reply.body.toString('base64') });
}

test('guests see one neutral "temporarily unavailable" page, whether the tunnel is down or Immich cannot be reached', async () => {
  const dataDirs = [fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-share-offline-')), fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-share-unreachable-'))];
  const agent = new http.Agent({ keepAlive: false });
  const offlineOrigin: Origin = {
    pool: new OriginPool({ kind: 'stream', open: () => new Error('no connector') }),
    target: { protocol: 'http:', hostname: '127.0.0.1', port: 9 },
    describe: () => 'tunnel (test)',
    unavailable: () => ({ kind: 'tunnel-offline', since: new Date('2026-01-02T03:04:05Z') }),
    close: async () => undefined,
  };
  const offline = await startGateway(
    configFor('http://127.0.0.1:9', dataDirs[0]!, {}),
    createConsoleMailer(() => undefined),
    silentLogger,
    { origin: offlineOrigin },
  );
  const unreachable = await startGateway(
    configFor(`http://127.0.0.1:${await closedPort()}`, dataDirs[1]!, {}),
    createConsoleMailer(() => undefined),
    silentLogger,
  );
  try {
    const key = 'k'.repeat(67);
    const targets = [`/share/${key}`, '/s/family-trip', '/_app/immutable/entry/share.js'];
    for (const language of ['en', 'de'] as const) {
      const headers = { accept: 'text/html', 'accept-language': language };
      const faces = new Set<string>();
      for (const gateway of [offline, unreachable]) {
        for (const target of targets) {
          const reply = await send(gateway.httpPort, agent, target, { headers });
          assert.equal(reply.status, 503, `${target} ${language}`);
          faces.add(withoutDate(reply));
        }
      }
      assert.equal(faces.size, 1, `one ${language} page for the tunnel being down and for Immich being unreachable`);
      const page = await send(offline.httpPort, agent, targets[0]!, { headers });
      assert.match(page.text, /<meta name="viewport" content="width=device-width,initial-scale=1">/);
      assert.match(page.text, language === 'en' ? /<h1>Temporarily unavailable<\/h1>/ : /<h1>Vorübergehend nicht erreichbar<\/h1>/);
      assert.match(page.text, new RegExp(`<html lang="${language}">`));
      // Nothing about how Porthole reaches the photos, or since when.
      assert.doesNotMatch(page.text, /connector|tunnel|offline|immich|origin|docker|2026|ECONN/i);
    }
    const api = await send(unreachable.httpPort, agent, `/api/shared-links/me?key=${key}`, { headers: { accept: 'application/json' } });
    assert.equal(api.status, 503);
    assert.deepEqual(api.json(), { error: 'unavailable', message: 'Temporarily unavailable. Please try again later.', statusCode: 503 });
    assert.equal(withoutDate(api), withoutDate(await send(offline.httpPort, agent, `/api/shared-links/me?key=${key}`, { headers: { accept: 'application/json' } })));
  } finally {
    agent.destroy();
    await offline.close();
    await unreachable.close();
    for (const dir of dataDirs) fs.rmSync(dir, { recursive: true, force: true });
  }
});
