// A Redis store opened the way the gateway opens it (whenUnreachable: 'start-unavailable') before its Redis is
// up, on a real redis-server: it starts unavailable and says why (once, with the address and what to check, never
// the password), refuses nothing it could not have refused anyway, and loads the shared state by itself when
// Redis answers. A wrong password is the same: the store keeps trying, says "Redis refused the password", and is
// available as soon as the passwords agree. The command line's way ('reject', the default) still fails at once,
// naming the cause. Waits are polls with deadlines; the retries are counted at a listener, not slept through.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { openRedisStore } from '../../src/store/redis/index.js';
import { createRateLimit } from '../../src/store/rate-limit.js';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import type { SessionRecord } from '../../src/store/store.js';
import { startTestRedis } from './redis-server.js';
import { until } from '../until.js';

interface Line {
  level: number;
  reason?: string;
  check?: string;
  msg: string;
}
const ERROR = 50;
const INFO = 30;

/** A real logger writing JSON lines that the test keeps, parsed, and as text (to look for a password). */
function recordingLogger(): { lines: Line[]; text: () => string; logger: Logger } {
  const lines: Line[] = [];
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Line);
      done();
    },
  });
  return { lines, text: () => text, logger: createLogger('info', sink) };
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
      const down = lines.filter((l) => l.level === ERROR && l.reason === 'cannot reach Redis');
      assert.equal(down.length, 1, `one line for ${gone.attempts()} failed attempts: ${JSON.stringify(lines.map((l) => l.msg))}`);
      assert.ok(down[0]!.msg.includes(`redis://127.0.0.1:${redis.port}`), down[0]!.msg);
      assert.match(String(down[0]!.check), /Redis runs and store\.url names its host and port/);
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
      lines.some((l) => l.level === INFO && l.msg === 'store available: Redis answers, mirror loaded'),
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
  const { lines, text, logger } = recordingLogger();
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
    const said = lines.filter((l) => l.reason === 'Redis refused the password');
    assert.equal(said.length, 1);
    assert.ok(said[0]!.msg.includes(`redis://127.0.0.1:${redis.port}`));
    assert.match(String(said[0]!.check), /store\.password/);
    assert.doesNotMatch(text(), /wrong-staple|right-horse/, 'no password in any line');

    // Redis's password changed to the one configured (or the other way round, after a restart): no restart needed here.
    assert.match(await redis.command('CONFIG', 'SET', 'requirepass', 'wrong-staple'), /\+OK/);
    await until(() => opened.unavailable() === null, 'the store to load once the password is accepted');
  } finally {
    await store?.closeAsync();
    await redis.close();
  }
});
