// Refusals anyone can cause are logged as one line, then summaries: never one line per refused socket.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RefusalSummary } from '../../src/listener/refusal-log.js';

test('10,000 refusals from 300 addresses make one line, then one summary per interval with counts and the busiest addresses', async () => {
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const summary = new RefusalSummary({ warn: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }) }, 'test: refused', 200);
  let firsts = 0;
  for (let i = 0; i < 10_000; i++) {
    const address = i % 2 === 0 ? '192.0.2.1' : `198.51.100.${i % 299}`;
    if (summary.note(i % 3 === 0 ? 'slow' : 'cap', address)) firsts++;
  }
  assert.equal(lines.length, 1, 'the first refusal is logged at once, the rest wait for the summary');
  // One "first" per (reason, address) pair: what callers use to keep audit rows to one per address and interval.
  assert.equal(firsts, 2 + 299 * 2);
  await new Promise<void>((resolve) => {
    const check = setInterval(() => lines.length >= 2 && (clearInterval(check), resolve()), 20);
  });
  const [, second] = lines;
  assert.match(second!.msg, /summary/);
  assert.equal(second!.obj.refused, 9_999);
  assert.deepEqual(second!.obj.reasons, { slow: 3333, cap: 6666 });
  assert.equal((second!.obj.top as Array<{ address: string }>)[0]!.address, '192.0.2.1');
  assert.equal(second!.obj.addresses, 300);
  // A quiet interval ends the summaries; the next refusal is news again.
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(lines.length, 2);
  summary.note('cap', '192.0.2.9');
  assert.equal(lines.length, 3);
  summary.close();
});
