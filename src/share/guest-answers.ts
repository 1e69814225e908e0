// Only what a guest needs leaves the share host. Immich's JSON answers can carry more: the link's password in
// clear text (GET /api/shared-links/me and POST /login, once unlocked) and, depending on the version and the
// route, users with their e-mail addresses (album owner and members, asset owners). Every share-host answer
// passes through here: header values lose e-mail addresses; JSON bodies (small ones only, bounded; images,
// videos and zips stream untouched) lose the link password, user objects and e-mail addresses, whatever
// Immich sends. Immich v3.1.0 itself answers guests with `owner: null` and `albumUsers: []`: that is the shape
// kept here, so its share page works unchanged.
import zlib from 'node:zlib';
import type { AnswerFilter, BodyRewriter } from '../proxy/forward.js';

/** JSON answers larger than this are refused rather than relayed unchecked (a month of a huge album stays far below). */
const MAX_CHECKED_JSON_BYTES = 32 * 1024 * 1024;

/** What an e-mail address becomes. */
export const HIDDEN = '(hidden)';

// Deliberately broad (any local part, any dotted domain): a false match costs a few characters of text, a
// missed address is a leak.
const EMAIL = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;
const HAS_EMAIL = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]@[A-Za-z0-9-]+\.[A-Za-z0-9-]/;

/** Keys whose values a guest never gets: the link password, and users (Immich v3.1.0's own guest shape). */
const REPLACED: ReadonlyMap<string, () => unknown> = new Map<string, () => unknown>([
  ['password', () => null],
  ['owner', () => null],
  ['albumUsers', () => []],
]);

/** Replaces every e-mail address in a string. */
function hideEmails(text: string): string {
  return text.includes('@') ? text.replace(EMAIL, HIDDEN) : text;
}

/** A JSON value as a guest may see it; objects and arrays (fresh from JSON.parse) are edited in place. */
export function forGuest(value: unknown): unknown {
  if (typeof value === 'string') return hideEmails(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' ? item !== null : typeof item === 'string') value[i] = forGuest(item);
    }
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (key === 'email' || key.includes('@')) {
      delete record[key];
      continue;
    }
    const replace = REPLACED.get(key);
    const item = record[key];
    const next = replace ? replace() : forGuest(item);
    if (next === item) continue;
    // A "__proto__" key from JSON.parse is plain data: defined, never assigned (which would set the prototype).
    if (key === '__proto__') Object.defineProperty(record, key, { value: next, writable: true, enumerable: true, configurable: true });
    else record[key] = next;
  }
  return record;
}

/** The body as a guest may see it, or null when it cannot be checked (not JSON): then it is not sent at all. */
export function guestJson(body: Buffer): Buffer | null {
  // Nothing to remove unless the text has an '@', a "password" key or a \u escape (which could spell either).
  if (body.indexOf('@') === -1 && body.indexOf('\\u') === -1 && body.indexOf('password') === -1) return body;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
    return Buffer.from(JSON.stringify(forGuest(parsed)), 'utf8');
  } catch {
    return null;
  }
}

type Coding = 'gzip' | 'deflate' | 'br';
const DECODE: Record<Coding, (b: Buffer) => Buffer> = {
  gzip: (b) => zlib.gunzipSync(b, { maxOutputLength: MAX_CHECKED_JSON_BYTES }),
  deflate: (b) => zlib.inflateSync(b, { maxOutputLength: MAX_CHECKED_JSON_BYTES }),
  br: (b) => zlib.brotliDecompressSync(b, { maxOutputLength: MAX_CHECKED_JSON_BYTES }),
};
const ENCODE: Record<Coding, (b: Buffer) => Buffer> = {
  gzip: (b) => zlib.gzipSync(b),
  deflate: (b) => zlib.deflateSync(b),
  br: (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } }),
};

const plainJson: BodyRewriter = { maxBytes: MAX_CHECKED_JSON_BYTES, rewrite: guestJson };
const refused: BodyRewriter = { maxBytes: 0, rewrite: () => null };
const encodedJson = (coding: Coding): BodyRewriter => ({
  maxBytes: MAX_CHECKED_JSON_BYTES,
  rewrite(body) {
    let decoded: Buffer;
    try {
      decoded = DECODE[coding](body);
    } catch {
      return null;
    }
    const checked = guestJson(decoded);
    if (checked === null) return null;
    // Sent in the coding the origin chose for this client (it accepted it), so nothing changes for the page.
    return checked === decoded ? body : ENCODE[coding](checked);
  },
});

const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\s*(?:;|$)/i;

/** The share host's answer filter: header values always; JSON bodies held back and rewritten. */
export const guestAnswers: AnswerFilter = {
  head(_status, raw) {
    let type = '';
    let coding = '';
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      if (value.includes('@') || value.includes('%40')) raw[i + 1] = hideHeaderEmails(value);
      if (name.length === 12 && name.toLowerCase() === 'content-type') type = value;
      else if (name.length === 16 && name.toLowerCase() === 'content-encoding') coding = value.trim().toLowerCase();
    }
    if (!JSON_TYPE.test(type)) return null;
    if (coding === '' || coding === 'identity') return plainJson;
    if (coding === 'gzip' || coding === 'x-gzip') return encodedJson('gzip');
    if (coding === 'deflate' || coding === 'br') return encodedJson(coding);
    return refused;
  },
};

/** Header values may spell '@' as %40 (filename*=UTF-8''...): an address either way is hidden. */
function hideHeaderEmails(value: string): string {
  const decoded = value.replace(/%40/gi, '@');
  return HAS_EMAIL.test(decoded) ? decoded.replace(EMAIL, HIDDEN) : value;
}
