// A small HTTP/2 load generator (h2load is not packaged here): a few sessions over TLS, each keeping a fixed
// number of GET streams in flight for a fixed time. Reports what wrk reports, so the figures sit side by side.
import http2 from 'node:http2';
import tls from 'node:tls';

export interface H2LoadOptions {
  /** Where the TCP connection goes. */
  address: string;
  port: number;
  /** The name in SNI and :authority (the port is added). */
  hostname: string;
  path: string;
  headers?: Record<string, string>;
  sessions: number;
  streamsPerSession: number;
  seconds: number;
  /**
   * Requests started per second over all sessions (an open-loop pace, capped by the streams in flight); absent:
   * each stream starts its next request as soon as the previous one ends. A fixed pace compares two servers'
   * CPU per request at the same throughput, which a closed loop on shared cores does not.
   */
  perSecond?: number;
}

export interface H2LoadResult {
  requests: number;
  seconds: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses that were not 2xx: a run with any of these measured refusals. */
  bad: number;
  errors: number;
}

/** The protocol a TLS server picks when offered h2 and http/1.1. */
export function negotiatedProtocol(address: string, port: number, servername: string): Promise<string | false> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: address, port, servername, ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: false }, () => {
      resolve(socket.alpnProtocol ?? false);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

function connect(options: H2LoadOptions): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://${options.hostname}:${options.port}`, {
      createConnection: () => tls.connect({ host: options.address, port: options.port, servername: options.hostname, ALPNProtocols: ['h2'], rejectUnauthorized: false }),
    });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

export async function runH2Load(options: H2LoadOptions): Promise<H2LoadResult> {
  const sessions = await Promise.all(Array.from({ length: options.sessions }, () => connect(options)));
  const latencies: number[] = [];
  let bad = 0;
  let errors = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(options.seconds * 1e9));
  const oneStream = (session: http2.ClientHttp2Session): Promise<void> =>
    new Promise((resolve) => {
      const sent = process.hrtime.bigint();
      const stream = session.request({ ':path': options.path, ...options.headers });
      stream.on('response', (headers) => {
        const status = Number(headers[':status']);
        if (status < 200 || status >= 300) bad++;
      });
      stream.on('data', () => {});
      stream.once('end', () => {
        latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
        resolve();
      });
      stream.once('error', () => (errors++, resolve()));
    });
  const interval = options.perSecond ? BigInt(Math.round(1e9 / options.perSecond)) : 0n;
  let slots = 0n;
  const worker = async (session: http2.ClientHttp2Session) => {
    while (process.hrtime.bigint() < deadline && !session.closed && !session.destroyed) {
      if (interval > 0n) {
        const wait = started + slots++ * interval - process.hrtime.bigint();
        if (wait > 0n) await new Promise((resolve) => setTimeout(resolve, Number(wait / 1_000_000n)));
        if (process.hrtime.bigint() >= deadline) break;
      }
      await oneStream(session);
    }
  };
  try {
    await Promise.all(sessions.flatMap((session) => Array.from({ length: options.streamsPerSession }, () => worker(session))));
  } finally {
    for (const session of sessions) session.close();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    seconds,
    reqPerSec: latencies.length / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    bad,
    errors,
  };
}
