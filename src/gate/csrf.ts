// CSRF protection for every gate form: a double-submit token bound to a random pre-session cookie with an
// HMAC (a forged cookie cannot produce a matching token without the installation secret), plus the browser's
// own signals: a cross-site or same-site (e.g. from the share host) Sec-Fetch-Site, or an Origin that is not
// this host, is refused even with a valid token.
import crypto from 'node:crypto';
import type http from 'node:http';
import type { RequestContext } from '../http/context.js';
import { hmacHex, sameSecret } from './secret.js';
import { readCookie } from './session.js';

const COOKIE_SHAPE = /^[A-Za-z0-9_-]{43}$/;
/** The pre-session cookie lives long enough for a person to fetch the mail and come back. */
export const CSRF_COOKIE_SECONDS = 24 * 3600;

type CsrfFailure = 'cross-site' | 'origin' | 'no-cookie' | 'bad-token';

export interface Csrf {
  /** The cookie value this request carries, or a new one (isNew) that must be set along with the form. */
  cookieFor(req: http.IncomingMessage): { value: string; isNew: boolean };
  tokenFor(cookieValue: string): string;
  /** null when the form submission is acceptable, otherwise why not. */
  check(req: http.IncomingMessage, ctx: RequestContext, submittedToken: string | null): CsrfFailure | null;
}

export function createCsrf(key: Buffer, cookieName: string, publicScheme: 'http' | 'https'): Csrf {
  const tokenFor = (cookieValue: string) => hmacHex(key, `csrf\n${cookieValue}`);
  const current = (req: http.IncomingMessage) => {
    const value = readCookie(req.headers.cookie, cookieName);
    return value !== undefined && COOKIE_SHAPE.test(value) ? value : undefined;
  };
  return {
    tokenFor,
    cookieFor(req) {
      const value = current(req);
      return value ? { value, isNew: false } : { value: crypto.randomBytes(32).toString('base64url'), isNew: true };
    },
    check(req, ctx, submitted) {
      const site = req.headers['sec-fetch-site'];
      if (site !== undefined && site !== 'same-origin' && site !== 'none') return 'cross-site';
      const origin = req.headers.origin;
      if (origin !== undefined) {
        const host = ctx.rawHost.toLowerCase();
        if (origin !== `${publicScheme}://${host}` && origin !== `${ctx.client.scheme}://${host}`) return 'origin';
      }
      const cookie = current(req);
      if (!cookie) return 'no-cookie';
      if (!submitted || !sameSecret(tokenFor(cookie), submitted)) return 'bad-token';
      return null;
    },
  };
}
