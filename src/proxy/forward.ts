// Streams a request to the origin and its answer back: every method, bodies piped with backpressure,
// nothing buffered, hop-by-hop headers dropped, X-Forwarded-* set from what the listener established,
// Porthole's own cookie never leaves the gateway. Failures before the answer starts become a refusal page;
// failures after it abort the client connection so a truncated body is never mistaken for a complete one.
//
// This file decides whether a request goes out at all (origin offline, declared body over the cap) and what
// headers it carries; the origin's lean client (lean-client.ts) moves the bytes, over TCP or the tunnel.
import type http from 'node:http';
import type { Origin } from '../origin/origin.js';
import { refuse, type RefusalSurface } from '../http/refuse.js';
import type { RequestContext } from '../http/context.js';
import { buildOriginHeaders } from './headers.js';
import { leanForward } from './lean-client.js';
import { tagProxied } from '../metrics/tags.js';

export { buildOriginHeaders } from './headers.js';
export { forwardUpgrade } from './upgrade.js';

export interface ForwardOptions {
  origin: Origin;
  surface: RefusalSurface;
  /** Request headers (lower-case) to drop on top of the hop-by-hop ones. */
  dropRequestHeaders?: ReadonlySet<string>;
  /** Rewrites or removes the Cookie header (e.g. strips Porthole's session cookie). */
  filterCookie?: (cookie: string) => string | undefined;
  /** Optional cap on request bodies; undefined means unlimited. */
  maxBodyBytes?: number;
  /** Idle (not total) timeout towards the origin, in ms. */
  idleTimeoutMs: number;
  /** Extra response headers (e.g. X-Robots-Tag on the share host), as lower-case name to value. */
  responseHeaders?: http.OutgoingHttpHeaders;
  /** Looks at every answer before it is relayed (the share host keeps secrets and addresses from guests). */
  answerFilter?: AnswerFilter;
}

/** Sees the head of each origin answer; may edit its header values and ask for its (small) body to rewrite it. */
export interface AnswerFilter {
  /** May edit values in `raw` (name, value, ...) in place; returns a rewriter to buffer the body, or null to stream it untouched. */
  head(status: number, raw: string[]): BodyRewriter | null;
  /** Told when a held answer was not sent (too large, or refused by its rewriter), so the log can say why. */
  withheld?(why: string): void;
}

export interface BodyRewriter {
  /** Bodies over this are not relayed at all (the answer fails like an unreachable origin). */
  readonly maxBytes: number;
  /** The body to send instead, or null to refuse the answer. */
  rewrite(body: Buffer): Buffer | null;
}

export function forward(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, options: ForwardOptions): void {
  const unavailable = options.origin.unavailable();
  if (unavailable) return refuse(req, res, { kind: 'tunnel-offline', since: unavailable.since }, options.surface);

  const declared = req.headers['content-length'];
  const hasBody = declared !== undefined ? declared !== '0' : req.headers['transfer-encoding'] !== undefined;
  if (options.maxBodyBytes !== undefined && declared !== undefined && Number(declared) > options.maxBodyBytes) {
    // Refused before a byte of the body is read; refuse() closes the connection so it is never read.
    return refuse(req, res, { kind: 'too-large', limitBytes: options.maxBodyBytes }, options.surface);
  }

  tagProxied(res);
  leanForward(options.origin.leanPool, req, res, options, buildOriginHeaders(req, ctx, options, false), hasBody);
}
