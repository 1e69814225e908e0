// Tunnel enrollment tokens: what `porthole tunnel token create` prints and `porthole connect --token` reads.
// A token carries where the gateway is, the certificate pin (for a self-signed gateway), a public id and a
// secret. The gateway keeps only a hash of the secret, keyed by the id.
// Several gateways acting as one: a token may name more gateways (each with its own pin) and may ask the
// connector to dial every address a gateway's name resolves to. Both ride in optional fields of the same
// version, so a single-address token reads exactly as before, and an older connector reading a newer token
// still dials the first gateway.
import crypto from 'node:crypto';
import { MAX_TOKEN_LENGTH } from './protocol.js';

const PREFIX = 'pht1_';
/** Gateways one token may name, so the token stays within MAX_TOKEN_LENGTH with a pin for each. */
export const MAX_GATEWAYS = 8;

/** One gateway a connector dials, with the certificate pin that gateway must show (null: public CAs). */
export interface GatewayPin {
  address: string;
  fingerprint: string | null;
}

export interface TunnelToken {
  /** Public id, shown by `token list` and used by `token revoke`. */
  id: string;
  secret: string;
  /** host:port of the gateway's HTTPS listener. */
  gateway: string;
  /** SHA-256 of the gateway certificate (lowercase hex), when the connector must pin it. */
  fingerprint: string | null;
  /** Further gateways acting as one with the first; the connector keeps a connection to each. */
  moreGateways?: GatewayPin[];
  /** Dial every address each gateway's name resolves to (re-resolved now and then), not just one. */
  everyAddress?: boolean;
}

/** Every gateway the token names, the first one first. */
export function tokenGateways(token: TunnelToken): GatewayPin[] {
  return [{ address: token.gateway, fingerprint: token.fingerprint }, ...(token.moreGateways ?? [])];
}

export function newTokenId(): string {
  return crypto.randomBytes(6).toString('hex');
}

export function newSecret(): string {
  return crypto.randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string): string {
  return crypto.createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** Accepts "aa:bb:..." or "aabb..." in any case; returns lowercase hex or throws. */
export function normalizeFingerprint(value: string): string {
  const hex = value.replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error('certificate fingerprint must be a SHA-256 (64 hex digits)');
  return hex;
}

export function parseGatewayAddress(value: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value);
  if (!match) throw new Error(`gateway address must look like host:port, got ${JSON.stringify(value)}`);
  const port = match[2] === undefined ? 443 : Number(match[2]);
  if (port < 1 || port > 65535) throw new Error(`gateway port out of range: ${port}`);
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

export function encodeToken(token: TunnelToken): string {
  const more = token.moreGateways ?? [];
  if (more.length + 1 > MAX_GATEWAYS) throw new Error(`a token names at most ${MAX_GATEWAYS} gateways`);
  const body = {
    v: 1,
    i: token.id,
    s: token.secret,
    g: token.gateway,
    ...(token.fingerprint ? { f: token.fingerprint } : {}),
    ...(more.length ? { x: more.map((m) => ({ g: m.address, ...(m.fingerprint ? { f: m.fingerprint } : {}) })) } : {}),
    ...(token.everyAddress ? { a: 1 } : {}),
  };
  const text = PREFIX + Buffer.from(JSON.stringify(body)).toString('base64url');
  if (text.length > MAX_TOKEN_LENGTH) throw new Error('the token would be too long: name fewer gateways, or shorter names');
  return text;
}

function decodePin(value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string') throw new Error('tunnel token has a bad fingerprint');
  try {
    return normalizeFingerprint(value);
  } catch {
    throw new Error('tunnel token has a bad fingerprint');
  }
}

export function decodeToken(text: string): TunnelToken {
  const trimmed = text.trim();
  if (trimmed.length > MAX_TOKEN_LENGTH) throw new Error('tunnel token is too long');
  if (!trimmed.startsWith(PREFIX)) throw new Error(`not a Porthole tunnel token (expected it to start with ${PREFIX})`);
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(trimmed.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw new Error('tunnel token is damaged (copy it again from `porthole tunnel token create`)');
  }
  const b = body as Record<string, unknown>;
  if (typeof b !== 'object' || b === null || b.v !== 1) throw new Error('tunnel token has an unknown version');
  if (typeof b.i !== 'string' || !/^[0-9a-f]{12}$/.test(b.i)) throw new Error('tunnel token has a bad id');
  if (typeof b.s !== 'string' || !/^[A-Za-z0-9_-]{20,100}$/.test(b.s)) throw new Error('tunnel token has a bad secret');
  if (typeof b.g !== 'string') throw new Error('tunnel token has no gateway address');
  parseGatewayAddress(b.g);
  const token: TunnelToken = { id: b.i, secret: b.s, gateway: b.g, fingerprint: decodePin(b.f) };
  if (b.x !== undefined) {
    if (!Array.isArray(b.x) || b.x.length === 0 || b.x.length + 1 > MAX_GATEWAYS) throw new Error(`tunnel token has a bad list of gateways (at most ${MAX_GATEWAYS})`);
    token.moreGateways = b.x.map((entry: unknown) => {
      const e = entry as Record<string, unknown>;
      if (typeof e !== 'object' || e === null || typeof e.g !== 'string') throw new Error('tunnel token has a bad list of gateways');
      parseGatewayAddress(e.g);
      return { address: e.g, fingerprint: decodePin(e.f) };
    });
  }
  if (b.a !== undefined) {
    if (b.a !== 1) throw new Error('tunnel token has a bad address mode');
    token.everyAddress = true;
  }
  return token;
}

/** The "id.secret" credential the connector presents; the gateway splits it back (bounded, validated). */
export function credentialOf(token: Pick<TunnelToken, 'id' | 'secret'>): string {
  return `${token.id}.${token.secret}`;
}

export function parseCredential(value: string): { id: string; secret: string } | null {
  if (value.length > 200) return null;
  const match = /^([0-9a-f]{12})\.([A-Za-z0-9_-]{20,100})$/.exec(value);
  return match ? { id: match[1]!, secret: match[2]! } : null;
}
