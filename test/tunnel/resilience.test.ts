// Resilience through a real tunnel and the real gateway (gate, proxy, origin pool over tunnel streams): gateway
// restart, revoked token, wrong gateway certificate, dead link found by keepalive, several connectors with one
// killed, and a connector killed mid-upload 20 times.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { startOrigin, patternStream, type TestOrigin } from './fixtures/origin.js';
import { signedIn, startGateway, tempDir, type TestGateway } from './fixtures/gateway.js';
import { spawnConnector } from './fixtures/connector-process.js';
import { startFreezeProxy } from './fixtures/freeze-proxy.js';
import { createTunnelToken } from '../../src/tunnel/token-store.js';
import { openTunnelTokenStore } from '../../src/tunnel/gateway-tunnel.js';
import { encodeToken } from '../../src/tunnel/token.js';

let origin: TestOrigin;
before(async () => {
  origin = await startOrigin();
});
after(async () => {
  await origin.close();
});

test('after a gateway restart the connector comes back by itself', async () => {
  const d = tempDir();
  let g = await startGateway({ dataDir: d.dir });
  const tlsPort = g.tlsPort;
  const httpPort = g.httpPort;
  const headers = g.headers;
  const c = spawnConnector({ token: g.newToken().token, origin: origin.url.href });
  try {
    await c.waitFor('connected');
    assert.equal((await g.request('/hello')).status, 200);
    await g.close();
    await c.waitFor('disconnected');
    g = await startGateway({ dataDir: d.dir, tlsPort, httpPort });
    const restartedAt = Date.now();
    await c.waitFor('connected', 2);
    await g.waitForConnectors(1);
    // Informational only (timing is the bench's business): the backoff cap is what bounds this.
    process.stdout.write(`# reconnected ${Date.now() - restartedAt} ms after the gateway came back\n`);
    assert.equal(g.httpPort, httpPort);
    // The session lives in the store on disk, so the first session's cookie still works after the restart.
    assert.equal((await g.request('/hello', { headers })).status, 200);
  } finally {
    await c.kill();
    await g.close();
    d.remove();
  }
});

test('revoking a token (from another process) drops its live connector and refuses it afterwards', async () => {
  const d = tempDir();
  const g = await startGateway({ dataDir: d.dir });
  const { id, token } = g.newToken('to-revoke');
  const c = spawnConnector({ token, origin: origin.url.href });
  let again: ReturnType<typeof spawnConnector> | undefined;
  try {
    await c.waitFor('connected');
    await g.waitForConnectors(1);
    // The CLI revokes through its own database connection, as `porthole tunnel token revoke` would.
    const cli = openTunnelTokenStore(d.dir);
    assert.equal(cli.store.revoke(id, Date.now()), true);
    cli.close();
    await c.waitFor('refused');
    assert.equal(await c.exited, 3);
    assert.equal(g.hub.status().connectors.length, 0);
    assert.equal((await g.request('/hello')).status, 503);

    again = spawnConnector({ token, origin: origin.url.href });
    await again.waitFor('refused');
    assert.equal(await again.exited, 3);
    assert.equal(
      again.events.some((e) => e.event === 'connected'),
      false,
    );
    assert.equal(g.hub.status().connectors.length, 0);
  } finally {
    await c.kill();
    await again?.kill();
    await g.close();
    d.remove();
  }
});

test('a connector refuses a gateway whose certificate does not match, and never sends its secret', async () => {
  const d = tempDir();
  const other = tempDir();
  const g = await startGateway({ dataDir: d.dir });
  const impostor = await startGateway({ dataDir: other.dir });
  assert.notEqual(impostor.certificate.fingerprint, g.certificate.fingerprint);
  const { id, secret } = createTunnelToken(impostor.tokens, 'stolen-route');
  // Pinned to g's certificate, but the address leads to the impostor.
  const pinnedWrong = encodeToken({ id, secret, gateway: `127.0.0.1:${impostor.tlsPort}`, fingerprint: g.certificate.fingerprint });
  // No pin: the self-signed certificate fails public-CA verification.
  const unpinned = encodeToken({ id, secret, gateway: `127.0.0.1:${impostor.tlsPort}`, fingerprint: null });
  const a = spawnConnector({ token: pinnedWrong, origin: origin.url.href });
  const b = spawnConnector({ token: unpinned, origin: origin.url.href });
  try {
    const rejected = await a.waitFor('certificate-rejected');
    assert.match(String(rejected.detail), /does not match the pinned/);
    await a.waitFor('certificate-rejected', 2); // keeps refusing on retry
    await b.waitFor('certificate-rejected');
    assert.equal(impostor.hub.status().connectors.length, 0);
    assert.equal(impostor.tokens.list()[0]?.lastUsedAt, null, 'the impostor never saw the secret');
  } finally {
    await a.kill();
    await b.kill();
    await impostor.close();
    await g.close();
    d.remove();
    other.remove();
  }
});

test('keepalive pings find a link that died silently, and the connector reconnects', async () => {
  const d = tempDir();
  const keepalive = { intervalMs: 150, timeoutMs: 300 };
  const g = await startGateway({ dataDir: d.dir, keepalive });
  const proxy = await startFreezeProxy(g.tlsPort);
  const c = spawnConnector({ token: g.newToken().token, origin: origin.url.href, gateway: `127.0.0.1:${proxy.port}`, keepalive });
  try {
    const first = await c.waitFor('connected');
    await g.waitForConnectors(1);
    const gatewayNoticed = new Promise((resolve) => g.hub.once('disconnected', resolve));
    proxy.freeze();
    assert.equal(await gatewayNoticed, first.detail);
    await c.waitFor('disconnected');
    const second = await c.waitFor('connected', 2);
    assert.notEqual(second.detail, first.detail);
    assert.equal((await g.request('/hello')).status, 200);
  } finally {
    await c.kill();
    await proxy.close();
    await g.close();
    d.remove();
  }
});

function startDownload(g: TestGateway, size: number): { firstByte: Promise<http.IncomingMessage>; result: Promise<number> } {
  let res!: (r: http.IncomingMessage) => void;
  const firstByte = new Promise<http.IncomingMessage>((r) => (res = r));
  const result = new Promise<number>((resolve, reject) => {
    http
      .get(signedIn(g, `/download?size=${size}`), (r) => {
        let n = 0;
        r.once('data', (chunk: Buffer) => {
          n += chunk.length;
          r.pause();
          res(r);
          r.on('data', (c: Buffer) => (n += c.length));
        });
        r.on('end', () => resolve(n));
        r.on('aborted', () => reject(new Error('aborted')));
        r.on('error', reject);
      })
      .on('error', reject);
  });
  result.catch(() => {});
  return { firstByte, result };
}

test('two connectors: killing one fails only its in-flight stream and new requests go to the other', async () => {
  const d = tempDir();
  const g = await startGateway({ dataDir: d.dir });
  const a = spawnConnector({ token: g.newToken('a').token, origin: origin.url.href, name: 'a' });
  const b = spawnConnector({ token: g.newToken('b').token, origin: origin.url.href, name: 'b' });
  try {
    const idA = (await a.waitFor('connected')).detail;
    await b.waitFor('connected');
    await g.waitForConnectors(2);
    const size = 64 * 1024 * 1024;
    const d1 = startDownload(g, size);
    const r1 = await d1.firstByte;
    const d2 = startDownload(g, size);
    const r2 = await d2.firstByte;
    // Least-loaded spreading put one download on each connector.
    assert.deepEqual(
      g.hub
        .status()
        .connectors.map((c) => c.openStreams)
        .sort(),
      [1, 1],
    );
    const gone = new Promise((resolve) => g.hub.once('disconnected', resolve));
    await a.kill();
    assert.equal(await gone, idA);
    r1.resume();
    r2.resume();
    const outcomes = await Promise.allSettled([d1.result, d2.result]);
    const ok = outcomes.filter((o) => o.status === 'fulfilled');
    assert.equal(ok.length, 1, 'exactly the stream on the killed connector failed');
    assert.equal((ok[0] as PromiseFulfilledResult<number>).value, size);
    const replies = await Promise.all(Array.from({ length: 20 }, () => g.request('/hello')));
    assert.deepEqual(
      replies.map((r) => r.status),
      Array(20).fill(200),
    );
    assert.equal(g.hub.status().connectors[0]?.name, 'b');
  } finally {
    await a.kill();
    await b.kill();
    await g.close();
    d.remove();
  }
});

test('connector killed mid-upload 20 times: the client never sees success, the origin never a whole body', async () => {
  const d = tempDir();
  const g = await startGateway({ dataDir: d.dir });
  const { token } = g.newToken('upload');
  const size = 64 * 1024 * 1024;
  const outcomes: string[] = [];
  try {
    for (let i = 0; i < 20; i++) {
      const c = spawnConnector({ token, origin: origin.url.href });
      await c.waitFor('connected');
      await g.waitForConnectors(1);
      const id = `kill-${i}`;
      let release!: () => void;
      const killed = new Promise<void>((r) => (release = r));
      // The client holds back the rest of its body until the connector is dead, so it can never have
      // sent everything before the cut.
      const body = patternStream(size, async (sent) => {
        if (sent >= 8 * 1024 * 1024) await killed;
      });
      const chunked = i % 2 === 1;
      const reply = g
        .request(`/upload?id=${id}`, {
          method: 'POST',
          body,
          headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': size },
        })
        .then(
          (r) => `status ${r.status}`,
          (err: Error) => `error ${err.message}`,
        );
      // The upload must have reached the origin before the cut; an answer before that is a failure, not a hang.
      await Promise.race([origin.uploadProgress(id, 1024 * 1024), reply.then((outcome) => Promise.reject(new Error(`upload ${i} ended before reaching the origin: ${outcome}`)))]);
      const gone = new Promise((resolve) => g.hub.once('disconnected', resolve));
      await c.kill('SIGKILL');
      await gone;
      release();
      const outcome = await reply;
      outcomes.push(outcome);
      assert.doesNotMatch(outcome, /^status 2/, `upload ${i} (${chunked ? 'chunked' : 'content-length'}) looked successful`);
      assert.equal(origin.completeUploads.has(id), false, `origin saw a complete body for upload ${i}`);
    }
    process.stdout.write(`# outcomes: ${[...new Set(outcomes)].join('; ')}\n`);
  } finally {
    await g.close();
    d.remove();
  }
});
