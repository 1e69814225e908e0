// The one non-secret name of a share link's credential: limiter keys, audit lines and the per-link record
// (src/store/link-records.ts) all use it, so none of them ever holds a key or a slug. A leaf module: the store
// reads it without depending on the rest of the share host.
import crypto from 'node:crypto';
import type { LinkCredential } from './engine.js';

/** A non-secret name for a link credential (for limiter keys and audit lines). */
export function linkTag(credential: LinkCredential): string {
  // Immich decodes keys leniently (hex in any case, base64url ignoring the last character's spare bits): name
  // a key by its bytes, so every spelling of one link shares its limits.
  const value = credential.kind === 'key' ? Buffer.from(credential.value, credential.value.length === 100 ? 'hex' : 'base64url').toString('base64url') : credential.value;
  return crypto.createHash('sha256').update(`${credential.kind}:${value}`).digest('base64url').slice(0, 16);
}
