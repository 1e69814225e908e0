// Direct origin: plain TCP from the gateway to Immich, with keep-alive connection reuse.
// Two ways out: an http.Agent (WebSocket upgrades, link lookups, originals, and the seam every Origin offers)
// and a lean socket pool the proxy forwards requests through (src/proxy/lean-client.ts).
import http from 'node:http';
import { OriginPool } from '../proxy/lean-client.js';
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
  const highWaterMark = options.highWaterMark ?? 128 * 1024;
  // Keep-alive is the single biggest saving on the hot path; LIFO keeps few sockets warm. No Nagle delay on
  // small requests; a high-water mark above one socket read so bulk bodies stream without stop-and-go.
  const agent = new http.Agent({
    keepAlive: true,
    keepAliveMsecs: 30_000,
    maxFreeSockets: 256,
    scheduling: 'lifo',
    noDelay: true,
    highWaterMark,
  } as http.AgentOptions);
  const leanPool = new OriginPool({ kind: 'tcp', host: target.hostname, port: target.port, highWaterMark });
  return {
    agent,
    target,
    leanPool,
    describe: () => `direct ${url.origin}`,
    unavailable: () => null,
    close: async () => {
      leanPool.close();
      agent.destroy();
    },
  };
}
