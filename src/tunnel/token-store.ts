// Tunnel tokens on the gateway: making one (the secret is shown once, only its hash is stored) and checking
// the credential a connector presents. The records live in the main store (store.ts TunnelTokenStore).
import type { TunnelTokenStore } from '../store/store.js';
import { hashSecret, newSecret, newTokenId, parseCredential, secretMatches } from './token.js';
import { MAX_NAME_LENGTH } from './protocol.js';

export type { TunnelTokenRecord, TunnelTokenStore } from '../store/store.js';

export function validateTokenName(name: string): string {
  const trimmed = name.trim();
  if (!/^[\p{L}\p{N} ._@-]{1,64}$/u.test(trimmed) || trimmed.length > MAX_NAME_LENGTH) {
    throw new Error('token name: 1-64 letters, digits, spaces or . _ @ -');
  }
  return trimmed;
}

/** Creates a token; the returned secret is shown once and never stored. */
export function createTunnelToken(store: TunnelTokenStore, name: string, now = Date.now()): { id: string; secret: string } {
  const id = newTokenId();
  const secret = newSecret();
  store.insert({ id, name: validateTokenName(name), secretHash: hashSecret(secret), createdAt: now });
  return { id, secret };
}

export interface TokenVerifier {
  /** The token id when the credential is valid and not revoked, else null. */
  verify(credential: string): Promise<string | null> | string | null;
  /** Whether a token accepted earlier is still valid (asked again when the store says tokens were revoked). */
  stillValid(tokenId: string): Promise<boolean> | boolean;
}

export function storeTokenVerifier(store: TunnelTokenStore): TokenVerifier {
  return {
    verify(credential) {
      const parsed = parseCredential(credential);
      if (!parsed) return null;
      const found = store.findHash(parsed.id);
      if (!found || found.revokedAt !== null) {
        // Same work as a hit, so the answer time says nothing about which ids exist.
        secretMatches(parsed.secret, '0'.repeat(64));
        return null;
      }
      if (!secretMatches(parsed.secret, found.secretHash)) return null;
      store.touch(parsed.id, Date.now());
      return parsed.id;
    },
    stillValid(tokenId) {
      const found = store.findHash(tokenId);
      return !!found && found.revokedAt === null;
    },
  };
}
