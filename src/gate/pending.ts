// The pending-sign-in cookie: which address the code page is for, signed and short-lived, so the code form
// needs only the code and a reload does not lose the address. It says nothing about whether the address is
// allowed: unknown addresses get the very same cookie.
import crypto from 'node:crypto';
import { sameSecret } from './secret.js';

export interface Pending {
  email: string;
  expiresAt: number;
  /** The code this browser asked for: only it can be entered here (others' requests never touch it). */
  codeId?: string;
}

const CODE_ID = /^[0-9a-f]{32}$/;

const sign = (key: Buffer, payload: string) => crypto.createHmac('sha256', key).update(`pending\n${payload}`).digest('base64url');

export function encodePending(key: Buffer, pending: Pending): string {
  const payload = `${Buffer.from(pending.email).toString('base64url')}.${pending.expiresAt.toString(36)}.${pending.codeId ?? ''}`;
  return `${payload}.${sign(key, payload)}`;
}

export function decodePending(key: Buffer, value: string | undefined, now: number): Pending | null {
  if (!value || value.length > 512) return null;
  const parts = value.split('.');
  if (parts.length !== 4) return null;
  const [email64, expiry, codeId, mac] = parts as [string, string, string, string];
  if (!sameSecret(sign(key, `${email64}.${expiry}.${codeId}`), mac)) return null;
  const expiresAt = parseInt(expiry, 36);
  if (!Number.isSafeInteger(expiresAt) || expiresAt <= now) return null;
  const email = Buffer.from(email64, 'base64url').toString('utf8');
  return CODE_ID.test(codeId) ? { email, expiresAt, codeId } : { email, expiresAt };
}
