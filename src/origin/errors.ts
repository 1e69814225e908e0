// Why a request to Immich failed: one hierarchy with stable codes, whatever carried the request (TCP, a tunnel
// stream) and whoever asked (forwarding, upgrades, link lookups, originals, the doctor, health). Socket and
// connector error codes (ECONNREFUSED, ERR_HTTP2_STREAM_CANCEL, ...) are translated here, in one place; the
// refusal page (src/http/refuse.ts) maps the stable codes to answers, and logs keep the underlying code.

export type OriginErrorCode = 'ORIGIN_UNREACHABLE' | 'ORIGIN_TIMEOUT' | 'ORIGIN_RESET' | 'ORIGIN_BAD_RESPONSE' | 'TUNNEL_DOWN';

/** What a person can act on when the origin cannot be reached at all. */
export type UnreachableReason = 'name-not-found' | 'connection-refused' | 'no-route' | 'other';

export abstract class OriginError extends Error {
  abstract readonly code: OriginErrorCode;
  /** The code underneath (ECONNREFUSED, ETIMEDOUT, the connector's report, ...), for logs and the private host's page. */
  readonly systemCode: string | undefined;

  constructor(message: string, systemCode?: string) {
    super(message);
    this.systemCode = systemCode;
    this.name = new.target.name;
  }
}

/** No connection to Immich could be made (name, refusal, route), directly or from the home connector. */
export class OriginUnreachableError extends OriginError {
  readonly code = 'ORIGIN_UNREACHABLE';
  constructor(
    message: string,
    readonly reason: UnreachableReason,
    systemCode?: string,
  ) {
    super(message, systemCode);
  }
}

/** Immich went quiet for longer than the idle timeout (no byte either way). */
export class OriginTimeoutError extends OriginError {
  readonly code = 'ORIGIN_TIMEOUT';
}

/** The connection to Immich closed or was reset before the answer was complete. */
export class OriginResetError extends OriginError {
  readonly code = 'ORIGIN_RESET';
}

/** Immich's answer broke HTTP/1.1 (or a bound Porthole sets on answers): never relayed, connection never reused. */
export class OriginBadResponseError extends OriginError {
  readonly code = 'ORIGIN_BAD_RESPONSE';
}

/** Tunnel mode: no home connector is attached, or the one carrying this request went away. */
export class TunnelDownError extends OriginError {
  readonly code = 'TUNNEL_DOWN';
  constructor(
    message: string,
    /** When the last connector went away, or null if unknown or none was ever attached. */
    readonly since: Date | null = null,
    systemCode?: string,
  ) {
    super(message, systemCode);
  }
}

/** Any failure on the way to Immich, as one of the errors above (an OriginError is returned as it is). */
export function toOriginError(error: unknown): OriginError {
  if (error instanceof OriginError) return error;
  const e = (error instanceof Error ? error : new Error(String(error))) as NodeJS.ErrnoException;
  const code = typeof e.code === 'string' ? e.code : undefined;
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new OriginUnreachableError(e.message, 'name-not-found', code);
    case 'ECONNREFUSED':
      return new OriginUnreachableError(e.message, 'connection-refused', code);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new OriginUnreachableError(e.message, 'no-route', code);
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
      return new OriginTimeoutError(e.message, code);
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
    case 'ERR_STREAM_PREMATURE_CLOSE':
    case 'ERR_HTTP2_STREAM_ERROR':
      return new OriginResetError(e.message, code);
    case 'ETUNNELOFFLINE':
    case 'ERR_HTTP2_STREAM_CANCEL':
    case 'ERR_HTTP2_GOAWAY_SESSION':
    case 'ERR_HTTP2_INVALID_SESSION':
    case 'ERR_HTTP2_SESSION_ERROR':
      return new TunnelDownError(e.message, null, code);
    default:
      return new OriginUnreachableError(e.message, 'other', code);
  }
}
