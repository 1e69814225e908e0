// When to renew a certificate and when to try again after a failure. Pure arithmetic, so the rules are
// tested without a CA: renew at about two thirds of the lifetime (jittered so many gateways started together
// do not all ask at once), retry with exponential backoff and full jitter, never sleeping past a timer's range.

/** Node timers overflow above this many milliseconds (about 24.8 days); longer waits are taken in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Lifetime {
  notBefore: number;
  notAfter: number;
}

/**
 * The moment to start renewing: two thirds into the lifetime, moved by up to ±1/30 of it (±2 days on a
 * 90-day certificate). `random` is in [0, 1).
 */
export function renewalTime(life: Lifetime, random: () => number = Math.random): number {
  const span = Math.max(0, life.notAfter - life.notBefore);
  const jitter = ((random() * 2 - 1) * span) / 30;
  return life.notBefore + (span * 2) / 3 + jitter;
}

export interface BackoffPolicy {
  /** First retry after about this long. */
  baseMs: number;
  /** Never wait longer than this between tries. */
  maxMs: number;
}

/** Production pacing: a minute, then doubling up to six hours; Let's Encrypt's failed-validation limit is hourly. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 60_000, maxMs: 6 * 3600_000 };

/** Delay before retry number `attempt` (0 = first retry): between half and all of min(max, base * 2^attempt). */
export function retryDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
