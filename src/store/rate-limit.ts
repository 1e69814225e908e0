// The one way callers ask a persistent rate limit (the store's rate-limiter-flexible limiters, SQLite today,
// Redis later), with one failure policy: fail closed. When the store cannot count or read (locked, closed,
// unreachable), the answer is a refusal marked `unavailable`, never a pass: nothing is let through on a limit
// that could not be checked. The failure is logged at most once a minute per limit, not once per request.
import { RateLimiterRes } from 'rate-limiter-flexible';
import { createLogThrottle, type Logger } from '../log.js';
import type { LimiterOptions, Store } from './store.js';

/** How long a client is told to wait when the store could not check its limit. */
export const UNAVAILABLE_RETRY_SECONDS = 30;

/** `consumed`: points counted against the key in its window (after this action, for consume and penalty). */
export type LimitVerdict =
  | { ok: true; consumed: number; retryAfterSeconds: number; unavailable: false }
  | { ok: false; consumed: number; retryAfterSeconds: number; unavailable: false }
  /** The store failed: refused, whatever the count may be. */
  | { ok: false; consumed: number; retryAfterSeconds: number; unavailable: true };

export interface RateLimit {
  /** Counts one action against `key`; refused once the key is over its limit. */
  consume(key: string): Promise<LimitVerdict>;
  /** Counts one failure against `key` that already happened (never refused for being over; only read later). */
  penalty(key: string): Promise<LimitVerdict>;
  /** The key's count without adding to it; refused when it is at or over the limit. */
  peek(key: string): Promise<LimitVerdict>;
  /** Gives one point back (a right answer after a counted try); when the store fails, the point stays counted. */
  reward(key: string): Promise<void>;
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function createRateLimit(store: Pick<Store, 'limiter'>, name: string, options: LimiterOptions, logger: Pick<Logger, 'error'>): RateLimit {
  const limiter = store.limiter(name, options);
  const failureLog = createLogThrottle(60_000);
  const unavailable = (error: unknown, action: string): LimitVerdict => {
    failureLog.pass(action, (suppressed) => logger.error({ err: error, limit: name, suppressed }, 'rate limit could not be checked: refusing until the store answers again'));
    return { ok: false, consumed: Number.POSITIVE_INFINITY, retryAfterSeconds: UNAVAILABLE_RETRY_SECONDS, unavailable: true };
  };
  const counted = (res: RateLimiterRes): LimitVerdict => {
    const over = res.consumedPoints > options.points;
    return over
      ? { ok: false, consumed: res.consumedPoints, retryAfterSeconds: seconds(res.msBeforeNext), unavailable: false }
      : { ok: true, consumed: res.consumedPoints, retryAfterSeconds: seconds(res.msBeforeNext), unavailable: false };
  };
  return {
    async consume(key) {
      try {
        return counted(await limiter.consume(key));
      } catch (rejection) {
        // The library rejects with a RateLimiterRes when over the limit, with an Error when the store failed.
        if (rejection instanceof RateLimiterRes) return { ok: false, consumed: rejection.consumedPoints, retryAfterSeconds: seconds(rejection.msBeforeNext), unavailable: false };
        return unavailable(rejection, 'consume');
      }
    },
    async penalty(key) {
      try {
        const res = await limiter.penalty(key, 1);
        return { ok: true, consumed: res.consumedPoints, retryAfterSeconds: seconds(res.msBeforeNext), unavailable: false };
      } catch (error) {
        return unavailable(error, 'penalty');
      }
    },
    async peek(key) {
      try {
        const res = await limiter.get(key);
        if (!res) return { ok: true, consumed: 0, retryAfterSeconds: 1, unavailable: false };
        const retryAfterSeconds = seconds(res.msBeforeNext);
        return res.consumedPoints >= options.points
          ? { ok: false, consumed: res.consumedPoints, retryAfterSeconds, unavailable: false }
          : { ok: true, consumed: res.consumedPoints, retryAfterSeconds, unavailable: false };
      } catch (error) {
        return unavailable(error, 'peek');
      }
    },
    async reward(key) {
      try {
        await limiter.reward(key, 1);
      } catch (error) {
        unavailable(error, 'reward');
      }
    },
  };
}
