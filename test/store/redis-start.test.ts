// A Redis store opened the way the gateway opens it (whenUnreachable: 'start-unavailable') before its Redis is
// up, on a real redis-server: it starts unavailable and says why (once, with the address and what to check, never
// the password), refuses nothing it could not have refused anyway, and loads the shared state by itself when
// Redis answers. A wrong password is the same: the store keeps trying, says "Redis refused the password", and is
// available as soon as the passwords agree. The command line's way ('reject', the default) still fails at once,
// naming the cause. Waits are polls with deadlines; the retries are counted at a listener, not slept through.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { openRedisStore } from '../../src/store/redis/index.js';
import { createRateLimit } from '../../src/store/rate-limit.js';
import { silentLogger } from '../../src/log.js';
import type { SessionRecord } from '../../src/store/store.js';
import { startTestRedis } from './redis-server.js';

interface Line {
  level: 'error' | 'warn' | 'info';
  obj: Record<string, unknown>;
  msg: string;
}

/** The store's logger, keeping every line (as pino would be called). */
function recordingLogger(): { lines: Line[]; logger: Record<Line['level'], (obj: object, msg: string) => void> } {
  const lines: Line[] = [];
  const at = (level: Line['level']) => (obj: object, msg: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, logger: { error: at('error'), warn: at('warn'), info: at('info') } };
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const session = (id: string): SessionRecord => ({
  id,
  tokenHash: `hash-${id}`,
  email: 'alice@example.com',
  createdAt: 1_000,
  expiresAt: Date.now() + 3_600_000,
  lastSeenAt: 1_000,
  ip: null,
  userAgent: null,
});

/** Listens where Redis will, and drops every connection at once: a Redis that is not there yet, with a count. */
async function nobodyHome(port: number): Promise<{ attempts: () => number; close: () => Promise<void> }> {
  let attempts = 0;
  const server = net.createServer((socket) => {
    attempts++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  return { attempts: () => attempts, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

test('opened before Redis runs: unavailable, said once with the address, and loaded by itself when Redis starts', async () => {
  const redis = await startTestRedis();
  const { lines, logger } = recordingLogger();
  let store: Awaited<ReturnType<typeof openRedisStore>> | undefined;
  try {
    // What was there before the power cut: a session, saved to disk as a persistent Redis keeps it.
    const before = await openRedisStore({ url: redis.url, logger: silentLogger });
    before.sessions.create(session('kept'));
    await before.drain();
    await before.closeAsync();
    assert.match(await redis.command('SAVE'), /\+OK/);
    await redis.kill();

    const gone = await nobodyHome(redis.port);
    try {
      store = await openRedisStore({ url: redis.url, logger, maxReconnectDelayMs: 100, whenUnreachable: 'start-unavailable' });
      const opened = store;
      assert.notEqual(opened.unavailable(), null, 'unavailable from the first moment: the mirror is empty');
      // Three connections, each retried: enough attempts that a line per attempt would show.
      await until(() => gone.attempts() >= 12, 'the store to keep dialling');
      assert.equal(opened.unavailable()?.reason, 'cannot reach Redis');
      const down = lines.filter((l) => l.level === 'error' && l.obj.reason === 'cannot reach Redis');
      assert.equal(down.length, 1, `one line for ${gone.attempts()} failed attempts: ${JSON.stringify(lines.map((l) => l.msg))}`);
      assert.ok(down[0]!.msg.includes(`redis://127.0.0.1:${redis.port}`), down[0]!.msg);
      assert.match(String(down[0]!.obj.check), /Redis runs and store\.url names its host and port/);
      const limit = await createRateLimit(opened, 'start_test', { points: 10, durationSeconds: 60 }, silentLogger).consume('k');
      assert.equal(limit.unavailable, true, 'limits refuse while Redis is away');
    } finally {
      await gone.close();
    }

    await redis.start();
    const opened = store;
    await until(() => opened.unavailable() === null, 'the store to load once Redis answers');
    assert.equal(opened.sessions.findByTokenHash('hash-kept')?.id, 'kept', 'the mirror was loaded from Redis');
    assert.ok(
      lines.some((l) => l.level === 'info' && l.msg === 'store available: Redis answers, mirror loaded'),
      'and the log says it is available',
    );
    opened.sessions.create(session('after'));
    await opened.drain();
    assert.equal(await redis.command('HEXISTS', 'porthole:records:session', 'after'), ':1\r\n+OK\r\n', 'writes reach Redis');
    assert.equal((await createRateLimit(opened, 'start_test', { points: 10, durationSeconds: 60 }, silentLogger).consume('k')).ok, true);
  } finally {
    await store?.closeAsync();
    await redis.close();
  }
});

test('a wrong password: the command line is told at once; the gateway starts unavailable saying so, and recovers when the passwords agree', async () => {
  const redis = await startTestRedis({ password: 'right-horse-battery' });
  const { lines, logger } = recordingLogger();
  let store: Awaited<ReturnType<typeof openRedisStore>> | undefined;
  try {
    await assert.rejects(openRedisStore({ url: redis.url, password: 'wrong-staple', logger: silentLogger }), (error: Error) => {
      assert.match(error.message, new RegExp(`^Redis refused the password at redis://127\\.0\\.0\\.1:${redis.port} `));
      assert.doesNotMatch(error.message, /wrong-staple|right-horse/);
      return true;
    });

    store = await openRedisStore({ url: redis.url, password: 'wrong-staple', logger, maxReconnectDelayMs: 100, whenUnreachable: 'start-unavailable' });
    const opened = store;
    await until(() => opened.unavailable()?.reason === 'Redis refused the password', 'the store to say the password was refused');
    const said = lines.filter((l) => l.obj.reason === 'Redis refused the password');
    assert.equal(said.length, 1);
    assert.ok(said[0]!.msg.includes(`redis://127.0.0.1:${redis.port}`));
    assert.match(String(said[0]!.obj.check), /store\.password/);
    assert.doesNotMatch(JSON.stringify(lines), /wrong-staple|right-horse/, 'no password in any line');

    // Redis's password changed to the one configured (or the other way round, after a restart): no restart needed here.
    assert.match(await redis.command('CONFIG', 'SET', 'requirepass', 'wrong-staple'), /\+OK/);
    await until(() => opened.unavailable() === null, 'the store to load once the password is accepted');
  } finally {
    await store?.closeAsync();
    await redis.close();
  }
});
