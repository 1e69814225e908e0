// The metrics endpoint: its own listener (never the gateway's hosts), GET /metrics in Prometheus text format,
// nothing else. It has no sign-in, so it binds loopback unless the operator says otherwise in so many words
// (metrics.allowNonLoopback), for example to let a Prometheus on a private network scrape it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { refuse } from '../http/refuse.js';
import { isLoopbackAddress } from './loopback.js';

export class MetricsListenError extends Error {
  override readonly name = 'MetricsListenError';
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(registry: Registry, listen: { address: string; port: number; allowNonLoopback: boolean }): Promise<MetricsServer> {
  if (!isLoopbackAddress(listen.address) && !listen.allowNonLoopback) {
    throw new MetricsListenError(`metrics.listen ${listen.address} is not a loopback address; the endpoint has no sign-in, so set metrics.allowNonLoopback: true to expose it`);
  }
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    const path = req.url?.split('?')[0];
    if (path !== '/metrics') return refuse(req, res, { kind: 'not-found' }, 'none');
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(req, res, { kind: 'method-not-allowed', allow: 'GET, HEAD' }, 'none');
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      // A collector that throws: the scrape fails visibly (Prometheus marks the target down) instead of lying.
      () => res.destroy(),
    );
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.address, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
