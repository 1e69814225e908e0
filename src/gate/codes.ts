// Sign-in codes and link tokens: generated from the CSPRNG, stored only as keyed hashes bound to the address,
// compared in constant time.
import crypto from 'node:crypto';
import { hmacHex, sameSecret } from './secret.js';

export const LINK_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export const newCode = (): string => crypto.randomInt(0, 1_000_000).toString().padStart(6, '0');
export const newLinkToken = (): string => crypto.randomBytes(32).toString('base64url');
/** Names one code request; not secret (it sits in the requester's signed pending cookie). */
export const newCodeId = (): string => crypto.randomBytes(16).toString('hex');

export const hashCode = (key: Buffer, email: string, code: string): string => hmacHex(key, `code\n${email}\n${code}`);
export const hashLinkToken = (key: Buffer, token: string): string => hmacHex(key, `link\n${token}`);

/** Digits only, with the spaces or dashes people type or paste; null if it cannot be a code. */
export function normalizeCode(input: string | null): string | null {
  if (input === null || input.length > 32) return null;
  const digits = input.replace(/[\s-]/g, '');
  return /^\d{6}$/.test(digits) ? digits : null;
}

export const codeMatches = (key: Buffer, email: string, typed: string, storedHash: string): boolean => sameSecret(hashCode(key, email, typed), storedHash);
