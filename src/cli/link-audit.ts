// `porthole links audit`: every share link of the API key's user, as Immich's API lists it, with the settings
// that carry risk and what Porthole enforces on top; `--fix` plans changes (no expiry → an expiry, uploads,
// downloads or metadata off) and `--apply` makes them through Immich's API (@immich/sdk), announcing each changed
// link on the store's change feed so every gateway sharing the store forgets what it cached about it. The API key
// and the links' keys, slugs and passwords are never printed: links are named by Immich id, type, album and
// description.
import fs from 'node:fs';
import path from 'node:path';
import { getAllSharedLinks, isHttpError, updateSharedLink, type SharedLinkEditDto, type SharedLinkResponseDto } from '@immich/sdk';
import type { ResolvedConfig } from '../config/load.js';
import type { SecretRef } from '../config/schema.js';
import { linkTag } from '../share/link-tag.js';
import { CliError, EXIT, UsageError } from './errors.js';

export const API_KEY_ENV = 'PORTHOLE_IMMICH_API_KEY';

export const RISKS = ['expired', 'no-expiry', 'no-password', 'downloads-on', 'metadata-shown', 'uploads-on', 'guessable-slug', 'old', 'never-opened'] as const;
export type Risk = (typeof RISKS)[number];

/** What `--fix` can change, each only on links with the matching risk. */
export type Fix = { kind: 'expire'; afterMs: number } | { kind: 'uploads-off' } | { kind: 'downloads-off' } | { kind: 'metadata-off' };

export interface AuditedLink {
  id: string;
  type: string;
  album: string | null;
  description: string | null;
  createdAt: string;
  expiresAt: string | null;
  hasPassword: boolean;
  hasSlug: boolean;
  risks: Risk[];
  /** What Porthole does about this link on the share host, in words. */
  enforced: string[];
}

export interface PlannedChange {
  linkId: string;
  field: keyof SharedLinkEditDto;
  from: string;
  to: string;
}

/** The key from --api-key-file, the environment, or config immich.apiKey (a file is read relative to the config). */
export function resolveApiKey(options: { apiKeyFile?: string }, config: ResolvedConfig, configFile: string, env: NodeJS.ProcessEnv = process.env): string {
  const read = (file: string, what: string) => {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new CliError(`cannot read the Immich API key from ${what} ${file} (${(error as NodeJS.ErrnoException).code})`, 'check the path and its permissions');
    }
    if (!text) throw new CliError(`the Immich API key file ${file} is empty`, 'put the key created in Immich (Account settings → API keys) into it');
    return text;
  };
  if (options.apiKeyFile !== undefined) return read(options.apiKeyFile, '--api-key-file');
  const fromEnv = env[API_KEY_ENV]?.trim();
  if (fromEnv) return fromEnv;
  const ref: SecretRef | undefined = (config as { immich?: { apiKey?: SecretRef } }).immich?.apiKey;
  if (ref === undefined) {
    throw new UsageError(
      'no Immich API key',
      `give --api-key-file, set ${API_KEY_ENV}, or set immich.apiKey in the config; create the key in Immich under Account settings → API keys`,
    );
  }
  if (typeof ref === 'string') return ref;
  if ('env' in ref) {
    const value = env[ref.env]?.trim();
    if (!value) throw new CliError(`immich.apiKey names the environment variable ${ref.env}, which is not set`, `export ${ref.env} before running this command`);
    return value;
  }
  return read(path.resolve(path.dirname(configFile), ref.file), 'immich.apiKey file');
}

/** A slug a person chose reads like words or a date: anyone can try it. Random ones are long and mixed. */
export function guessableSlug(slug: string): boolean {
  const mixed = /[a-z]/.test(slug) && /[A-Z]/.test(slug) && /\d/.test(slug);
  return !(slug.length >= 20 && mixed);
}

const DAY = 86_400_000;

export function assessLink(
  link: SharedLinkResponseDto,
  config: ResolvedConfig,
  options: { maxAgeMs: number; now: number; opened?: (id: string, key: string) => boolean },
): AuditedLink {
  const { now } = options;
  const expires = link.expiresAt === null ? null : Date.parse(link.expiresAt);
  const created = Date.parse(link.createdAt);
  const hasPassword = typeof link.password === 'string' && link.password.length > 0;
  const risks: Risk[] = [];
  if (expires !== null && expires <= now) risks.push('expired');
  if (expires === null) risks.push('no-expiry');
  if (!hasPassword) risks.push('no-password');
  if (link.allowDownload) risks.push('downloads-on');
  if (link.showMetadata) risks.push('metadata-shown');
  if (link.allowUpload) risks.push('uploads-on');
  if (link.slug && guessableSlug(link.slug)) risks.push('guessable-slug');
  if (!Number.isNaN(created) && now - created > options.maxAgeMs) risks.push('old');
  if (options.opened && !options.opened(link.id, link.key)) risks.push('never-opened');

  const { share } = config;
  const enforced: string[] = [];
  if (hasPassword) enforced.push('password checked on every request (Immich checks it on one)');
  if (!link.showMetadata && link.allowDownload) enforced.push('originals cleaned of location and camera data; zips refused');
  if (!link.showMetadata) enforced.push('no coordinates in timeline or map');
  if (link.allowUpload) {
    if (share.rules.noUploads) enforced.push('uploads refused (rule no-uploads)');
    else if (!share.allowUploads) enforced.push('uploads refused (share.allowUploads is off)');
    else enforced.push(`uploads allowed, at most ${share.maxUploadSize} bytes each`);
  }
  if (share.rules.maxLinkAge !== null && !Number.isNaN(created) && now - created > share.rules.maxLinkAge) {
    enforced.push(`refused: older than ${Math.round(share.rules.maxLinkAge / DAY)} days (rule max-link-age)`);
  }
  if (share.rules.albumLinksNeedPassword && link.type === 'ALBUM' && !hasPassword) enforced.push('refused: album link without a password (rule album-needs-password)');
  return {
    id: link.id,
    type: link.type,
    album: link.album?.albumName ?? null,
    description: link.description,
    createdAt: link.createdAt,
    expiresAt: link.expiresAt,
    hasPassword,
    hasSlug: Boolean(link.slug),
    risks,
    enforced,
  };
}

/** Parses `--fix expire=30d,uploads-off,downloads-off,metadata-off`. */
export function parseFixes(text: string, parseDuration: (s: string) => number | null): Fix[] {
  const fixes: Fix[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    const expire = /^expire=(.+)$/.exec(part);
    if (expire) {
      const ms = parseDuration(expire[1]!);
      if (ms === null || ms <= 0) throw new UsageError(`--fix ${part}: expected a duration like expire=30d`);
      fixes.push({ kind: 'expire', afterMs: ms });
    } else if (part === 'uploads-off' || part === 'downloads-off' || part === 'metadata-off') fixes.push({ kind: part });
    else throw new UsageError(`--fix: unknown change "${part}"`, 'choose from expire=<duration>, uploads-off, downloads-off, metadata-off (comma-separated)');
  }
  return fixes;
}

/** The edits each link gets from the chosen fixes: only settings that are on, only links that are not expired. */
export function planChanges(links: SharedLinkResponseDto[], fixes: Fix[], now: number): Map<string, { dto: SharedLinkEditDto; changes: PlannedChange[] }> {
  const plans = new Map<string, { dto: SharedLinkEditDto; changes: PlannedChange[] }>();
  for (const link of links) {
    if (link.expiresAt !== null && Date.parse(link.expiresAt) <= now) continue;
    const dto: SharedLinkEditDto = {};
    const changes: PlannedChange[] = [];
    for (const fix of fixes) {
      if (fix.kind === 'expire' && link.expiresAt === null) {
        dto.expiresAt = new Date(now + fix.afterMs).toISOString();
        changes.push({ linkId: link.id, field: 'expiresAt', from: 'never', to: dto.expiresAt });
      } else if (fix.kind === 'uploads-off' && link.allowUpload) {
        dto.allowUpload = false;
        changes.push({ linkId: link.id, field: 'allowUpload', from: 'true', to: 'false' });
      } else if (fix.kind === 'downloads-off' && link.allowDownload) {
        dto.allowDownload = false;
        changes.push({ linkId: link.id, field: 'allowDownload', from: 'true', to: 'false' });
      } else if (fix.kind === 'metadata-off' && link.showMetadata) {
        dto.showMetadata = false;
        changes.push({ linkId: link.id, field: 'showMetadata', from: 'true', to: 'false' });
      }
    }
    // Immich's update() writes the slug it is sent (none: no slug), so the link's own goes along unchanged.
    if (changes.length) plans.set(link.id, { dto: { ...dto, slug: link.slug }, changes });
  }
  return plans;
}

/**
 * The names a change of this link is announced under (Store.linkChanged): its Immich id, and tags of its key and
 * slug, so gateways also drop answers that never named the id (a password link nobody has unlocked yet).
 */
export function changedLinkNames(link: Pick<SharedLinkResponseDto, 'id' | 'key' | 'slug'>): string[] {
  const names = [link.id.toLowerCase()];
  if (link.key) names.push(`tag:${linkTag({ kind: 'key', value: link.key })}`);
  if (link.slug) names.push(`tag:${linkTag({ kind: 'slug', value: link.slug })}`);
  return names;
}

/** Talks to Immich's API; every failure becomes one line naming what to check (the key itself never). */
export function immichApi(baseUrl: string, apiKey: string, timeoutMs = 15_000) {
  const api = `${baseUrl.replace(/\/+$/, '')}/api`;
  const opts = () => ({ baseUrl: api, headers: { 'x-api-key': apiKey }, signal: AbortSignal.timeout(timeoutMs) });
  const fail = (error: unknown, doing: string, permission: string): never => {
    if (isHttpError(error)) {
      const message = typeof error.data?.message === 'string' ? error.data.message : `HTTP ${error.status}`;
      if (error.status === 401)
        throw new CliError(
          `Immich refused the API key while ${doing} (${message})`,
          'check the key; create one in Immich under Account settings → API keys',
          EXIT.credentialRefused,
        );
      if (error.status === 403)
        throw new CliError(`the API key may not do this: ${doing} (${message})`, `give the key the ${permission} permission in Immich`, EXIT.credentialRefused);
      throw new CliError(`Immich answered ${error.status} while ${doing} (${message})`, 'check origin.url or --immich-url points at Immich');
    }
    const cause = (error as { cause?: { code?: string } })?.cause;
    const code = cause?.code ?? ((error as Error)?.name === 'TimeoutError' ? 'ETIMEDOUT' : undefined);
    if (code || error instanceof TypeError || (error as Error)?.name === 'TimeoutError') {
      throw new CliError(
        `cannot reach Immich at ${baseUrl} while ${doing}${code ? ` (${code})` : ''}`,
        'check that Immich runs and origin.url or --immich-url points at it from here',
      );
    }
    if (error instanceof SyntaxError) throw new CliError(`${baseUrl} did not answer like Immich while ${doing}`, 'check origin.url or --immich-url points at Immich');
    throw error as Error;
  };
  return {
    async list(): Promise<SharedLinkResponseDto[]> {
      try {
        const links = await getAllSharedLinks({}, opts());
        if (!Array.isArray(links)) throw new SyntaxError('not a list');
        return links;
      } catch (error) {
        return fail(error, 'listing share links', 'sharedLink.read');
      }
    },
    async update(id: string, dto: SharedLinkEditDto): Promise<SharedLinkResponseDto> {
      try {
        return await updateSharedLink({ id, sharedLinkEditDto: dto }, opts());
      } catch (error) {
        return fail(error, `changing link ${id}`, 'sharedLink.update');
      }
    },
  };
}

const RISK_WORDS: Record<Risk, string> = {
  expired: 'expired',
  'no-expiry': 'no expiry',
  'no-password': 'no password',
  'downloads-on': 'downloads on',
  'metadata-shown': 'metadata shown',
  'uploads-on': 'uploads on',
  'guessable-slug': 'guessable slug',
  old: 'old',
  'never-opened': 'never opened',
};

const day = (iso: string | null) => (iso === null ? 'never' : iso.slice(0, 10));

/** The audit as a person reads it: one block per link. */
export function formatAudit(links: AuditedLink[], context: { immich: string; maxAgeDays: number; records: boolean }): string {
  const lines = [`${links.length} share ${links.length === 1 ? 'link' : 'links'} of this API key's user at ${context.immich}`];
  if (!context.records) lines.push('(no link records in the data directory: "never opened" cannot be judged)');
  for (const link of links) {
    const what = link.type === 'ALBUM' ? `album "${link.album ?? '?'}"` : 'selected photos';
    const description = link.description ? ` "${link.description}"` : '';
    lines.push('');
    lines.push(`${link.id}  ${what}${description}`);
    lines.push(`  created ${day(link.createdAt)}, expires ${day(link.expiresAt)}, password ${link.hasPassword ? 'yes' : 'no'}, slug ${link.hasSlug ? 'yes' : 'no'}`);
    const risks = link.risks.map((r) => (r === 'old' ? `older than ${context.maxAgeDays} days` : RISK_WORDS[r]));
    lines.push(`  risks:    ${risks.length ? risks.join(', ') : 'none'}`);
    lines.push(`  Porthole: ${link.enforced.length ? link.enforced.join('; ') : 'nothing beyond the share host surface'}`);
  }
  lines.push('');
  lines.push('On every link Porthole also refuses album member lists (e-mail addresses) and metadata search, and removes the link password from answers.');
  return lines.join('\n') + '\n';
}
