// Which headers cross the proxy, in both directions. Works on rawHeaders (name/value pairs in arrival order,
// original case) and produces the same flat form, which node:http writes without re-validating objects.
import type http from 'node:http';
import type { RequestContext } from '../http/context.js';
import { setsOwnCookie } from '../http/cookies.js';
import { FORWARDING, forwardedHeaders } from '../origin/forwarded.js';

/** Headers that describe one hop, never the message (RFC 9110 section 7.6.1). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);
/** Names the request-side copy handles itself. */
const REPLACED: ReadonlySet<string> = new Set(['host', 'cookie']);

export interface HeaderPolicy {
  dropRequestHeaders?: ReadonlySet<string>;
  filterCookie?: (cookie: string) => string | undefined;
}

/** Extra hop-by-hop names listed in a Connection header; null for the usual "keep-alive"/"close"/"upgrade". */
function connectionNamed(value: string | string[] | undefined): Set<string> | null {
  if (value === undefined) return null;
  const joined = (Array.isArray(value) ? value.join(',') : value).toLowerCase();
  if (joined === 'keep-alive' || joined === 'close' || joined === 'upgrade') return null;
  const named = new Set<string>();
  for (const token of joined.split(',')) {
    const name = token.trim();
    if (name) named.add(name);
  }
  return named;
}

const BODY_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);

/**
 * The headers Immich gets, as a flat [name, value, ...] list: the client's own end-to-end headers, then
 * Host, X-Forwarded-* and X-Real-IP as Porthole established them (src/origin/forwarded.ts). Framing is restated explicitly so a
 * request body can never be re-framed differently on the origin side.
 */
export function buildOriginHeaders(req: http.IncomingMessage, ctx: RequestContext, policy: HeaderPolicy, keepUpgrade: boolean): string[] {
  const named = connectionNamed(req.headers.connection);
  const drop = policy.dropRequestHeaders;
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || FORWARDING.has(lower) || REPLACED.has(lower)) continue;
    // Content-Length frames the body that follows: a client naming it in Connection must not unframe it.
    if (lower !== 'content-length' && ((named !== null && named.has(lower)) || (drop !== undefined && drop.has(lower)))) continue;
    out.push(name, raw[i + 1]!);
  }
  const headers = req.headers;
  if (headers.cookie !== undefined) {
    const cookie = policy.filterCookie ? policy.filterCookie(headers.cookie) : headers.cookie;
    if (cookie) out.push('Cookie', cookie);
  }
  // Node's parser accepted Transfer-Encoding only if chunked is last, so the body is chunked on both hops.
  if (headers['transfer-encoding'] !== undefined) out.push('Transfer-Encoding', 'chunked');
  else if (headers['content-length'] === undefined && BODY_METHODS.has(req.method!)) out.push('Content-Length', '0');
  const forwarded = forwardedHeaders(req, ctx);
  for (let i = 0; i < forwarded.length; i++) out.push(forwarded[i]!);
  if (keepUpgrade && headers.upgrade) out.push('Connection', 'upgrade', 'Upgrade', headers.upgrade);
  return out;
}

/**
 * A response that carries one person's cookie (the gate's renewed session) must never be kept by a shared cache
 * and handed to others. `headers` is the flat list about to be sent. Answers the origin marked public or s-maxage
 * (e.g. Immich's /_app/immutable/ files) keep their caching and must go without the cookie: returns false.
 * Any other answer keeps the cookie and, unless already private or no-store, is marked private in place (a
 * browser's own cache treats it as before).
 */
export function mayCarryPersonalCookie(headers: string[]): boolean {
  let cacheControl = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length !== 13 || name.toLowerCase() !== 'cache-control') continue;
    const value = headers[i + 1]!;
    if (/(?:^|[\s,])(?:public|s-maxage)(?:$|[\s,=])/i.test(value)) return false;
    if (/(?:^|[\s,])(?:private|no-store)(?:$|[\s,=])/i.test(value)) return true;
    cacheControl = i;
  }
  if (cacheControl === -1) headers.push('Cache-Control', 'private');
  else headers[cacheControl + 1] = `private, ${headers[cacheControl + 1]}`;
  return true;
}

/** A caller's extra response headers, prepared once per (frozen, shared) object: their lower-case names and a flat list. */
interface PreparedExtra {
  readonly names: ReadonlySet<string>;
  readonly flat: readonly string[];
}
const PREPARED = new WeakMap<http.OutgoingHttpHeaders, PreparedExtra>();

function prepare(extra: http.OutgoingHttpHeaders): PreparedExtra {
  let prepared = PREPARED.get(extra);
  if (prepared === undefined) {
    const flat: string[] = [];
    for (const name in extra) {
      const value = extra[name];
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const item of value) flat.push(name, item);
      else flat.push(name, String(value));
    }
    prepared = { names: new Set(Object.keys(extra).map((n) => n.toLowerCase())), flat };
    // Only frozen objects can be cached: anything else might be edited after this call.
    if (Object.isFrozen(extra)) PREPARED.set(extra, prepared);
  }
  return prepared;
}

/** The origin's end-to-end response headers (a raw [name, value, ...] list) plus the caller's extras (which win). */
export function buildResponseHeadersFromRaw(raw: string[], extra: http.OutgoingHttpHeaders | undefined, close: boolean): string[] {
  // Read Connection from the raw list: touching proxyRes.headers would build a second copy of every header.
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') connection = connection === undefined ? raw[i + 1]! : `${connection}, ${raw[i + 1]}`;
  }
  const named = connectionNamed(connection);
  const added = extra === undefined ? undefined : prepare(extra);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (named !== null && named.has(lower)) || (added !== undefined && added.names.has(lower))) continue;
    // Only Porthole sets Porthole's cookies: an origin (or a tunnel-token holder) must not fix someone's session.
    if (lower === 'set-cookie' && setsOwnCookie(raw[i + 1]!)) continue;
    out.push(name, raw[i + 1]!);
  }
  if (added !== undefined) for (let i = 0; i < added.flat.length; i++) out.push(added.flat[i]!);
  if (close) out.push('Connection', 'close');
  return out;
}
