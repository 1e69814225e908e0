// Streams a request to the origin and its answer back: every method, bodies piped with backpressure,
// nothing buffered, hop-by-hop headers dropped, X-Forwarded-* set from what the listener established,
// Porthole's own cookie never leaves the gateway. Failures before the answer starts become a refusal page;
// failures after it abort the client connection so a truncated body is never mistaken for a complete one.
//
// This file decides whether a request goes out at all (origin offline, declared body over the cap) and what
// headers it carries; relay.ts moves the bytes through the origin's pool (src/origin), over TCP or the tunnel.
import type http from 'node:http';
import { refuse } from '../http/refuse.js';
import type { RequestContext } from '../http/context.js';
import { buildOriginHeaders } from './headers.js';
import type { ForwardOptions } from './options.js';
import { relay } from './relay.js';
import { tagProxied } from '../metrics/tags.js';

export { buildOriginHeaders } from './headers.js';
export { forwardUpgrade } from './upgrade.js';
export type { AnswerFilter, BodyRewriter, ForwardOptions } from './options.js';

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
  relay(req, res, options, buildOriginHeaders(req, ctx, options, false), hasBody);
}
