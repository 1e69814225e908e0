// Response headers of the share host: nothing indexed (unless the owner listed the link as public), the
// secret URL never leaked as a Referer to map tiles or anything else, never framed, and password-protected
// content never stored by a shared cache.
import type http from 'node:http';

export const NO_INDEX = 'noindex, nofollow, noarchive';

export function shareHeaders(options: { indexable: boolean; passwordProtected: boolean }): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {
    'referrer-policy': 'no-referrer',
    // X-Frame-Options rather than a CSP: replacing Immich's own Content-Security-Policy (helmet, when an admin
    // enables it) with a frame-only one would weaken it.
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
  };
  if (!options.indexable) headers['x-robots-tag'] = NO_INDEX;
  if (options.passwordProtected) headers['cache-control'] = 'private, no-store';
  return headers;
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
