// The origin seam: where connections to Immich come from, and the one way requests reach it.
// Nothing above this seam dials by itself: forwarded requests (src/proxy/relay.ts), WebSocket upgrades, link
// lookups, originals, the doctor and health all send through an Origin's pool (pool.ts), by exchange or by
// originRequest() (request.ts). Direct mode dials TCP (direct.ts); tunnel mode hands out streams carried by a
// home connector (src/tunnel). Everything above this seam is identical in both modes.
import type { OriginPool } from './pool.js';

/** Why the origin cannot take a request right now, said before any request is attempted. */
export interface OriginUnavailable {
  /** 'tunnel-offline': no connector is attached. */
  kind: 'tunnel-offline';
  /** When the last connector went away, or null if none was ever attached. */
  since: Date | null;
}

/** The origin as Immich sees its own URL. */
export interface OriginTarget {
  protocol: 'http:';
  hostname: string;
  port: number;
}

export interface Origin {
  /** Every request to Immich goes through this pool. */
  readonly pool: OriginPool;
  /** Where requests are addressed (the default Host of Porthole's own requests). */
  readonly target: OriginTarget;
  /** Human-readable description for logs, errors and `porthole doctor`. */
  describe(): string;
  /** null when requests can be attempted, otherwise the reason they cannot. */
  unavailable(): OriginUnavailable | null;
  close(): Promise<void>;
}
