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

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
// Raw query value characters: unreserved plus the sub-delims browsers leave unescaped; '=' '&' ';' never.
const VALUE = /^(?:[A-Za-z0-9._~!$'()*,:@/?+-]|%[0-9A-Fa-f]{2})*$/;
const PATH_CHARS = /^(?:[A-Za-z0-9._~!$'()*,:@=+&/-]|%[0-9A-Fa-f]{2})*$/;
const HEX = /%([0-9A-Fa-f]{2})/g;
const utf8 = new TextDecoder('utf-8', { fatal: true });

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

export function parseTarget(raw: string | undefined): TargetResult {
  if (!raw) return { ok: false, reason: 'empty target' };
  if (raw.length > TARGET_LIMITS.target) return { ok: false, reason: 'target too long' };
  if (raw[0] !== '/') return { ok: false, reason: 'not origin-form' };
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return { ok: false, reason: 'control, space or non-ASCII byte' };
  }
  if (raw.includes('\\') || raw.includes('#')) return { ok: false, reason: 'backslash or fragment' };
  const mark = raw.indexOf('?');
  const path = mark === -1 ? raw : raw.slice(0, mark);
  const rawQuery = mark === -1 ? null : raw.slice(mark + 1);

  if (path.length > TARGET_LIMITS.path) return { ok: false, reason: 'path too long' };
  if (!PATH_CHARS.test(path)) return { ok: false, reason: 'unexpected path character or broken escape' };
  if (path.includes('//')) return { ok: false, reason: 'empty path segment' };
  for (const segment of path.split('/')) {
    if (segment === '.' || segment === '..') return { ok: false, reason: 'dot segment' };
  }
  for (const match of path.matchAll(HEX)) {
    if (forbiddenEncodedInPath(parseInt(match[1]!, 16))) return { ok: false, reason: 'encoded separator, dot or control' };
  }

  const query = new Map<string, string>();
  if (rawQuery !== null) {
    if (rawQuery.length === 0 || rawQuery.length > TARGET_LIMITS.query) return { ok: false, reason: 'empty or over-long query' };
    const pairs = rawQuery.split('&');
    if (pairs.length > TARGET_LIMITS.params) return { ok: false, reason: 'too many parameters' };
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq <= 0) return { ok: false, reason: 'parameter without name or value' };
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (name.length > TARGET_LIMITS.name || !NAME.test(name)) return { ok: false, reason: 'unexpected parameter name' };
      if (!VALUE.test(value)) return { ok: false, reason: 'unexpected parameter value' };
      if (query.has(name)) return { ok: false, reason: `repeated parameter ${name}` };
      const decoded = decodeComponent(value, true);
      if (decoded === null || hasControl(decoded)) return { ok: false, reason: 'invalid encoding in parameter value' };
      query.set(name, decoded);
    }
  }
  return { ok: true, target: { raw, path, query } };
}
