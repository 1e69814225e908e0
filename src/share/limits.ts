// Brute force and enumeration on the share host: link-password attempts per link and per client, lookups of
// keys or slugs that do not exist per client. Lockouts are audited once, when they start. Secrets never reach
// the store or the audit log: links are named by a short hash of their credential.
import crypto from 'node:crypto';
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import type { Store } from '../store/store.js';
import type { LinkCredential } from './engine.js';

export interface ShareLimitsConfig {
  passwordAttemptsPerLink: number;
  passwordAttemptsPerIp: number;
  unknownLinksPerIp: number;
  /** Window in ms. */
  window: number;
}

export type Verdict = { ok: true } | { ok: false; retryAfterSeconds: number };

/** IPv6 clients usually own a whole /64: count them together so rotating addresses does not reset a limit. */
export function clientBucket(ip: string): string {
  // The address comes from the socket or a trusted proxy's validated header: a colon means IPv6.
  if (ip.includes(':')) {
    const full = ip.includes('::') ? expand(ip) : ip.split(':');
    return `${full.slice(0, 4).join(':')}::/64`;
  }
  return ip;
}

function expand(ip: string): string[] {
  const [head, tail] = ip.split('::') as [string, string];
  const a = head ? head.split(':') : [];
  const b = tail ? tail.split(':') : [];
  return [...a, ...Array<string>(Math.max(0, 8 - a.length - b.length)).fill('0'), ...b];
}

/** A non-secret name for a link credential (for limiter keys and audit lines). */
export function linkTag(credential: LinkCredential): string {
  // Immich decodes keys leniently (hex in any case, base64url ignoring the last character's spare bits): name
  // a key by its bytes, so every spelling of one link shares its limits.
  const value = credential.kind === 'key' ? Buffer.from(credential.value, credential.value.length === 100 ? 'hex' : 'base64url').toString('base64url') : credential.value;
  return crypto.createHash('sha256').update(`${credential.kind}:${value}`).digest('base64url').slice(0, 16);
}

export function createShareLimits(store: Store, config: ShareLimitsConfig) {
  const seconds = Math.max(1, Math.round(config.window / 1000));
  const perLink = store.limiter('share_password_link', { points: config.passwordAttemptsPerLink, durationSeconds: seconds, blockSeconds: seconds });
  const perIp = store.limiter('share_password_ip', { points: config.passwordAttemptsPerIp, durationSeconds: seconds, blockSeconds: seconds });
  const unknown = store.limiter('share_unknown_ip', { points: config.unknownLinksPerIp, durationSeconds: seconds, blockSeconds: seconds });

  async function consume(limiter: RateLimiterAbstract, key: string, points: number): Promise<Verdict & { started?: boolean }> {
    try {
      await limiter.consume(key);
      return { ok: true };
    } catch (rejection) {
      if (rejection instanceof Error) throw rejection;
      const res = rejection as RateLimiterRes;
      return { ok: false, retryAfterSeconds: Math.ceil(res.msBeforeNext / 1000), started: res.consumedPoints === points + 1 };
    }
  }

  // Clients that used up their unknown-link allowance, so the check on every link request is a map lookup,
  // not a store read. Filled whenever the persistent counter says so (also after a restart, at the next miss).
  const lockedUntil = new Map<string, number>();
  const lockClient = (bucket: string, msBeforeNext: number) => {
    if (lockedUntil.size >= 100_000) lockedUntil.delete(lockedUntil.keys().next().value!);
    lockedUntil.set(bucket, Date.now() + msBeforeNext);
  };

  return {
    /** Checked before any link lookup: a client that guessed too many links learns nothing more for a while. */
    unknownLocked(ip: string): Verdict {
      const bucket = clientBucket(ip);
      const until = lockedUntil.get(bucket);
      if (until === undefined) return { ok: true };
      const left = until - Date.now();
      if (left > 0) return { ok: false, retryAfterSeconds: Math.ceil(left / 1000) };
      lockedUntil.delete(bucket);
      return { ok: true };
    },
    /** Counts a lookup of a link that does not exist; `started` is true for the one that uses the last allowance. */
    async countUnknown(ip: string): Promise<{ started: boolean }> {
      const bucket = clientBucket(ip);
      try {
        const res = await unknown.consume(bucket);
        if (res.consumedPoints >= config.unknownLinksPerIp) lockClient(bucket, res.msBeforeNext);
        return { started: res.consumedPoints === config.unknownLinksPerIp };
      } catch (rejection) {
        if (rejection instanceof Error) throw rejection;
        lockClient(bucket, (rejection as RateLimiterRes).msBeforeNext);
        return { started: false };
      }
    },
    /** Counts one password attempt (before it is tried, so parallel guesses count too). */
    async passwordAttempt(ip: string, credential: LinkCredential): Promise<Verdict & { lockout?: 'link' | 'ip' }> {
      const link = linkTag(credential);
      const ipVerdict = await consume(perIp, clientBucket(ip), config.passwordAttemptsPerIp);
      if (!ipVerdict.ok) return { ...ipVerdict, lockout: ipVerdict.started ? 'ip' : undefined };
      const linkVerdict = await consume(perLink, link, config.passwordAttemptsPerLink);
      if (!linkVerdict.ok) return { ...linkVerdict, lockout: linkVerdict.started ? 'link' : undefined };
      return { ok: true };
    },
    /** A right password gives its attempt back, so a visitor who types it correctly is never locked out by it. */
    async passwordSucceeded(ip: string, credential: LinkCredential): Promise<void> {
      await Promise.all([perIp.reward(clientBucket(ip), 1), perLink.reward(linkTag(credential), 1)]);
    },
  };
}

export type ShareLimits = ReturnType<typeof createShareLimits>;
