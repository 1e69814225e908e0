// The small engine over SHARE_POLICY: compiles the table once, finds the row a normalised request matches and
// checks its query parameters, body framing and link conditions. It decides; src/share/index.ts acts.
import type http from 'node:http';
import { FORBIDDEN_PARAMS, PLACEHOLDERS, SHARE_POLICY, ALWAYS_REFUSED, type Condition, type Rule } from './policy.js';
import type { Target } from './normalise.js';

export interface RouteMatch {
  readonly rule: Rule;
  /** Named placeholder captures (e.g. key, slug, uuid). */
  readonly groups: Readonly<Record<string, string | undefined>>;
}

/** Turns a policy path template into an anchored regular expression with named captures. */
export function compileTemplate(template: string): RegExp {
  const seen = new Map<string, number>();
  const source = template.replace(/\./g, '\\.').replace(/\{([a-z]+)\}/g, (_m, name: string) => {
    const shape = PLACEHOLDERS[name];
    if (!shape) throw new Error(`unknown placeholder {${name}} in share policy`);
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    return `(?<${n === 1 ? name : `${name}${n}`}>${shape.replace(/(?<!\\)\./g, '\\.')})`;
  });
  return new RegExp(`^${source}$`);
}

interface IndexedRow {
  readonly rule: Rule | null; // null: a deliberately refused route (ALWAYS_REFUSED), checked before the rows
  readonly methods: readonly string[];
  readonly template: string;
  readonly pattern: RegExp;
  /** For a deliberately refused route: why. */
  readonly why?: string;
}

const ROWS: readonly IndexedRow[] = [
  ...ALWAYS_REFUSED.map((r) => ({ rule: null, methods: [r.method], template: r.path, pattern: compileTemplate(r.path), why: r.why })),
  ...SHARE_POLICY.map((rule) => ({ rule, methods: rule.methods, template: rule.path, pattern: compileTemplate(rule.path) })),
];

/**
 * The literal leading segments of a template, at most two ('/api/assets/{uuid}' -> 'api/assets'). A segment
 * counts only when a literal '/' that is not optional, or the end of the template, closes it; anything else
 * (a placeholder, a group, an alternation) leaves the row in the bucket of the segments before it.
 */
export function literalPrefix(template: string): string {
  const closed: string[] = [];
  let at = 1;
  while (closed.length < 2) {
    const literal = /^[A-Za-z0-9_.-]+/.exec(template.slice(at))?.[0];
    if (!literal) break;
    const next = at + literal.length;
    const endsSegment = next === template.length || (template[next] === '/' && !/^(?:[?*+]|\{\d)/.test(template.slice(next + 1, next + 3)));
    if (!endsSegment) break;
    closed.push(literal);
    at = next + 1;
  }
  return closed.join('/');
}

/**
 * Rows that can match a path, by method and by the path's first one or two segments, in table order. A path's
 * candidates are the rows filed under its two first segments, its first segment, or none; each bucket holds
 * the rows of the shorter prefixes too, so one lookup finds them all and the first matching row still wins.
 */
function buildIndex(): Map<string, Map<string, readonly IndexedRow[]>> {
  const byMethod = new Map<string, Map<string, readonly IndexedRow[]>>();
  const prefixes = ROWS.map((row) => literalPrefix(row.template));
  for (const method of new Set(ROWS.flatMap((row) => row.methods))) {
    const buckets = new Map<string, readonly IndexedRow[]>();
    const keys = new Set(prefixes.flatMap((p) => (p.includes('/') ? [p, p.slice(0, p.indexOf('/'))] : [p])));
    for (const key of keys) {
      const covers = (prefix: string) => prefix === '' || prefix === key || key.startsWith(`${prefix}/`);
      buckets.set(
        key,
        ROWS.filter((row, i) => row.methods.includes(method) && covers(prefixes[i]!)),
      );
    }
    byMethod.set(method, buckets);
  }
  return byMethod;
}
const INDEX = buildIndex();
const NO_GROUPS: Readonly<Record<string, string | undefined>> = Object.freeze({});

/** The row for this method and path, or null (refused). Deliberately refused routes never match. */
export function matchRoute(method: string, path: string): RouteMatch | null {
  const buckets = INDEX.get(method);
  if (buckets === undefined) return null;
  const first = path.indexOf('/', 1);
  const second = first === -1 ? -1 : path.indexOf('/', first + 1);
  const one = first === -1 ? path.slice(1) : path.slice(1, first);
  const two = first === -1 ? undefined : path.slice(1, second === -1 ? undefined : second);
  const rows = (two !== undefined ? buckets.get(two) : undefined) ?? buckets.get(one) ?? buckets.get('')!;
  for (const { rule, pattern } of rows) {
    const m = pattern.exec(path);
    if (m) return rule === null ? null : { rule, groups: m.groups ?? NO_GROUPS };
  }
  return null;
}

/** Why a route is deliberately refused (for docs and tests), or undefined. */
export function deliberateRefusal(method: string, path: string): string | undefined {
  return ROWS.find((row) => row.rule === null && row.methods.includes(method) && row.pattern.test(path))?.why;
}

export const SLUG_MAX_LENGTH = 200;
const KEY = /^(?:[A-Za-z0-9_-]{67}|[0-9a-fA-F]{100})$/;

export type LinkCredential = { kind: 'key'; value: string } | { kind: 'slug'; value: string };

export function isKey(value: string): boolean {
  return KEY.test(value);
}

export function isSlug(value: string): boolean {
  return value.length > 0 && value.length <= SLUG_MAX_LENGTH && !/[\u0000-\u001f\u007f]/.test(value);
}

const ALLOWED_PARAMS = new WeakMap<Rule, ReadonlySet<string>>();

/** The parameter names a row accepts, its credential parameters included; built once per row. */
function allowedParams(rule: Rule): ReadonlySet<string> {
  let allowed = ALLOWED_PARAMS.get(rule);
  if (allowed === undefined) {
    const names = new Set<string>(rule.params === 'page' ? [] : (rule.params ?? []));
    if (rule.link === 'query') names.add('key').add('slug');
    ALLOWED_PARAMS.set(rule, (allowed = names));
  }
  return allowed;
}

/** Checks the query against the row: allowed names only, credentials where (and only where) the row wants them. */
export function checkQuery(rule: Rule, target: Target): { ok: true; credential?: LinkCredential } | { ok: false; reason: string } {
  const { query } = target;
  for (const name of query.keys()) if (FORBIDDEN_PARAMS.has(name)) return { ok: false, reason: `credential parameter ${name}` };
  const key = query.get('key');
  const slug = query.get('slug');
  if (rule.link !== 'query') {
    if (key !== undefined || slug !== undefined) return { ok: false, reason: 'link credential where none belongs' };
  }
  if (rule.params !== 'page') {
    const allowed = allowedParams(rule);
    for (const name of query.keys()) if (!allowed.has(name)) return { ok: false, reason: `parameter ${name} not allowed here` };
  }
  if (rule.link !== 'query') return { ok: true };
  if ((key === undefined) === (slug === undefined)) return { ok: false, reason: 'exactly one of key or slug required' };
  if (key !== undefined) return isKey(key) ? { ok: true, credential: { kind: 'key', value: key } } : { ok: false, reason: 'malformed key' };
  return isSlug(slug!) ? { ok: true, credential: { kind: 'slug', value: slug! } } : { ok: false, reason: 'malformed slug' };
}

/** The credential carried in a page path (/share/<key>, /s/<slug>). */
export function pathCredential(match: RouteMatch, decode: (raw: string) => string | null): LinkCredential | null {
  if (match.groups.key) return { kind: 'key', value: match.groups.key };
  if (match.groups.slug) {
    const slug = decode(match.groups.slug);
    return slug !== null && isSlug(slug) ? { kind: 'slug', value: slug } : null;
  }
  return null;
}

/** Bodies only where the row declares one, with the declared framing. */
export function checkBody(rule: Rule, headers: http.IncomingHttpHeaders): { ok: true } | { ok: false; reason: string } {
  const length = headers['content-length'];
  const chunked = headers['transfer-encoding'] !== undefined;
  if (!rule.body) {
    if (chunked || (length !== undefined && length !== '0')) return { ok: false, reason: 'unexpected body' };
    return { ok: true };
  }
  const type = (headers['content-type'] ?? '').toLowerCase();
  if (rule.body.type === 'json') {
    if (!/^application\/json(\s*;\s*charset=utf-8)?$/.test(type)) return { ok: false, reason: 'expected application/json' };
    if (chunked || length === undefined || !/^\d{1,9}$/.test(length)) return { ok: false, reason: 'JSON body needs a Content-Length' };
    if (rule.body.maxBytes !== undefined && Number(length) > rule.body.maxBytes) return { ok: false, reason: 'JSON body too large' };
    return { ok: true };
  }
  if (!/^multipart\/form-data;\s*boundary=/.test(type)) return { ok: false, reason: 'expected multipart/form-data' };
  return { ok: true };
}

/** What a link allows, as learned from Immich's GET /api/shared-links/me. */
export interface LinkFacts {
  readonly albumId: string | null;
  readonly allowDownload: boolean;
  readonly allowUpload: boolean;
  readonly showMetadata: boolean;
}

const GEO_PARAMS = ['withCoordinates', 'bbox'] as const;

/** Evaluates a row's conditions against the link and config; returns the first one that fails. */
export function failedCondition(
  conditions: readonly Condition[] | undefined,
  link: LinkFacts,
  target: Target,
  match: RouteMatch,
  config: { uploadsEnabled: boolean },
): Condition | undefined {
  for (const condition of conditions ?? []) {
    let ok: boolean;
    switch (condition) {
      case 'allowDownload':
        ok = link.allowDownload;
        break;
      case 'allowUpload':
        ok = link.allowUpload;
        break;
      case 'uploadsEnabled':
        ok = config.uploadsEnabled;
        break;
      case 'albumParamIsLink':
        ok = link.albumId !== null && target.query.get('albumId') === link.albumId;
        break;
      case 'albumPathIsLink':
        ok = link.albumId !== null && match.groups.uuid === link.albumId;
        break;
      case 'geoOnlyWithMetadata':
        ok = link.showMetadata || GEO_PARAMS.every((p) => !target.query.has(p) || (p === 'withCoordinates' && target.query.get(p) === 'false'));
        break;
      case 'metadataShown':
        ok = link.showMetadata;
        break;
      case 'previewOnlyWhenHidden': {
        const size = target.query.get('size');
        ok = link.showMetadata || size === undefined || size === 'thumbnail' || size === 'preview';
        break;
      }
    }
    if (!ok) return condition;
  }
  return undefined;
}
