// Direct origin: plain TCP from the gateway to Immich, through the keep-alive pool (pool.ts).
import { OriginPool } from './pool.js';
import type { Origin } from './origin.js';

export interface DirectOriginOptions {
  /** Bytes buffered per origin socket before pushing back (the listener uses the same figure). */
  highWaterMark?: number;
}

export function createDirectOrigin(url: URL, options: DirectOriginOptions = {}): Origin {
  if (url.protocol !== 'http:') throw new Error(`origin.url must be http://, got ${url.protocol}`);
  const target = {
    protocol: 'http:' as const,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : 80,
  };
  // A high-water mark above one socket read, so bulk bodies stream without stop-and-go.
  const pool = new OriginPool({ kind: 'tcp', host: target.hostname, port: target.port, highWaterMark: options.highWaterMark ?? 128 * 1024 });
  return {
    pool,
    target,
    describe: () => `direct ${url.origin}`,
    unavailable: () => null,
    close: async () => pool.close(),
  };
}
