// nghttp2 ends a session once its client has reset more than 1,000 streams at over 33 a second (its defence
// against the "rapid reset" flood), and Node 20 cannot raise that limit. On the tunnel the gateway is the client,
// so answers that close their connection, idle keep-alive connections and viewers who leave mid-download must not
// cost a reset from the gateway: each of these tests passes 1,000 such closes, and before the gateway closed
// streams gently (or asked the connector to reset them) the tunnel went down under every one. A connector whose
// session ends that way anyway (an older gateway) must dial again, never stop.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { after, before, test } from 'node:test';
import type http2 from 'node:http2';
import { startOrigin, type TestOrigin } from './fixtures/origin.js';
import { signedIn, startGateway, tempDir, type TestGateway } from './fixtures/gateway.js';
import { spawnConnector, type ConnectorProcess } from './fixtures/connector-process.js';
import { until } from '../until.js';

const CLOSES = 1_100;
const PARALLEL = 16;

let origin: TestOrigin;
let dir: ReturnType<typeof tempDir>;
let g: TestGateway;
before(async () => {
  origin = await startOrigin();
  dir = tempDir();
  g = await startGateway({ dataDir: dir.dir });
});
after(async () => {
  await g.close();
  await origin.close();
  dir.remove();
});

async function inParallel(total: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < total) await one(next++);
    }),
  );
}

/** Fails the test if the connector lost its link while `body` ran. */
async function withOneLink(c: ConnectorProcess, body: () => Promise<void>): Promise<void> {
  await c.waitFor('connected');
  await g.waitForConnectors(1);
  const id = g.hub.status().connectors[0]!.id;
  await body();
  assert.deepEqual(
    c.events.filter((e) => e.event !== 'connected').map((e) => e.event),
    [],
    'the connector never lost its link',
  );
  assert.deepEqual(
    g.hub.status().connectors.map((x) => x.id),
    [id],
    'the gateway still has the same connector',
  );
  assert.equal((await g.request('/hello')).status, 200);
}

test('a thousand answers that close their connection leave the tunnel up', async () => {
  const c = spawnConnector({ token: g.newToken().token, origin: origin.url.href });
  try {
    await withOneLink(c, async () => {
      await inParallel(CLOSES, async () => {
        const reply = await g.request('/close');
        assert.equal(reply.status, 200);
        assert.equal(reply.body.toString(), 'closing');
      });
    });
  } finally {
    await c.kill();
  }
});

test('a thousand viewers who leave mid-answer leave the tunnel up, and each origin connection is cut', async () => {
  const c = spawnConnector({ token: g.newToken().token, origin: origin.url.href });
  const cutBefore = origin.dripsCut;
  try {
    await withOneLink(c, async () => {
      await inParallel(CLOSES, async () => {
        await new Promise<void>((resolve, reject) => {
          const req = http.get(signedIn(g, '/drip'), (res) => {
            assert.equal(res.statusCode, 200);
            // The first bytes arrived; the viewer goes.
            res.once('data', () => req.destroy());
            res.once('close', resolve);
          });
          req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(err)));
        });
      });
      // The connector reset each stream's origin connection when the gateway asked: none is left waiting.
      await until(() => origin.dripsCut - cutBefore >= CLOSES, `${CLOSES} cut answers at the origin (${origin.dripsCut - cutBefore})`);
    });
  } finally {
    await c.kill();
  }
});

test('`porthole connect` dials again after a flood of resets ended its session', async () => {
  const { token } = g.newToken('flooded');
  const child = spawn(process.execPath, ['bin/porthole.js', 'connect', '--origin', origin.url.href, '--name', 'flooded'], {
    env: { ...process.env, PORTHOLE_TUNNEL_TOKEN: token },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    await g.waitForConnectors(1);
    const first = g.hub.status().connectors[0]!.id;
    // As a gateway from before gentle closes would: every stream reset from this side.
    let resets = 0;
    while (resets < CLOSES && g.hub.status().connectors[0]?.id === first) {
      const stream = g.hub.origin.pool.openRaw() as unknown as http2.ClientHttp2Stream;
      await new Promise((resolve) => {
        stream.once('response', resolve);
        stream.once('close', resolve);
        stream.on('error', () => {});
      });
      stream.destroy();
      resets++;
    }
    await until(() => g.hub.status().connectors.some((x) => x.id !== first), `a new link after ${resets} resets; connector stderr: ${stderr}`);
    assert.equal(child.exitCode, null, 'the connector is still running');
    assert.equal((await g.request('/hello')).status, 200);
  } finally {
    child.kill('SIGKILL');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
  }
});
