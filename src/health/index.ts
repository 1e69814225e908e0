// Liveness and readiness for Docker's HEALTHCHECK and load balancers, on an address of their own so the two
// public hosts gain no extra path. GET /live: the process answers. GET /ready: Immich can be reached (direct
// mode: it answers /api/server/ping) or a home connector is attached (tunnel mode), and the store can answer
// (a shared Redis store that lost Redis, or was never reached since the start, is not ready: the gate refuses
// until it is back). The answer is a status and a word; nothing about the origin or versions is told. A store
// that is unavailable adds its reason, a few fixed words such as "cannot reach Redis" or "Redis refused the
// password" (never an address or an error text): an operator behind a load balancer or `docker inspect` sees
// what to fix without a trip to the log.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { refuse } from '../http/refuse.js';
import type { Origin } from '../origin/origin.js';
import type { Store } from '../store/store.js';
import { originRequest } from '../origin/request.js';

export interface HealthOptions {
  origin: Origin;
  /** Not ready while the store reports itself unavailable. */
  store?: Pick<Store, 'unavailable'>;
  address: string;
  port: number;
  /** How long a readiness probe of the origin may take. */
  probeTimeoutMs?: number;
}

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

/** True when a request could be served now; concurrent probes share one request to the origin. */
export function readinessProbe(origin: Origin, timeoutMs: number): () => Promise<boolean> {
  let inFlight: Promise<boolean> | undefined;
  const probe = () =>
    originRequest(origin, { path: '/api/server/ping', timeoutMs }).then(
      (answer) => {
        answer.body.resume();
        return answer.status === 200;
      },
      () => false,
    );
  return () => {
    // In tunnel mode the connector being attached is the answer: it dials Immich next to it.
    if (origin.describe().startsWith('tunnel')) return Promise.resolve(origin.unavailable() === null);
    inFlight ??= probe().finally(() => (inFlight = undefined));
    return inFlight;
  };
}

export async function startHealth(options: HealthOptions): Promise<HealthServer> {
  const originReady = readinessProbe(options.origin, options.probeTimeoutMs ?? 3000);
  /** Null when ready, else the words after "not ready". */
  const notReady = async (): Promise<string | null> => {
    const store = options.store?.unavailable?.();
    if (store) return `: store unavailable (${store.reason})`;
    return (await originReady()) ? null : '';
  };
  const server = http.createServer({ headersTimeout: 5000, requestTimeout: 10_000, maxHeaderSize: 8 * 1024 }, (req, res) => {
    const answer = (ok: boolean, why = '') => {
      const body = ok ? 'ok\n' : `not ready${why}\n`;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const path = req.url?.split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(req, res, { kind: 'not-found' }, 'share');
    if (path === '/live') return answer(true);
    if (path === '/ready')
      return void notReady().then(
        (why) => answer(why === null, why ?? ''),
        () => answer(false),
      );
    refuse(req, res, { kind: 'not-found' }, 'share');
  });
  server.keepAliveTimeout = 2000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
