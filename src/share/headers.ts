// Response headers of the share host: nothing indexed (unless the owner listed the link as public), the
// secret URL never leaked as a Referer to map tiles or anything else, never framed, and password-protected
// content never stored by a shared cache.
import type http from 'node:http';

export const NO_INDEX = 'noindex, nofollow, noarchive';

/** The four variants, built once and shared (frozen: nothing may edit them), indexed by indexable and password. */
const SHARE_HEADERS: readonly Readonly<http.OutgoingHttpHeaders>[] = [false, true].flatMap((indexable) =>
  [false, true].map((passwordProtected) => {
    const built: http.OutgoingHttpHeaders = {
      'referrer-policy': 'no-referrer',
      // X-Frame-Options rather than a CSP: replacing Immich's own Content-Security-Policy (helmet, when an admin
      // enables it) with a frame-only one would weaken it.
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
    };
    if (!indexable) built['x-robots-tag'] = NO_INDEX;
    if (passwordProtected) built['cache-control'] = 'private, no-store';
    return Object.freeze(built);
  }),
);

/** Headers every share-host answer carries; this runs on every request, so it only picks a prebuilt variant. */
export function shareHeaders(options: { indexable: boolean; passwordProtected: boolean }): http.OutgoingHttpHeaders {
  return SHARE_HEADERS[(options.indexable ? 2 : 0) + (options.passwordProtected ? 1 : 0)] as http.OutgoingHttpHeaders;
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
