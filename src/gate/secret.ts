// The per-installation secret: 32 random bytes in the data directory (mode 0600), created on first start.
// Code and link hashes, CSRF tokens and the pending-sign-in cookie are keyed with keys derived from it, so a
// leaked database alone cannot be brute-forced offline (a 6-digit code has only 10^6 values).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const FILE_NAME = 'gate.key';
const SECRET_BYTES = 32;

export interface GateKeys {
  /** Keys the stored hashes of codes and sign-in link tokens. */
  code: Buffer;
  /** Signs CSRF tokens. */
  csrf: Buffer;
  /** Signs the pending-sign-in cookie (which address the code page is for). */
  pending: Buffer;
}

/** Reads the secret, creating it atomically if absent; repairs loose permissions rather than trusting them. */
export function loadOrCreateSecret(dataDir: string): Buffer {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, FILE_NAME);
  try {
    const fd = fs.openSync(file, 'wx', 0o600);
    try {
      fs.writeSync(fd, crypto.randomBytes(SECRET_BYTES));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const secret = fs.readFileSync(file);
  if (secret.length !== SECRET_BYTES) {
    throw new Error(`${file} must hold exactly ${SECRET_BYTES} bytes (it holds ${secret.length}); delete it to create a new one (this signs everyone out)`);
  }
  if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  return secret;
}

export function deriveKeys(secret: Buffer): GateKeys {
  const derive = (purpose: string) => crypto.createHmac('sha256', secret).update(`porthole gate ${purpose} v1`).digest();
  return { code: derive('code'), csrf: derive('csrf'), pending: derive('pending') };
}

export const hmacHex = (key: Buffer, data: string): string => crypto.createHmac('sha256', key).update(data).digest('hex');

/** Constant-time comparison of two hex/base64url strings; unequal lengths are simply unequal. */
export function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}
