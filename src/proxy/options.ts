// What a host handler tells the proxy about one kind of forwarding (the gate's, the share host's): where the
// origin is, which face refusals wear, which headers to drop, the body cap, the idle timeout, and what to do
// with answers on the way back.
import type http from 'node:http';
import type { RefusalSurface } from '../http/refuse.js';
import type { Origin } from '../origin/origin.js';

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
