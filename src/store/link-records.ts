// The record kept per share link: views of the share page, unlocks, downloads, uploads and refusals, each with
// its time and a coarse client label. Bounded whatever visitors send: only links Immich confirmed exist get a
// record; events of one kind, reason and client within a minute become one counted row; each link gains at
// most `rowsPerHour` rows an hour (the rest are counted in one "dropped" row when the hour ends) and keeps at
// most `maxRowsPerLink`. Links are named by a short hash of their key or slug (never the secret itself) and,
// once Immich has told the gateway, by their Immich id, which joins the key's and the slug's records.
import type Database from 'better-sqlite3';
import { linkTag } from '../share/link-tag.js';

export const LINK_EVENT_KINDS = ['view', 'unlock', 'download', 'upload', 'refused', 'dropped'] as const;
export type LinkEventKind = (typeof LINK_EVENT_KINDS)[number];

/** Why a request on a link was refused; `rule:<name>` for the optional gateway rules (share.rules). */
export type LinkRefusalReason = 'wrong-password' | 'rate-limited' | 'blocked-route' | 'password-required' | `rule:${string}`;

export interface LinkEvent {
  at: number;
  kind: LinkEventKind;
  /** For refusals: why. */
  reason: string | null;
  /** IPv4 /24 or IPv6 /48 prefix (or the whole address when share.linkRecords.fullClientAddress is on). */
  client: string | null;
  /** How many events this row stands for (folded repeats, or the dropped count). */
  count: number;
  /** A short note: which asset, which route, how many were dropped. */
  detail: string | null;
}

export interface LinkRecord {
  /** Immich's id of the link, once the gateway has learned it (a password link before anyone unlocked it: null). */
  linkId: string | null;
  /** Newest first, at most `limit`. */
  events: LinkEvent[];
  /** Events per kind over the whole record (folded counts included), and refusals per reason. */
  totals: Record<LinkEventKind, number>;
  refusals: Record<string, number>;
  /** The first and last event in the record (ms), or null when it is empty. */
  firstAt: number | null;
  lastAt: number | null;
}

/** What the share host tells the record (see src/share/index.ts). */
export interface LinkEventInput {
  /** linkTag() of the credential the request carried. */
  tag: string;
  kind: Exclude<LinkEventKind, 'dropped'>;
  reason?: LinkRefusalReason;
  client: string | null;
  detail?: string;
  at?: number;
}

export interface LinkRecords {
  /** Remembers that these credential tags name a real link (its Immich id when known). */
  learn(tags: readonly string[], linkId: string | null): void;
  /** Whether events for this tag are recorded (Immich has confirmed the link). */
  knows(tag: string): boolean;
  note(event: LinkEventInput): void;
  /**
   * The record of a link named by its key, slug or Immich id (a share URL works too: /share/<key>, /s/<slug>);
   * undefined when the gateway never saw that link. Folded events still held in memory are written first.
   */
  read(keyOrSlug: string, options?: { limit?: number }): LinkRecord | undefined;
  /**
   * The links with a record, most recently active first: `name` is the Immich id, or `tag:<hash>` for a password
   * link nobody has unlocked yet; read(name) opens either.
   */
  list(options?: { limit?: number }): { name: string; linkId: string | null; lastAt: number; views: number; refusals: number }[];
  /** Whether any view of the share page is on record for this link (by Immich id, key or slug). */
  opened(keyOrSlug: string): boolean;
  /** Forgets rows older than `before` (auditRetention) and trims every link to its row cap; returns rows deleted. */
  prune(before: number): number;
  /** Writes folded counts held so far. */
  flush(): void;
  /** Writes folds whose minute ended and, at the end of the hour, the dropped counts. */
  tick(): void;
  close(): void;
}

/** Refusals of one kind from one client within this window become one counted row. */
export const LINK_FOLD_WINDOW_MS = 60_000;
export const LINK_CAP_PERIOD_MS = 3_600_000;
const MAX_OPEN_FOLDS = 10_000;
const MAX_KNOWN = 200_000;
const MAX_DETAIL = 120;
const TICK_MS = 5_000;

export interface LinkRecordOptions {
  rowsPerHour: number;
  maxRowsPerLink: number;
  clock?: () => number;
  timer?: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const KEY = /^(?:[A-Za-z0-9_-]{67}|[0-9a-fA-F]{100})$/;

/** The tags a name given by a person may stand for: a key, a slug, a share URL, or an Immich link id. */
export function candidateTags(keyOrSlug: string): { tags: string[]; linkId: string | null } {
  let value = keyOrSlug.trim();
  const url = /^(?:https?:\/\/[^/]+)?\/(share|s)\/([^/?#]+)/.exec(value);
  if (url) {
    let segment = url[2]!;
    try {
      segment = decodeURIComponent(segment);
    } catch {
      /* kept as typed */
    }
    value = segment;
    if (url[1] === 'share') return { tags: KEY.test(value) ? [linkTag({ kind: 'key', value })] : [], linkId: null };
    return { tags: [linkTag({ kind: 'slug', value })], linkId: null };
  }
  if (UUID.test(value)) return { tags: [linkTag({ kind: 'slug', value })], linkId: value.toLowerCase() };
  const tags = [linkTag({ kind: 'slug', value })];
  if (KEY.test(value)) tags.unshift(linkTag({ kind: 'key', value }));
  return { tags, linkId: null };
}

interface EventRow {
  at: number;
  kind: LinkEventKind;
  reason: string | null;
  client: string | null;
  count: number;
  detail: string | null;
}

/** The SQLite side: table link_events (rows by owner: the Immich id, or `tag:<tag>` until it is known) and link_names. */
function linkTable(db: Database.Database) {
  const insert = db.prepare('INSERT INTO link_events (link, at, kind, reason, client, count, detail) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const putName = db.prepare('INSERT INTO link_names (tag, link_id) VALUES (?, ?) ON CONFLICT(tag) DO UPDATE SET link_id = coalesce(excluded.link_id, link_names.link_id)');
  const rename = db.prepare('UPDATE link_events SET link = ? WHERE link = ?');
  const names = db.prepare<[], { tag: string; link_id: string | null }>('SELECT tag, link_id FROM link_names');
  const nameOf = db.prepare<[string], { link_id: string | null }>('SELECT link_id FROM link_names WHERE tag = ?');
  const idKnown = db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM link_names WHERE link_id = ?');
  const recent = db.prepare<[string, number], EventRow>('SELECT at, kind, reason, client, count, detail FROM link_events WHERE link = ? ORDER BY at DESC, id DESC LIMIT ?');
  const totals = db.prepare<[string], { kind: LinkEventKind; reason: string | null; n: number; first: number; last: number }>(
    'SELECT kind, reason, sum(count) AS n, min(at) AS first, max(at) AS last FROM link_events WHERE link = ? GROUP BY kind, reason',
  );
  const anyView = db.prepare<[string], { one: number }>("SELECT 1 AS one FROM link_events WHERE link = ? AND kind = 'view' LIMIT 1");
  const deleteOlder = db.prepare('DELETE FROM link_events WHERE at < ?');
  const owners = db.prepare<[number], { link: string }>('SELECT link FROM link_events GROUP BY link HAVING count(*) > ?');
  const active = db.prepare<[number], { link: string; last: number; views: number; refusals: number }>(
    `SELECT link, max(at) AS last, sum(CASE WHEN kind = 'view' THEN count ELSE 0 END) AS views,
            sum(CASE WHEN kind = 'refused' THEN count ELSE 0 END) AS refusals
       FROM link_events GROUP BY link ORDER BY last DESC LIMIT ?`,
  );
  const trim = db.prepare('DELETE FROM link_events WHERE link = ? AND id <= (SELECT id FROM link_events WHERE link = ? ORDER BY id DESC LIMIT 1 OFFSET ?)');
  return {
    insert: (owner: string, e: EventRow) => void insert.run(owner, e.at, e.kind, e.reason, e.client, e.count, e.detail),
    name: (tag: string, linkId: string | null) =>
      db.transaction(() => {
        putName.run(tag, linkId);
        if (linkId) rename.run(linkId, `tag:${tag}`);
      })(),
    names: () => names.all(),
    nameOf: (tag: string) => nameOf.get(tag),
    idKnown: (linkId: string) => (idKnown.get(linkId)?.n ?? 0) > 0,
    recent: (owner: string, limit: number) => recent.all(owner, limit),
    totals: (owner: string) => totals.all(owner),
    opened: (owner: string) => anyView.get(owner) !== undefined,
    deleteOlder: (before: number) => deleteOlder.run(before).changes,
    trimAll: (max: number) => {
      let removed = 0;
      for (const { link } of owners.all(max)) removed += trim.run(link, link, max).changes;
      return removed;
    },
    trim: (owner: string, max: number) => trim.run(owner, owner, max).changes,
    active: (limit: number) => active.all(limit),
  };
}

interface Fold {
  owner: string;
  row: EventRow;
  until: number;
  /** Events since the row written when the fold opened. */
  held: number;
}

export function openLinkRecords(db: Database.Database, options: LinkRecordOptions): LinkRecords {
  const table = linkTable(db);
  const clock = options.clock ?? Date.now;
  /** tag → Immich id (or null): the links Immich confirmed; loaded once, kept in step by learn(). */
  const known = new Map<string, string | null>();
  for (const { tag, link_id } of table.names()) if (known.size < MAX_KNOWN) known.set(tag, link_id);
  const folds = new Map<string, Fold>();
  const rowsThisPeriod = new Map<string, number>();
  const dropped = new Map<string, number>();
  let periodStart = clock();

  const ownerOf = (tag: string) => known.get(tag) ?? `tag:${tag}`;

  function admit(owner: string, events: number): boolean {
    const rows = rowsThisPeriod.get(owner) ?? 0;
    if (rows < options.rowsPerHour) return (rowsThisPeriod.set(owner, rows + 1), true);
    dropped.set(owner, (dropped.get(owner) ?? 0) + events);
    return false;
  }

  function closeFold(key: string, fold: Fold): void {
    folds.delete(key);
    if (fold.held > 0 && admit(fold.owner, fold.held)) table.insert(fold.owner, { ...fold.row, count: fold.held });
  }

  function endPeriod(now: number): void {
    for (const [owner, n] of dropped) {
      table.insert(owner, { at: now, kind: 'dropped', reason: null, client: null, count: n, detail: `not recorded past the cap of ${options.rowsPerHour} rows per hour` });
    }
    // Only links that wrote this hour can have grown past their cap.
    for (const owner of rowsThisPeriod.keys()) table.trim(owner, options.maxRowsPerLink);
    dropped.clear();
    rowsThisPeriod.clear();
    periodStart = now;
  }

  function rollPeriod(now: number): void {
    if (now - periodStart >= LINK_CAP_PERIOD_MS || now < periodStart) endPeriod(now);
  }

  function flush(): void {
    for (const [key, fold] of [...folds]) closeFold(key, fold);
  }

  function tick(): void {
    const now = clock();
    for (const [key, fold] of [...folds]) if (now >= fold.until || now < fold.until - LINK_FOLD_WINDOW_MS) closeFold(key, fold);
    rollPeriod(now);
  }

  const timer = options.timer
    ? setInterval(() => {
        try {
          tick();
        } catch {
          /* retried on the next tick */
        }
      }, TICK_MS)
    : undefined;
  timer?.unref();

  /** The owner a person's name for a link resolves to, or undefined when the gateway never saw it. */
  function resolve(keyOrSlug: string): string | undefined {
    if (keyOrSlug.startsWith('tag:')) return known.get(keyOrSlug.slice(4)) === null ? keyOrSlug : undefined;
    const { tags, linkId } = candidateTags(keyOrSlug);
    if (linkId && table.idKnown(linkId)) return linkId;
    for (const tag of tags) {
      const row = table.nameOf(tag);
      if (row) return row.link_id ?? `tag:${tag}`;
    }
    return undefined;
  }

  return {
    learn(tags, linkId) {
      for (const tag of tags) {
        const before = known.get(tag);
        if (before !== undefined && (before === linkId || linkId === null)) continue;
        if (before === undefined && known.size >= MAX_KNOWN) continue;
        // Folds still open under the tag's old name are written under it first, then renamed with the rest.
        if (linkId) for (const [key, fold] of [...folds]) if (fold.owner === `tag:${tag}`) closeFold(key, fold);
        table.name(tag, linkId);
        known.set(tag, linkId ?? before ?? null);
      }
    },
    knows: (tag) => known.has(tag),
    note(event) {
      if (!known.has(event.tag)) return;
      const now = clock();
      rollPeriod(now);
      const owner = ownerOf(event.tag);
      const row: EventRow = {
        at: event.at ?? now,
        kind: event.kind,
        reason: event.reason ?? null,
        client: event.client,
        count: 1,
        detail: event.detail === undefined ? null : event.detail.slice(0, MAX_DETAIL),
      };
      const key = `${owner}\n${row.kind}\n${row.reason ?? ''}\n${row.client ?? ''}`;
      const open = folds.get(key);
      if (open && now < open.until && now >= open.until - LINK_FOLD_WINDOW_MS) {
        open.held++;
        open.row = row;
        return;
      }
      if (open) closeFold(key, open);
      if (!admit(owner, 1)) return;
      table.insert(owner, row);
      if (folds.size >= MAX_OPEN_FOLDS) {
        const [oldestKey, oldest] = folds.entries().next().value!;
        closeFold(oldestKey, oldest);
      }
      folds.set(key, { owner, row, until: now + LINK_FOLD_WINDOW_MS, held: 0 });
    },
    read(keyOrSlug, readOptions = {}) {
      const owner = resolve(keyOrSlug);
      if (owner === undefined) return undefined;
      flush();
      const limit = Math.min(Math.max(readOptions.limit ?? 50, 1), 10_000);
      const totals = Object.fromEntries(LINK_EVENT_KINDS.map((k) => [k, 0])) as Record<LinkEventKind, number>;
      const refusals: Record<string, number> = {};
      let firstAt: number | null = null;
      let lastAt: number | null = null;
      for (const t of table.totals(owner)) {
        totals[t.kind] += t.n;
        if (t.kind === 'refused') refusals[t.reason ?? 'other'] = (refusals[t.reason ?? 'other'] ?? 0) + t.n;
        firstAt = firstAt === null ? t.first : Math.min(firstAt, t.first);
        lastAt = lastAt === null ? t.last : Math.max(lastAt, t.last);
      }
      return {
        linkId: owner.startsWith('tag:') ? null : owner,
        events: table.recent(owner, limit).map((r) => ({ ...r })),
        totals,
        refusals,
        firstAt,
        lastAt,
      };
    },
    list(listOptions = {}) {
      flush();
      return table.active(Math.min(Math.max(listOptions.limit ?? 100, 1), 10_000)).map((r) => ({
        name: r.link,
        linkId: r.link.startsWith('tag:') ? null : r.link,
        lastAt: r.last,
        views: r.views,
        refusals: r.refusals,
      }));
    },
    opened(keyOrSlug) {
      const owner = resolve(keyOrSlug);
      if (owner === undefined) return false;
      flush();
      return table.opened(owner);
    },
    prune(before) {
      return table.deleteOlder(before) + table.trimAll(options.maxRowsPerLink);
    },
    flush,
    tick,
    close() {
      if (timer) clearInterval(timer);
      flush();
      endPeriod(clock());
    },
  };
}

/** Migration 6 (src/store/sqlite.ts): the tables behind the per-link record. */
export const LINK_RECORDS_MIGRATION = `CREATE TABLE link_events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     link TEXT NOT NULL,
     at INTEGER NOT NULL,
     kind TEXT NOT NULL,
     reason TEXT,
     client TEXT,
     count INTEGER NOT NULL DEFAULT 1,
     detail TEXT
   );
   CREATE INDEX link_events_link ON link_events(link, id);
   CREATE INDEX link_events_at ON link_events(at);
   CREATE TABLE link_names (
     tag TEXT PRIMARY KEY,
     link_id TEXT
   );
   CREATE INDEX link_names_link_id ON link_names(link_id);`;

/** The record of one link, as `porthole links show` and the admin page read it (see LinkRecords.read). */
export function readLinkRecord(store: { readonly linkRecords: LinkRecords }, keyOrSlug: string, options: { limit?: number } = {}): LinkRecord | undefined {
  return store.linkRecords.read(keyOrSlug, options);
}
