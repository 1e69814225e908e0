// The share host forwards exactly one cookie, Immich's password-unlock token, and only to link routes.
// Several copies of it (a classic parser-difference trick) or an odd value mean no cookie at all.
import { SHARE_COOKIE } from './policy.js';

const VALUE = /^[A-Za-z0-9%+/=._~-]{1,2048}$/;

/** The raw value of the unlock cookie, if there is exactly one well-formed copy. */
export function shareCookieValue(header: string | undefined): string | undefined {
  if (!header) return undefined;
  let found: string | undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== SHARE_COOKIE) continue;
    if (found !== undefined) return undefined;
    found = part.slice(eq + 1).trim();
  }
  return found !== undefined && VALUE.test(found) ? found : undefined;
}

export function keepShareCookie(header: string): string | undefined {
  const value = shareCookieValue(header);
  return value === undefined ? undefined : `${SHARE_COOKIE}=${value}`;
}
