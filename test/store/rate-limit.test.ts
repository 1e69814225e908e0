// The one rate-limit wrapper fails closed: when the store cannot count or read (here: a limiter that throws, as
// a locked, closed or unreachable store does), every question is answered "refused, unavailable", never "ok", and
// the failure is logged once a minute, not once per request. Within the limit and over it, the verdicts count.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { createRateLimit } from '../../src/store/rate-limit.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { LimiterOptions } from '../../src/store/store.js';

/** A store whose limiter fails on every call, the way rate-limiter-flexible passes on a store error. */
const brokenStore = {
  limiter: (_name: string, _options: LimiterOptions) => {
    const fail = () => Promise.reject(new Error('SQLITE_BUSY: database is locked'));
    return { consume: fail, penalty: fail, get: fail, reward: fail } as unknown as RateLimiterAbstract;
  },
};

function errorLog() {
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  return { lines, logger: { error: (obj: Record<string, unknown>, msg: string) => void lines.push({ obj, msg }) } };
}

test('a store that cannot count refuses: consume, peek and penalty all answer unavailable, and one log line says so', async () => {
  const { lines, logger } = errorLog();
  const limit = createRateLimit(brokenStore, 'gate_code_ip', { points: 5, durationSeconds: 3600 }, logger as never);
  for (let i = 0; i < 20; i++) {
    const verdict = await limit.consume('192.0.2.1');
    assert.equal(verdict.ok, false, 'never let through on a count that failed');
    assert.equal(verdict.unavailable, true);
    assert.ok(verdict.retryAfterSeconds >= 1);
  }
  const peeked = await limit.peek('192.0.2.1');
  assert.deepEqual([peeked.ok, peeked.unavailable], [false, true]);
  const penalised = await limit.penalty('192.0.2.1');
  assert.deepEqual([penalised.ok, penalised.unavailable], [false, true]);
  await limit.reward('192.0.2.1');
  assert.equal(lines.length, 4, 'one line per kind of failed call (consume, peek, penalty, reward) within the minute, not one per request');
  assert.ok(lines.every((line) => line.obj.limit === 'gate_code_ip' && /refusing/.test(line.msg)));
});

test('a working store: within the limit ok, over it refused with the time left, peek and penalty read and add', async () => {
  const store = openSqliteStore(':memory:');
  const { lines, logger } = errorLog();
  const limit = createRateLimit(store, 'gate_verify_ip', { points: 2, durationSeconds: 3600 }, logger as never);
  assert.deepEqual((await limit.consume('a')).ok, true);
  assert.deepEqual((await limit.peek('a')).consumed, 1);
  assert.equal((await limit.consume('a')).ok, true);
  const over = await limit.consume('a');
  assert.deepEqual([over.ok, over.unavailable], [false, false]);
  assert.ok(over.retryAfterSeconds > 3000 && over.retryAfterSeconds <= 3600, String(over.retryAfterSeconds));
  assert.equal((await limit.peek('a')).ok, false, 'at the limit, a read says refused');
  assert.equal((await limit.peek('b')).ok, true);
  assert.equal((await limit.penalty('b')).consumed, 1);
  await limit.reward('b');
  assert.equal((await limit.peek('b')).consumed, 0);
  assert.deepEqual(lines, []);
  store.close();
});
