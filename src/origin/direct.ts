// Direct origin: plain TCP from the gateway to Immich, with keep-alive connection reuse.
import http from 'node:http';
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
  // Keep-alive is the single biggest saving on the hot path; LIFO keeps few sockets warm. No Nagle delay on
  // small requests; a high-water mark above one socket read so bulk bodies stream without stop-and-go.
  const agent = new http.Agent({
    keepAlive: true,
    keepAliveMsecs: 30_000,
    maxFreeSockets: 256,
    scheduling: 'lifo',
    noDelay: true,
    highWaterMark: options.highWaterMark ?? 128 * 1024,
  } as http.AgentOptions);
  return {
    agent,
    target,
    describe: () => `direct ${url.origin}`,
    unavailable: () => null,
    close: async () => agent.destroy(),
  };
}
