// Porthole's own requests to Immich (link lookups, ranged reads and originals, the doctor, health and the
// origin watch), as a promise of the answer's head with its body as a stream. They go through the same pool,
// over TCP or the tunnel, as forwarded requests do; failures are OriginErrors (errors.ts).
import stream from 'node:stream';
import type { Origin, OriginTarget } from './origin.js';
import { OriginBadResponseError, TunnelDownError, type OriginError } from './errors.js';
import { BODY_KEPT, BODY_PAUSE, type Exchange } from './pool.js';
import type { ResponseHead } from './response-head.js';

export interface OriginRequestOptions {
  method?: 'GET' | 'HEAD';
  /** Origin-form target with its query. */
  path: string;
  /** Header names in lower case. Host defaults to the origin's own host and port. */
  headers?: Readonly<Record<string, string | undefined>>;
  /** Idle (not total) timeout, in ms. */
  timeoutMs: number;
}

export interface OriginResponse {
  status: number;
  /** Header values by lower-case name; repeated fields joined with ", " (set-cookie: the first). */
  headers: Readonly<Record<string, string>>;
  /** The answer's body as it arrives; destroyed with the OriginError if the answer breaks off. */
  body: stream.Readable;
}

export function hostOf(target: OriginTarget): string {
  const host = target.hostname.includes(':') ? `[${target.hostname}]` : target.hostname;
  return target.port === 80 ? host : `${host}:${target.port}`;
}

function headersOf(head: ResponseHead): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < head.raw.length; i += 2) {
    const name = head.raw[i]!.toLowerCase();
    const value = head.raw[i + 1]!;
    out[name] = out[name] === undefined || name === 'set-cookie' ? (out[name] ?? value) : `${out[name]}, ${value}`;
  }
  return out;
}

/** Sends one request to the origin; resolves with the answer's head once it arrives. */
export function originRequest(origin: Origin, options: OriginRequestOptions): Promise<OriginResponse> {
  const unavailable = origin.unavailable();
  if (unavailable) return Promise.reject(new TunnelDownError('the home connector is offline', unavailable.since, 'ETUNNELOFFLINE'));
  const headers: string[] = [];
  let host = hostOf(origin.target);
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === undefined) continue;
    if (name === 'host') host = value;
    else headers.push(name, value);
  }
  headers.unshift('Host', host);
  return new Promise((resolve, reject) => {
    let exchange: Exchange | null = null;
    let body: stream.Readable | null = null;
    const handler = {
      onHead(head: ResponseHead) {
        body = new stream.Readable({ read: () => exchange?.resume(), destroy: (error, callback) => (exchange?.abort(), callback(error)) });
        resolve({ status: head.status, headers: headersOf(head), body });
      },
      onBody(data: Buffer) {
        // The pool reads into reused buffers: the stream keeps these bytes, so they are never overwritten.
        return body!.push(data) ? BODY_KEPT : BODY_KEPT | BODY_PAUSE;
      },
      onEnd() {
        body!.push(null);
      },
      onError(error: OriginError, started: boolean) {
        if (started) body!.destroy(error);
        else reject(error);
      },
    };
    try {
      exchange = origin.pool.request({ method: options.method ?? 'GET', path: options.path, headers, body: 'none' }, handler, options.timeoutMs);
    } catch (error) {
      reject(new OriginBadResponseError((error as Error).message));
    }
  });
}

/** The whole body of a small answer (error bodies, JSON); null if it is larger than `limit`. Rejects with the OriginError if it breaks off. */
export async function readSmallBody(body: stream.Readable, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
