// The small engine over SHARE_POLICY: compiles the table once, finds the row a normalised request matches and
// checks its query parameters, body framing and link conditions. It decides; src/share/index.ts acts.
import type http from 'node:http';
import { FORBIDDEN_PARAMS, PLACEHOLDERS, SHARE_POLICY, ALWAYS_REFUSED, type Condition, type Rule } from './policy.js';
import type { Target } from './normalise.js';

export interface CompiledRule {
  readonly rule: Rule;
  readonly pattern: RegExp;
}

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

const COMPILED: readonly CompiledRule[] = SHARE_POLICY.map((rule) => ({ rule, pattern: compileTemplate(rule.path) }));
const REFUSED: readonly { method: string; pattern: RegExp; why: string }[] = ALWAYS_REFUSED.map((r) => ({ method: r.method, pattern: compileTemplate(r.path), why: r.why }));

/** The row for this method and path, or null (refused). Deliberately refused routes never match. */
export function matchRoute(method: string, path: string): RouteMatch | null {
  if (REFUSED.some((r) => r.method === method && r.pattern.test(path))) return null;
  for (const { rule, pattern } of COMPILED) {
    if (!(rule.methods as readonly string[]).includes(method)) continue;
    const m = pattern.exec(path);
    if (m) return { rule, groups: { ...m.groups } };
  }
  return null;
}

/** Why a route is deliberately refused (for docs and tests), or undefined. */
export function deliberateRefusal(method: string, path: string): string | undefined {
  return REFUSED.find((r) => r.method === method && r.pattern.test(path))?.why;
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
    const allowed = new Set<string>(rule.params ?? []);
    if (rule.link === 'query') allowed.add('key').add('slug');
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
