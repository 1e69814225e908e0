// Validates a request target before any policy matching. Nothing is rewritten: a target is either already in
// the one canonical shape that Porthole and Immich parse identically, or it is refused. The exact bytes that
// were matched are the bytes forwarded, so no parsing difference between the two can open a route.

export const TARGET_LIMITS = { target: 4096, path: 1024, query: 2048, params: 24, name: 32 } as const;

export interface Target {
  /** The request target exactly as received (and as it will be forwarded). */
  readonly raw: string;
  readonly path: string;
  /** Decoded query parameters; names are unique (duplicates are refused). */
  readonly query: ReadonlyMap<string, string>;
}

export type TargetResult = { ok: true; target: Target } | { ok: false; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A membership table over ASCII, so each character of a target is checked with one array read. */
function asciiTable(chars: string): Uint8Array {
  const table = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1;
  return table;
}
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const NAME_START = asciiTable(ALNUM.slice(0, 52));
const NAME_CHAR = asciiTable(`${ALNUM}_`);
// Raw query value characters: unreserved plus the sub-delims browsers leave unescaped; '=' '&' ';' never.
const VALUE_CHAR = asciiTable(`${ALNUM}._~!$'()*,:@/?+-`);
// Raw path characters: unreserved plus sub-delims, ':' '@' and '/'; '%' only as the start of an escape.
const PATH_CHAR = asciiTable(`${ALNUM}._~!$'()*,:@=+&/-`);

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

/** The byte a %XX escape at `at` stands for, or -1 if the escape is broken. */
function escapedByte(text: string, at: number): number {
  if (at + 2 >= text.length) return -1;
  const high = hexValue(text.charCodeAt(at + 1));
  const low = hexValue(text.charCodeAt(at + 2));
  return high < 0 || low < 0 ? -1 : (high << 4) | low;
}

/** Bytes that may never appear percent-encoded in a path: separators, dots, escapes, controls. */
function forbiddenEncodedInPath(byte: number): boolean {
  return byte < 0x20 || byte === 0x7f || byte === 0x2f || byte === 0x5c || byte === 0x2e || byte === 0x25 || byte === 0x3f || byte === 0x23 || byte === 0x3b;
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) return true;
  }
  return false;
}

/** Decodes percent escapes (and '+' as space when asked) as strict UTF-8; null if invalid. */
export function decodeComponent(raw: string, plusIsSpace: boolean): string | null {
  const text = plusIsSpace ? raw.replace(/\+/g, ' ') : raw;
  if (!text.includes('%')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%') {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(text.charCodeAt(i));
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    return null;
  }
}

/** Validates the path in one pass: allowed characters, well-formed escapes of harmless bytes, no empty or dot segments. */
function pathProblem(path: string): string | null {
  if (path.length > TARGET_LIMITS.path) return 'path too long';
  let segmentStart = 1;
  for (let i = 1; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 0x2f;
    if (c === 0x2f) {
      const length = i - segmentStart;
      if (length === 0 && i < path.length) return 'empty path segment';
      if ((length === 1 || length === 2) && path.charCodeAt(segmentStart) === 0x2e && path.charCodeAt(i - 1) === 0x2e) return 'dot segment';
      segmentStart = i + 1;
    } else if (c === 0x25) {
      const byte = escapedByte(path, i);
      if (byte < 0) return 'broken escape';
      if (forbiddenEncodedInPath(byte)) return 'encoded separator, dot or control';
      i += 2;
    } else if (c >= 128 || PATH_CHAR[c] !== 1) return 'unexpected path character';
  }
  return null;
}

/** Validates and decodes the query in one pass over its pairs; names must be unique. */
function parseQuery(rawQuery: string, query: Map<string, string>): string | null {
  if (rawQuery.length === 0 || rawQuery.length > TARGET_LIMITS.query) return 'empty or over-long query';
  let pairs = 0;
  let at = 0;
  while (at <= rawQuery.length) {
    if (++pairs > TARGET_LIMITS.params) return 'too many parameters';
    let end = rawQuery.indexOf('&', at);
    if (end === -1) end = rawQuery.length;
    const eq = rawQuery.indexOf('=', at);
    if (eq <= at || eq >= end) return 'parameter without name or value';
    if (eq - at > TARGET_LIMITS.name || NAME_START[rawQuery.charCodeAt(at)] !== 1) return 'unexpected parameter name';
    for (let i = at + 1; i < eq; i++) {
      const c = rawQuery.charCodeAt(i);
      if (c >= 128 || NAME_CHAR[c] !== 1) return 'unexpected parameter name';
    }
    let encoded = false;
    for (let i = eq + 1; i < end; i++) {
      const c = rawQuery.charCodeAt(i);
      if (c === 0x25) {
        if (escapedByte(rawQuery, i) < 0) return 'unexpected parameter value';
        encoded = true;
        i += 2;
      } else if (c >= 128 || VALUE_CHAR[c] !== 1) return 'unexpected parameter value';
      else if (c === 0x2b) encoded = true;
    }
    const name = rawQuery.slice(at, eq);
    if (query.has(name)) return `repeated parameter ${name}`;
    const value = rawQuery.slice(eq + 1, end);
    if (!encoded) query.set(name, value);
    else {
      // Raw characters are printable ASCII; only escapes can smuggle in a control character.
      const decoded = decodeComponent(value, true);
      if (decoded === null || hasControl(decoded)) return 'invalid encoding in parameter value';
      query.set(name, decoded);
    }
    at = end + 1;
  }
  return null;
}

export function parseTarget(raw: string | undefined): TargetResult {
  if (!raw) return { ok: false, reason: 'empty target' };
  if (raw.length > TARGET_LIMITS.target) return { ok: false, reason: 'target too long' };
  if (raw.charCodeAt(0) !== 0x2f) return { ok: false, reason: 'not origin-form' };
  // Spaces, controls, non-ASCII, backslashes and fragments are outside both character tables, so the two
  // scans below refuse them wherever they appear.
  const mark = raw.indexOf('?');
  const path = mark === -1 ? raw : raw.slice(0, mark);
  const pathError = pathProblem(path);
  if (pathError !== null) return { ok: false, reason: pathError };
  const query = new Map<string, string>();
  if (mark !== -1) {
    const queryError = parseQuery(raw.slice(mark + 1), query);
    if (queryError !== null) return { ok: false, reason: queryError };
  }
  return { ok: true, target: { raw, path, query } };
}
