// The origin seam: where connections to Immich come from.
// The proxy never dials by itself; it asks an Origin for an http.Agent whose sockets reach Immich.
// Direct mode dials TCP (direct.ts); tunnel mode hands out streams carried by a home connector
// (src/tunnel). Everything above this seam is identical in both modes.
import type http from 'node:http';

/** Why the origin cannot take a request right now, said before any request is attempted. */
export interface OriginUnavailable {
  /** 'tunnel-offline': no connector is attached. */
  kind: 'tunnel-offline';
  /** When the last connector went away, or null if none was ever attached. */
  since: Date | null;
}

export interface Origin {
  /** Reaches the origin; every forwarded request and WebSocket upgrade goes through it. */
  readonly agent: http.Agent;
  /** Where requests are addressed: the origin as Immich sees its own URL. */
  readonly target: { protocol: 'http:'; hostname: string; port: number };
  /** Human-readable description for logs, errors and `porthole doctor`. */
  describe(): string;
  /** null when requests can be attempted, otherwise the reason they cannot. */
  unavailable(): OriginUnavailable | null;
  close(): Promise<void>;
}
