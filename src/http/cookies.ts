// Cookies as every part of Porthole reads them: one strict parser of the Cookie request header (RFC 6265
// section 4.2: pairs separated by ';', a name is everything before the pair's first '=', matched exactly), so
// the gate that finds a session and the filter that strips Porthole's cookies before forwarding can never
// disagree about what a header holds; and the names Porthole owns, in every spelling a browser or an origin
// might use, so they are neither forwarded to Immich nor accepted from it in a Set-Cookie.

/** Optional whitespace around names and values (RFC 9110 OWS: space and tab). */
const isBlank = (code: number): boolean => code === 0x20 || code === 0x09;

/**
 * Calls `visit(name, value, start, end)` for each pair of a Cookie header, in order; stops early when it returns
 * true. Spaces and tabs around names and values are not part of them; a pair without '=' has no name and is
 * skipped. Text after a space inside a value is still that value: "x=a porthole_session=T" is one pair named "x".
 */
export function eachCookie(header: string, visit: (name: string, value: string, start: number, end: number) => boolean | void): void {
  for (let start = 0; start <= header.length;) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const name = nameBounds(header, start, end);
    if (name !== null && visit(header.slice(name[0], name[1]), valueAt(header, name[2], end), start, end)) return;
    start = end + 1;
  }
}

/** [nameStart, nameEnd, eq] of the pair in header[start, end), or null when it has no '=' or an empty name. */
function nameBounds(header: string, start: number, end: number): [number, number, number] | null {
  const eq = header.indexOf('=', start);
  if (eq === -1 || eq >= end) return null;
  let from = start;
  let to = eq;
  while (from < to && isBlank(header.charCodeAt(from))) from++;
  while (to > from && isBlank(header.charCodeAt(to - 1))) to--;
  return from === to ? null : [from, to, eq];
}

function valueAt(header: string, eq: number, end: number): string {
  let from = eq + 1;
  let to = end;
  while (from < to && isBlank(header.charCodeAt(from))) from++;
  while (to > from && isBlank(header.charCodeAt(to - 1))) to--;
  return header.slice(from, to);
}

/**
 * The value of the first pair named exactly `name`, or undefined. This runs on every request to the private host,
 * so it finds the name with indexOf and then checks it is a pair's name in eachCookie's terms: only blanks
 * between it and the pair's start (the header's start or a ';'), only blanks between it and its '='.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (let from = 0; ;) {
    const at = header.indexOf(name, from);
    if (at === -1) return undefined;
    let before = at;
    while (before > 0 && isBlank(header.charCodeAt(before - 1))) before--;
    let eq = at + name.length;
    while (eq < header.length && isBlank(header.charCodeAt(eq))) eq++;
    if ((before === 0 || header.charCodeAt(before - 1) === 0x3b) && header.charCodeAt(eq) === 0x3d) {
      const end = header.indexOf(';', eq + 1);
      return valueAt(header, eq, end === -1 ? header.length : end);
    }
    from = at + 1;
  }
}

/** Every value of pairs named exactly `name`, in order. */
export function readCookies(header: string | undefined, name: string): string[] {
  const found: string[] = [];
  if (!header || !header.includes(name)) return found;
  eachCookie(header, (pairName, value) => void (pairName === name && found.push(value)));
  return found;
}

/**
 * Porthole's cookie names in any spelling: porthole_session, porthole_csrf, porthole_pending (and any later
 * porthole_* name), with or without a __Host- or __Secure- prefix, in any letter case. Stripping every spelling
 * costs nothing, and a browser or an origin that treats names loosely cannot slip one through (odd characters in
 * front of the name, such as a no-break space or a quote, do not hide it either).
 */
const OWN_NAME = /^[^a-z0-9_]*(?:__host-|__secure-)?porthole_/i;

const isOwnCookieName = (name: string): boolean => OWN_NAME.test(name);

/** A value that carries what looks like one of Porthole's pairs ("a porthole_session=..."): never Immich's. */
const EMBEDS_OWN = /(?:^|[^a-z0-9_-])(?:__host-|__secure-)?porthole_[a-z]*=/i;

/**
 * The Cookie header without Porthole's cookies (the same pairs the gate reads), or undefined if none remain.
 * A pair whose value embeds one of Porthole's names goes too: whatever token it hides never reaches Immich.
 */
export function withoutOwnCookies(header: string): string | undefined {
  if (!/porthole_/i.test(header)) return header;
  const kept: string[] = [];
  eachCookie(header, (name, value, start, end) => void (isOwnCookieName(name) || EMBEDS_OWN.test(value) || kept.push(header.slice(start, end).trim())));
  return kept.length ? kept.join('; ') : undefined;
}

/**
 * The name a browser would send back for a Set-Cookie header value: the text before the first '=' of its
 * first pair, trimmed. A pair with an empty name ("=porthole_session=X", or no '=' at all) is sent back as its
 * bare value, so then the value's own name part counts.
 */
function setCookieName(value: string): string {
  const semicolon = value.indexOf(';');
  const pair = semicolon === -1 ? value : value.slice(0, semicolon);
  const eq = pair.indexOf('=');
  const name = eq === -1 ? '' : pair.slice(0, eq).trim();
  if (name !== '') return name;
  const rest = eq === -1 ? pair : pair.slice(eq + 1);
  const inner = rest.indexOf('=');
  return (inner === -1 ? rest : rest.slice(0, inner)).trim();
}

/** True when an origin's Set-Cookie would set one of Porthole's cookies (session fixation by the origin). */
export const setsOwnCookie = (setCookieValue: string): boolean => /porthole_/i.test(setCookieValue) && isOwnCookieName(setCookieName(setCookieValue));
