// Response headers of the share host: nothing indexed (unless the owner listed the link as public), the
// secret URL never leaked as a Referer to map tiles or anything else, never framed, and password-protected
// content never stored by a shared cache.
import type http from 'node:http';

export const NO_INDEX = 'noindex, nofollow, noarchive';

const SHARE_HEADERS = new Map<string, Readonly<http.OutgoingHttpHeaders>>();

/**
 * Headers every share-host answer carries. Four variants at most, built once and shared (frozen: nothing may
 * edit them), because this runs on every request.
 */
export function shareHeaders(options: { indexable: boolean; passwordProtected: boolean }): http.OutgoingHttpHeaders {
  const key = `${options.indexable}|${options.passwordProtected}`;
  let headers = SHARE_HEADERS.get(key);
  if (!headers) {
    const built: http.OutgoingHttpHeaders = {
      'referrer-policy': 'no-referrer',
      // X-Frame-Options rather than a CSP: replacing Immich's own Content-Security-Policy (helmet, when an admin
      // enables it) with a frame-only one would weaken it.
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
    };
    if (!options.indexable) built['x-robots-tag'] = NO_INDEX;
    if (options.passwordProtected) built['cache-control'] = 'private, no-store';
    headers = Object.freeze(built);
    SHARE_HEADERS.set(key, headers);
  }
  return headers as http.OutgoingHttpHeaders;
}

/** robots.txt: everything disallowed, except the pages of links the owner chose to make public. */
export function robotsTxt(publicLinks: readonly string[]): string {
  const lines = ['User-agent: *'];
  for (const link of publicLinks) {
    const encoded = encodeURIComponent(link);
    lines.push(`Allow: /share/${encoded}$`, `Allow: /share/${encoded}/`, `Allow: /s/${encoded}$`, `Allow: /s/${encoded}/`);
  }
  if (publicLinks.length > 0) lines.push('Allow: /_app/');
  lines.push('Disallow: /', '');
  return lines.join('\n');
}
