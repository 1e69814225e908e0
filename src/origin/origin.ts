// The origin seam: where connections to Immich come from.
// The proxy never dials by itself; it asks an Origin for connections that reach Immich: a lean pool for
// forwarded requests and an http.Agent for what node:http does (WebSocket upgrades, link lookups, originals).
// Direct mode dials TCP (direct.ts); tunnel mode hands out streams carried by a home connector
// (src/tunnel). Everything above this seam is identical in both modes.
import type http from 'node:http';
import type { OriginPool } from '../proxy/lean-client.js';

/** Why the origin cannot take a request right now, said before any request is attempted. */
export interface OriginUnavailable {
  /** 'tunnel-offline': no connector is attached. */
  kind: 'tunnel-offline';
  /** When the last connector went away, or null if none was ever attached. */
  since: Date | null;
}

export interface Origin {
  /** Every forwarded request goes through this pool (src/proxy/lean-client.ts). */
  readonly leanPool: OriginPool;
  /** Reaches the origin for WebSocket upgrades and Porthole's own requests to Immich. */
  readonly agent: http.Agent;
  /** Where requests are addressed: the origin as Immich sees its own URL. */
  readonly target: { protocol: 'http:'; hostname: string; port: number };
  /** Human-readable description for logs, errors and `porthole doctor`. */
  describe(): string;
  /** null when requests can be attempted, otherwise the reason they cannot. */
  unavailable(): OriginUnavailable | null;
  close(): Promise<void>;
}
