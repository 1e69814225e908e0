// The share host forwards exactly one cookie, Immich's password-unlock token, and only to link routes.
// Several copies of it (a classic parser-difference trick) or an odd value mean no cookie at all.
import { readCookies } from '../http/cookies.js';
import { SHARE_COOKIE } from './policy.js';

const VALUE = /^[A-Za-z0-9%+/=._~-]{1,2048}$/;

/** The raw value of the unlock cookie, if there is exactly one well-formed copy (read by the strict parser). */
export function shareCookieValue(header: string | undefined): string | undefined {
  const found = readCookies(header, SHARE_COOKIE);
  return found.length === 1 && VALUE.test(found[0]!) ? found[0] : undefined;
}

export function keepShareCookie(header: string): string | undefined {
  const value = shareCookieValue(header);
  return value === undefined ? undefined : `${SHARE_COOKIE}=${value}`;
}
