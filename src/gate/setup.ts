// Immich's unauthenticated set-up endpoints: first-admin sign-up and the restore that only an unconfigured
// instance should accept. The private host's gate refuses them before anything else, even for signed-in people,
// unless `allowImmichSetup` is on; the share host's route table never lets them through anyway.
// The guard matches what a path means, not one spelling of it: the target is normalised first.

const SETUP_ROUTES: readonly { method: string; path: string }[] = [
  { method: 'POST', path: '/api/auth/admin-sign-up' },
  { method: 'POST', path: '/api/admin/database-backups/start-restore' },
];

/** Percent-escapes decoded until nothing changes (a few rounds at most); invalid escapes stay as they are. */
function decodeFully(text: string): string {
  let current = text;
  for (let round = 0; round < 4 && current.includes('%'); round++) {
    const next = current.replace(/(?:%[0-9a-f]{2})+/gi, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
      }
    });
    if (next === current) break;
    current = next;
  }
  return current;
}

/**
 * The path of a request target as a router could understand it, in the broadest reading: query and fragment cut
 * off, escapes decoded (encoded slashes included), backslashes as slashes, lower case (Immich's router ignores
 * case), path parameters (";x") dropped, whitespace and NUL around segments dropped, empty and "." segments
 * removed, ".." resolved. Refusing a spelling Immich would not route costs nothing; missing one would.
 */
function normaliseRoutePath(target: string): string {
  const mark = target.search(/[?#]/);
  const path = decodeFully(mark === -1 ? target : target.slice(0, mark))
    .toLowerCase()
    .replace(/\\/g, '/');
  const segments: string[] = [];
  for (const raw of path.split('/')) {
    const semicolon = raw.indexOf(';');
    const segment = (semicolon === -1 ? raw : raw.slice(0, semicolon)).replace(/^[\s\u0000]+|[\s\u0000]+$/g, '');
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  return `/${segments.join('/')}`;
}

/** `path` is `route`, or `route` followed by anything that cannot continue its last name (".json", NUL, "/x"). */
function names(path: string, route: string): boolean {
  if (!path.startsWith(route)) return false;
  return path.length === route.length || !/[a-z0-9_-]/.test(path[route.length]!);
}

/**
 * True for Immich's first-admin sign-up and unauthenticated restore, in any spelling that could reach them (case,
 * trailing slash or ";", escapes, dot segments, doubled or encoded slashes, NUL, blanks, an extension). Pass the
 * method and the raw request target.
 */
export function isImmichSetupRequest(method: string | undefined, target: string | undefined): boolean {
  if (!target) return false;
  const upper = (method ?? '').toUpperCase();
  if (upper !== 'POST' && upper !== 'OPTIONS') return false;
  const path = normaliseRoutePath(target);
  return SETUP_ROUTES.some((r) => (upper === r.method || upper === 'OPTIONS') && names(path, r.path));
}
