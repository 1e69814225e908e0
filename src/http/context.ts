// What the listener learned about a request before any handler sees it.
import type { ClientInfo } from './client-address.js';

export interface RequestContext {
  client: ClientInfo;
  /** The Host header's name part, lower-cased, without port. */
  host: string;
  /** The Host header as the client sent it (with port), forwarded to Immich unchanged. */
  rawHost: string;
}
