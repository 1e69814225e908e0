// What the share host tells each link's record (src/store/link-records.ts) and the optional gateway rules
// (config share.rules). Kept apart from index.ts so the request path only gains one-line calls: a view, an
// unlock, a download, an upload or a refusal, with a coarse client label, never the key, slug or password.
import type http from 'node:http';
import net from 'node:net';
import type { ResolvedConfig } from '../config/load.js';
import type { Store } from '../store/store.js';
import type { LinkEventInput, LinkRefusalReason } from '../store/link-records.js';
import { isKey, isSlug, type LinkCredential } from './engine.js';
import { linkTag } from './link-tag.js';
import type { LinkState } from './links.js';
import { decodeComponent, type Target } from './normalise.js';
import type { Rule } from './policy.js';

/** IPv4 /24 or IPv6 /48: enough to tell visitors apart, not enough to name a household. */
export function clientLabel(ip: string, fullAddress: boolean): string {
  const address = ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  if (fullAddress) return address;
  if (net.isIPv4(address)) return `${address.split('.').slice(0, 3).join('.')}.0/24`;
  if (!net.isIPv6(address)) return '-';
  const [head = '', tail = ''] = address.split('::');
  const a = head ? head.split(':') : [];
  const b = address.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = address.includes('::') ? [...a, ...Array<string>(Math.max(0, 8 - a.length - b.length)).fill('0'), ...b] : a;
  return `${groups
    .slice(0, 3)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/48`;
}

/** The credential a refused request carried, if any, read without judging the rest of it (for the record only). */
export function looseCredential(target: Target): LinkCredential | undefined {
  const key = target.query.get('key');
  if (key !== undefined) return isKey(key) ? { kind: 'key', value: key } : undefined;
  const slug = target.query.get('slug');
  if (slug !== undefined) return isSlug(slug) ? { kind: 'slug', value: slug } : undefined;
  const page = /^\/(share|s)\/([^/]+)/.exec(target.path);
  if (!page) return undefined;
  if (page[1] === 'share') return isKey(page[2]!) ? { kind: 'key', value: page[2]! } : undefined;
  const decoded = decodeComponent(page[2]!, false);
  return decoded !== null && isSlug(decoded) ? { kind: 'slug', value: decoded } : undefined;
}

/** The names of the optional rules, as audited and recorded (`rule:<name>`). */
export type GatewayRule = 'max-link-age' | 'album-needs-password' | 'no-uploads';

/** The first gateway rule that refuses this request, if any. `link` is null while a password link is locked. */
export function refusingRule(rules: ResolvedConfig['share']['rules'], rule: Rule, link: LinkState | null, passwordProtected: boolean, now: number): GatewayRule | undefined {
  if (rules.noUploads && rule.id === 'upload') return 'no-uploads';
  if (!link) return undefined;
  if (rules.maxLinkAge !== null && link.createdAt !== undefined && now - link.createdAt > rules.maxLinkAge) return 'max-link-age';
  if (rules.albumLinksNeedPassword && link.albumId !== null && !passwordProtected) return 'album-needs-password';
  return undefined;
}

const PAGES = new Set(['share-page', 'slug-page']);

export function createLinkEvents(store: Store, config: Pick<ResolvedConfig, 'share'>) {
  const records = store.linkRecords;
  const full = config.share.linkRecords.fullClientAddress;
  const note = (credential: LinkCredential, ip: string, event: Omit<LinkEventInput, 'tag' | 'client'>) => {
    const tag = linkTag(credential);
    if (records.knows(tag)) records.note({ ...event, tag, client: clientLabel(ip, full) });
  };
  // The resolver hands out the same object while its answer is cached: each is learned once, so the hot path
  // (every thumbnail of an open album) pays a set lookup, not three hashes.
  const seen = new WeakSet<object>();
  return {
    /** Immich confirmed the link (`answer`: the resolver's object for it): its key's and slug's records join under its id. */
    learned(credential: LinkCredential, link: LinkState | null, answer: object): void {
      if (seen.has(answer)) return;
      seen.add(answer);
      const tags = [linkTag(credential)];
      if (link) {
        tags.push(linkTag({ kind: 'key', value: link.key }));
        if (link.slug !== null) tags.push(linkTag({ kind: 'slug', value: link.slug }));
      }
      records.learn([...new Set(tags)], link?.id ?? null);
    },
    /** A request that reached Immich: a view of the page now, a download or an upload once it succeeded. */
    served(req: http.IncomingMessage, res: http.ServerResponse, rule: Rule, credential: LinkCredential, ip: string, assetId?: string): void {
      if (PAGES.has(rule.id)) {
        if (req.method === 'GET') note(credential, ip, { kind: 'view' });
        return;
      }
      const kind = rule.id === 'original' || rule.id === 'download-zip' ? 'download' : rule.id === 'upload' ? 'upload' : undefined;
      if (!kind) return;
      // A video player's later Range requests are the same download going on, not new ones.
      const range = req.headers.range;
      if (kind === 'download' && range !== undefined && !/^bytes=0-/.test(range)) return;
      res.once('finish', () => {
        if (res.statusCode < 300) note(credential, ip, { kind, detail: rule.id === 'download-zip' ? 'zip' : kind === 'download' ? `original ${assetId ?? ''}`.trim() : undefined });
      });
    },
    unlocked: (credential: LinkCredential, ip: string) => note(credential, ip, { kind: 'unlock' }),
    refused: (credential: LinkCredential | undefined, ip: string, reason: LinkRefusalReason, detail?: string) => {
      if (credential) note(credential, ip, { kind: 'refused', reason, detail });
    },
  };
}

export type LinkEvents = ReturnType<typeof createLinkEvents>;
