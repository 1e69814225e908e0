// Brute force and enumeration on the share host: link-password guessing and lookups of keys or slugs that do
// not exist. Password guessing is slowed per link and client address (IPv6 by /64) with growing delays, then
// stopped for that client alone; a per-link ceiling is the last resort and never refuses a client that has
// no wrong passwords of its own, so one visitor cannot close a widely shared link for the family. Lockouts
// are audited once, when they start. Secrets never reach the store or the audit log: links are named by a
// short hash of their credential.
import { LRUCache } from 'lru-cache';
import { clientBucket } from '../http/client-bucket.js';
import type { Logger } from '../log.js';
import { createRateLimit, type RateLimit } from '../store/rate-limit.js';
import type { Store } from '../store/store.js';
import type { LinkCredential } from './engine.js';
import { linkTag } from './link-tag.js';

export interface ShareLimitsConfig {
  /** Wrong passwords per link and client that cost nothing; each one after that waits longer. */
  passwordFreeFailures: number;
  /** The wait after the first wrong password past the free ones, in ms; it doubles with each further one. */
  passwordFirstDelay: number;
  /** The longest wait between two attempts, in ms. */
  passwordMaxDelay: number;
  /** Wrong passwords per link and client before that client may not try this link until `window` passes. */
  passwordFailuresPerClient: number;
  /** Wrong passwords per client across all links within `window`. */
  passwordFailuresPerIp: number;
  /** Wrong passwords per link from all clients within `window`: beyond it, only clients without failures of their own try. */
  passwordFailuresPerLink: number;
  unknownLinksPerIp: number;
  /** Window in ms. */
  window: number;
}

export type Verdict = { ok: true } | { ok: false; retryAfterSeconds: number };

/**
 * Which limit refused a password attempt: `slowed` waits a little, the others until their window ends;
 * `unavailable`: the store could not read the counters, so the attempt is refused (fail closed).
 */
export type PasswordLimit = 'slowed' | 'client' | 'ip' | 'link' | 'unavailable';

export type PasswordVerdict = { ok: true; settle(outcome: 'right' | 'wrong' | 'other'): void } | { ok: false; retryAfterSeconds: number; limit: PasswordLimit };

/** One client's guessing at one link: wrong passwords so far, attempts still waiting for Immich, the last one's time. */
interface Guessing {
  failures: number;
  pending: number;
  lastAt: number;
}

const MAX_TRACKED = 100_000;

export interface ShareLimitsHooks {
  /** Where a store that cannot count is reported (once a minute); its limits then refuse. */
  logger: Pick<Logger, 'error'>;
  /** The clock of the per-client delays (tests advance it instead of sleeping). */
  now?: () => number;
  /** Told once when a lockout starts: a client's own limit on a link, a client's limit over all links, or a link's ceiling. */
  onLockout?: (limit: Exclude<PasswordLimit, 'slowed' | 'unavailable'>, ip: string, link: string) => void;
}

export function createShareLimits(store: Store, config: ShareLimitsConfig, hooks: ShareLimitsHooks) {
  const now = hooks.now ?? Date.now;
  const seconds = Math.max(1, Math.round(config.window / 1000));
  const limit = (name: string, points: number, blockSeconds?: number) => createRateLimit(store, name, { points, durationSeconds: seconds, blockSeconds }, hooks.logger);
  const unknown = limit('share_unknown_ip', config.unknownLinksPerIp, seconds);
  // The ceilings count wrong passwords only (a right one costs nothing) and persist across restarts.
  const linkFailures = limit('share_password_failures_link', config.passwordFailuresPerLink);
  const ipFailures = limit('share_password_failures_ip', config.passwordFailuresPerIp);

  // Per link and client, in memory: checked and updated synchronously, so parallel guesses from one client
  // cannot slip past a delay between a read and a write. A restart forgets them; the ceilings above remain.
  const guessing = new LRUCache<string, Guessing>({ max: MAX_TRACKED });
  const current = (key: string, at: number): Guessing | undefined => {
    const entry = guessing.get(key);
    if (entry && entry.pending === 0 && at - entry.lastAt >= config.window) {
      guessing.delete(key);
      return undefined;
    }
    return entry;
  };
  // A full table forgets the client that guessed longest ago.
  const track = (key: string, entry: Guessing) => void guessing.set(key, entry);
  /** How long a client waits after its `failures`-th wrong password before it may try again. */
  const delayAfter = (failures: number) =>
    failures < config.passwordFreeFailures ? 0 : Math.min(config.passwordMaxDelay, config.passwordFirstDelay * 2 ** Math.min(30, failures - config.passwordFreeFailures));
  const refusedFor = (ms: number, limit: PasswordLimit) => ({ ok: false as const, retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)), limit });

  // Clients that used up their unknown-link allowance, so the check on every link request is a map lookup,
  // not a store read. Filled whenever the persistent counter says so (also after a restart, at the next miss).
  const lockedUntil = new LRUCache<string, number>({ max: MAX_TRACKED });
  const lockClient = (bucket: string, retryAfterSeconds: number) => void lockedUntil.set(bucket, now() + retryAfterSeconds * 1000);

  /** Counts a wrong password; true for the one that reaches the ceiling. A store that fails counts nothing here: the next attempt's read refuses. */
  const penalise = async (failures: RateLimit, key: string, ceiling: number): Promise<boolean> => {
    const verdict = await failures.penalty(key);
    return !verdict.unavailable && verdict.consumed === ceiling;
  };

  return {
    /** Checked before any link lookup: a client that guessed too many links learns nothing more for a while. */
    unknownLocked(ip: string): Verdict {
      const bucket = clientBucket(ip);
      const until = lockedUntil.get(bucket);
      if (until === undefined) return { ok: true };
      const left = until - now();
      if (left > 0) return { ok: false, retryAfterSeconds: Math.ceil(left / 1000) };
      lockedUntil.delete(bucket);
      return { ok: true };
    },
    /**
     * Counts a lookup of a link that does not exist; `started` is true for the one that uses the last allowance.
     * A store that cannot count locks the client out for a while (fail closed): guessing stops with the counter.
     */
    async countUnknown(ip: string): Promise<{ started: boolean }> {
      const bucket = clientBucket(ip);
      const verdict = await unknown.consume(bucket);
      if (verdict.ok) {
        if (verdict.consumed >= config.unknownLinksPerIp) lockClient(bucket, verdict.retryAfterSeconds);
        return { started: verdict.consumed === config.unknownLinksPerIp };
      }
      lockClient(bucket, verdict.retryAfterSeconds);
      return { started: false };
    },
    /**
     * Decides whether a password attempt may reach Immich. An allowed attempt counts as pending until
     * settle() says how it went, so parallel guesses wait their turn like sequential ones.
     */
    async passwordAttempt(ip: string, credential: LinkCredential): Promise<PasswordVerdict> {
      const link = linkTag(credential);
      const bucket = clientBucket(ip);
      const key = `${link}|${bucket}`;
      const [linkCount, ipCount] = await Promise.all([linkFailures.peek(link), ipFailures.peek(bucket)]);
      // A password tried on counts that could not be read is never sent to Immich (fail closed).
      if (linkCount.unavailable || ipCount.unavailable) return { ok: false, retryAfterSeconds: linkCount.retryAfterSeconds, limit: 'unavailable' };
      // From here on synchronous: the decision and the pending count cannot interleave with another attempt.
      const at = now();
      const entry = current(key, at);
      const own = entry ? entry.failures + entry.pending : 0;
      if (entry && own >= config.passwordFailuresPerClient) return refusedFor(entry.lastAt + config.window - at, 'client');
      if (!ipCount.ok) return refusedFor(ipCount.retryAfterSeconds * 1000, 'ip');
      // The last resort: a link under a wide attack still opens for anyone who has not guessed wrong yet.
      if (own > 0 && !linkCount.ok) return refusedFor(linkCount.retryAfterSeconds * 1000, 'link');
      if (entry) {
        const wait = entry.lastAt + delayAfter(own) - at;
        if (wait > 0) return refusedFor(wait, 'slowed');
      }
      const mine = entry ?? { failures: 0, pending: 0, lastAt: at };
      mine.pending++;
      mine.lastAt = at;
      if (!entry) track(key, mine);
      let settled = false;
      return {
        ok: true,
        settle(outcome) {
          if (settled) return;
          settled = true;
          mine.pending--;
          if (outcome === 'right') {
            // A right password forgives this client's wrong ones on this link (the ceilings keep theirs).
            if (guessing.get(key) === mine) guessing.delete(key);
            return;
          }
          if (outcome !== 'wrong') return;
          mine.failures++;
          mine.lastAt = now();
          if (guessing.get(key) !== mine) track(key, mine);
          if (mine.failures === config.passwordFailuresPerClient) hooks.onLockout?.('client', ip, link);
          // The counters are only ever read before an attempt: they may land a moment later.
          void Promise.all([penalise(linkFailures, link, config.passwordFailuresPerLink), penalise(ipFailures, bucket, config.passwordFailuresPerIp)])
            .then(([linkCeiling, ipCeiling]) => {
              if (linkCeiling) hooks.onLockout?.('link', ip, link);
              if (ipCeiling) hooks.onLockout?.('ip', ip, link);
            })
            .catch(() => undefined);
        },
      };
    },
  };
}
