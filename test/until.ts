// The one way tests wait for something that has no event to wait on (another process, a store reached over the
// network, a page in a browser): poll a check until it holds, and fail with what was awaited once a deadline
// passes. The default bound is generous because CI machines are loaded; a passing test never waits for it.
import { setTimeout as sleep } from 'node:timers/promises';

export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000, stepMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(stepMs);
  }
}
