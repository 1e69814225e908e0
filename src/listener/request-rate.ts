// The per-client request rate (listen.requestRate): a flood cap taken once per request before any other work,
// on both hosts and both HTTP versions (each HTTP/2 stream, each WebSocket upgrade), so it also shields the gate
// and the share policy. The unit is the client bucket (an IPv4 address, an IPv6 /64) of the client address as
// trusted proxies resolve it: behind a proxy each real client has its own budget. Counted in memory per gateway
// (rate-limiter-flexible's BurstyRateLimiter: `perSecond` in every second, `burst` more within any 10 s); it is
// a cap on floods, not shared state. Memory is bounded whatever addresses arrive: at most `maxClients` buckets
// are tracked, and past that the one seen longest ago is forgotten (its budget starts full again).
import { LRUCache } from 'lru-cache';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/** The window of the burst allowance: a page opening or a fast scroll spends it, a quiet 10 s restores it. */
export const BURST_WINDOW_SECONDS = 10;
/** Buckets tracked at once: a few hundred bytes each, so some tens of MB at most. */
export const MAX_TRACKED_CLIENTS = 100_000;

export interface RequestRateOptions {
  perSecond: number;
  /** Requests on top of perSecond within BURST_WINDOW_SECONDS; 0: none. */
  burst: number;
  maxClients?: number;
}

export class RequestRateLimiter {
  private readonly steady: RateLimiterMemory;
  private readonly extra: RateLimiterMemory;
  private readonly limiter: RateLimiterMemory | BurstyRateLimiter;
  private readonly seen: LRUCache<string, true>;

  constructor(options: RequestRateOptions) {
    this.steady = new RateLimiterMemory({ points: options.perSecond, duration: 1 });
    // The library needs at least one point; with burst 0 the extra budget is simply never asked.
    this.extra = new RateLimiterMemory({ points: Math.max(1, options.burst), duration: BURST_WINDOW_SECONDS });
    this.limiter = options.burst > 0 ? new BurstyRateLimiter(this.steady, this.extra) : this.steady;
    this.seen = new LRUCache<string, true>({
      max: options.maxClients ?? MAX_TRACKED_CLIENTS,
      dispose: (_value, bucket, reason) => {
        if (reason !== 'evict') return;
        void this.steady.delete(bucket);
        void this.extra.delete(bucket);
      },
    });
  }

  /** Spends one request of `bucket`: null when it may go on, else the seconds to wait (at least 1). */
  async take(bucket: string): Promise<number | null> {
    this.seen.set(bucket, true);
    try {
      await this.limiter.consume(bucket);
      return null;
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) throw refusal;
      return Math.max(1, Math.ceil(refusal.msBeforeNext / 1000));
    }
  }

  /** Buckets tracked now (for tests of the memory bound). */
  get trackedClients(): number {
    return this.seen.size;
  }
}
