// Immich's unauthenticated set-up endpoints: first-admin sign-up and the restore that only an unconfigured
// instance should accept. Both hosts refuse them unless `allowImmichSetup` is on; the share host never
// matches them anyway, the private host's gate calls this predicate before anything else.

const SETUP_ROUTES: readonly { method: string; path: string }[] = [
  { method: 'POST', path: '/api/auth/admin-sign-up' },
  { method: 'POST', path: '/api/admin/database-backups/start-restore' },
];

/** Path part of a request target, without query; lower-cased because Immich's router ignores case. */
function routePath(target: string): string {
  const mark = target.search(/[?#]/);
  let path = (mark === -1 ? target : target.slice(0, mark)).toLowerCase();
  // Immich (Express, non-strict routing) treats a trailing slash and percent-escapes of plain letters alike.
  try {
    path = decodeURIComponent(path);
  } catch {
    // undecodable: compare as is
  }
  path = path.replace(/\/{2,}/g, '/');
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/**
 * True for Immich's first-admin sign-up and unauthenticated restore, in any spelling Immich would route the same
 * way (case, trailing slash, escapes, doubled slashes). Pass the method and the raw request target.
 */
export function isImmichSetupRequest(method: string | undefined, target: string | undefined): boolean {
  if (!target) return false;
  const path = routePath(target);
  const upper = (method ?? '').toUpperCase();
  return SETUP_ROUTES.some((r) => path === r.path && (upper === r.method || upper === 'OPTIONS'));
}
