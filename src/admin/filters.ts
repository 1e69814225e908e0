// The admin page's query string: which audit events to show and which page of them. Everything a browser may
// send here is checked before any query runs: known parameter names only, each at most once, short values of the
// expected shape, page numbers within a bound. Anything else is a clear 400, never a silently different page.
import { normalizeEmail } from '../gate/email.js';
import { AUDIT_EVENT_TYPES, type AuditEvent, type AuditLog } from '../store/store.js';

/** Event categories an admin filters by; each is a set of audit types (only those this build records are shown). */
const CATEGORY_TYPES = {
  all: [],
  signins: ['session.created'],
  'failed-codes': ['code.wrong', 'code.expired'],
  lockouts: ['code.locked', 'share.locked', 'rate.limited'],
  'share-refusals': ['share.refused', 'share.password-wrong', 'share.locked'],
  admin: ['session.revoked', 'device.revoked', 'passkey.revoked', 'tunnel.token-revoked', 'share.link-forgotten'],
} as const satisfies Record<string, readonly string[]>;

export type EventCategory = keyof typeof CATEGORY_TYPES;

const KNOWN_TYPES: ReadonlySet<string> = new Set(AUDIT_EVENT_TYPES);

/** The audit types behind a category that this build can record; empty for "all". */
export function typesOf(category: EventCategory): string[] {
  return CATEGORY_TYPES[category].filter((type) => KNOWN_TYPES.has(type));
}

/** Categories offered in the filter: "all" and each one this build has at least one event type for. */
export const CATEGORIES: readonly EventCategory[] = (Object.keys(CATEGORY_TYPES) as EventCategory[]).filter((c) => c === 'all' || typesOf(c).length > 0);

export const PAGE_SIZE = 50;
/** Paging goes this deep (2,000 events); older events are for `porthole audit`. */
export const MAX_PAGE = 40;
/** A reason filter reads at most this many events per type to find its matches. */
const REASON_SCAN_LIMIT = 10_000;
const MAX_QUERY_LENGTH = 1024;
const MAX_REASON_LENGTH = 80;

export interface EventFilter {
  category: EventCategory;
  /** Only events about this address. */
  email: string | null;
  /** Only events whose detail contains this text (case-insensitive), e.g. a refusal reason. */
  reason: string | null;
  page: number;
  /** A share link whose record to show: its key, slug, Immich id or share URL. */
  link: string | null;
}

/** What the page was sent back with after an action (shown as a notice), from a fixed list. */
export const NOTICES = ['session', 'device', 'passkey', 'tunnel-token', 'gone', 'link-cache'] as const;
export type Notice = (typeof NOTICES)[number];

export type ParsedQuery = { ok: true; filter: EventFilter; notice: Notice | null } | { ok: false; reason: string };

const PARAMS = new Set(['cat', 'email', 'reason', 'page', 'done', 'link']);
const MAX_LINK_LENGTH = 300;
// A key (base64url or hex), a slug, an id or a share URL: no spaces, quotes or markup.
const LINK_SHAPE = /^[A-Za-z0-9._~:/?#@!$&*+,;=%-]+$/;
// Printable text without markup characters: a reason is a word or two from an audit detail.
const REASON_SHAPE = /^[\p{L}\p{N} .,:;_/()'-]+$/u;

export function parseQuery(search: string): ParsedQuery {
  if (search.length > MAX_QUERY_LENGTH) return { ok: false, reason: `The query is too long (at most ${MAX_QUERY_LENGTH} characters).` };
  const params = new URLSearchParams(search);
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (!PARAMS.has(name)) return { ok: false, reason: `Unknown parameter "${name.slice(0, 40)}": use cat, email, reason, page or link.` };
    if (seen.has(name)) return { ok: false, reason: `The parameter "${name}" is given more than once.` };
    seen.add(name);
  }
  const category = params.get('cat') || 'all';
  if (!(CATEGORIES as readonly string[]).includes(category)) return { ok: false, reason: `Unknown event category: use one of ${CATEGORIES.join(', ')}.` };
  const rawEmail = params.get('email')?.trim() || null;
  const email = rawEmail === null ? null : normalizeEmail(rawEmail);
  if (rawEmail !== null && email === null) return { ok: false, reason: 'The email filter is not an email address.' };
  const reason = params.get('reason')?.trim() || null;
  if (reason !== null && (reason.length > MAX_REASON_LENGTH || !REASON_SHAPE.test(reason))) {
    return { ok: false, reason: `The reason filter must be up to ${MAX_REASON_LENGTH} letters, digits, spaces or . , : ; _ / ( ) ' -` };
  }
  const rawPage = params.get('page') ?? '1';
  if (!/^\d{1,3}$/.test(rawPage) || Number(rawPage) < 1 || Number(rawPage) > MAX_PAGE) return { ok: false, reason: `The page must be a number from 1 to ${MAX_PAGE}.` };
  const link = params.get('link')?.trim() || null;
  if (link !== null && (link.length > MAX_LINK_LENGTH || !LINK_SHAPE.test(link))) {
    return { ok: false, reason: `The link must be a share link's key, slug, id or URL (up to ${MAX_LINK_LENGTH} characters).` };
  }
  const done = params.get('done');
  if (done !== null && !(NOTICES as readonly string[]).includes(done)) return { ok: false, reason: 'Unknown notice.' };
  return { ok: true, filter: { category: category as EventCategory, email, reason, page: Number(rawPage), link }, notice: done as Notice | null };
}

/** The query string for a filter (page 1 and empty fields left out), for links and the pager. */
export function queryFor(filter: EventFilter): string {
  const params = new URLSearchParams();
  if (filter.category !== 'all') params.set('cat', filter.category);
  if (filter.email) params.set('email', filter.email);
  if (filter.reason) params.set('reason', filter.reason);
  if (filter.page > 1) params.set('page', String(filter.page));
  if (filter.link) params.set('link', filter.link);
  const query = params.toString();
  return query ? `?${query}` : '';
}

export interface EventPage {
  events: AuditEvent[];
  hasMore: boolean;
}

/** One page of events, newest first; reads at most what the page needs (or the reason scan's bound). */
export function readEvents(audit: AuditLog, filter: EventFilter): EventPage {
  const wanted = filter.page * PAGE_SIZE + 1;
  const limit = filter.reason ? REASON_SCAN_LIMIT : wanted;
  const email = filter.email ?? undefined;
  const types = typesOf(filter.category);
  let events = filter.category === 'all' ? audit.list({ limit, email }) : types.flatMap((type) => audit.list({ limit, email, type }));
  if (types.length > 1) events.sort((a, b) => (b.id ?? 0) - (a.id ?? 0));
  if (filter.reason) {
    const needle = filter.reason.toLowerCase();
    events = events.filter((event) => (event.detail ?? '').toLowerCase().includes(needle));
  }
  const start = (filter.page - 1) * PAGE_SIZE;
  return { events: events.slice(start, start + PAGE_SIZE), hasMore: events.length > start + PAGE_SIZE };
}
