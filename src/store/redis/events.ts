// The append-only parts of the Redis store: audit events and the per-link records. Each gateway keeps a local
// in-memory SQLite copy (the same tables and queries as the SQLite store, so `list`, `read` and the admin page
// work unchanged and synchronously); every row written here is appended to a capped Redis stream (XADD MAXLEN ~)
// and announced, and rows announced by other gateways are added to the copy. A gateway starting, or coming
// back after Redis was away, reads the streams (from where it left off). Rows written while Redis is away are
// held in a bounded queue and sent when it returns; past the bound they are only counted.
import Database from 'better-sqlite3';
import type { AuditEvent, AuditLog } from '../store.js';
import { auditLog } from '../sqlite.js';
import { LINK_RECORDS_MIGRATION } from '../link-records.js';

const AUDIT_TABLE = `CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  type TEXT NOT NULL,
  email TEXT,
  ip TEXT,
  detail TEXT,
  count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX audit_at ON audit(at);`;

/** Rows held while Redis is away; past this, rows are counted as lost (logged when it returns). */
const MAX_HELD = 10_000;
const READ_PAGE = 1_000;

export type EventType = 'audit' | 'link' | 'link-name';

export interface EventMessage {
  t: EventType;
  o: string;
  id?: string;
  e?: Record<string, unknown>;
  tag?: string;
  linkId?: string;
}

export interface EventSink {
  /** Appends to a stream (or holds it while Redis is away). */
  append(type: 'audit' | 'link', entry: Record<string, unknown>): void;
  learn(tag: string, linkId: string | null): void;
}

interface LinkRow {
  link: string;
  at: number;
  kind: string;
  reason: string | null;
  client: string | null;
  count: number;
  detail: string | null;
}

/** The local copy: one in-memory database holding the audit table and the link-record tables. */
export class LocalEvents {
  readonly db: Database.Database;
  /** While true, rows written into the copy came from Redis and are not sent back. */
  private applying = false;
  private readonly insertAudit: Database.Statement;
  private readonly insertLink: Database.Statement;
  private readonly putName: Database.Statement;
  private readonly rename: Database.Statement;
  /** The last stream entry applied, per stream: where reading resumes after Redis was away. */
  readonly lastIds: Record<'audit' | 'link', string> = { audit: '0', link: '0' };

  constructor(sink: EventSink) {
    this.db = new Database(':memory:');
    this.db.exec(AUDIT_TABLE);
    this.db.exec(LINK_RECORDS_MIGRATION);
    // Rows the link records write (openLinkRecords owns those queries) are sent on by these triggers.
    this.db.function('porthole_link_event', { deterministic: false }, (link, at, kind, reason, client, count, detail) => {
      if (!this.applying) sink.append('link', { link, at, kind, reason, client, count, detail });
      return null;
    });
    this.db.function('porthole_link_name', { deterministic: false }, (tag, linkId) => {
      if (!this.applying) sink.learn(tag as string, (linkId as string | null) ?? null);
      return null;
    });
    this.db.exec(`
      CREATE TEMP TRIGGER link_events_out AFTER INSERT ON link_events
        BEGIN SELECT porthole_link_event(NEW.link, NEW.at, NEW.kind, NEW.reason, NEW.client, NEW.count, NEW.detail); END;
      CREATE TEMP TRIGGER link_names_added AFTER INSERT ON link_names
        BEGIN SELECT porthole_link_name(NEW.tag, NEW.link_id); END;
      CREATE TEMP TRIGGER link_names_changed AFTER UPDATE ON link_names
        BEGIN SELECT porthole_link_name(NEW.tag, NEW.link_id); END;`);
    this.insertAudit = this.db.prepare('INSERT INTO audit (at, type, email, ip, detail, count) VALUES (@at, @type, @email, @ip, @detail, @count)');
    this.insertLink = this.db.prepare('INSERT INTO link_events (link, at, kind, reason, client, count, detail) VALUES (@link, @at, @kind, @reason, @client, @count, @detail)');
    this.putName = this.db.prepare('INSERT INTO link_names (tag, link_id) VALUES (?, ?) ON CONFLICT(tag) DO UPDATE SET link_id = coalesce(excluded.link_id, link_names.link_id)');
    this.rename = this.db.prepare('UPDATE link_events SET link = ? WHERE link = ?');
  }

  private remote(work: () => void): void {
    this.applying = true;
    try {
      work();
    } finally {
      this.applying = false;
    }
  }

  /** A row from a stream (read at start or after Redis was away, or announced by another gateway). */
  applyEntry(type: 'audit' | 'link', id: string, entry: Record<string, unknown>): void {
    if (compareIds(id, this.lastIds[type]) <= 0) return;
    this.lastIds[type] = id;
    this.remote(() => {
      if (type === 'audit') {
        const e = entry as unknown as AuditEvent;
        this.insertAudit.run({ at: e.at, type: e.type, email: e.email ?? null, ip: e.ip ?? null, detail: e.detail ?? null, count: e.count ?? 1 });
      } else {
        const e = entry as unknown as LinkRow;
        this.insertLink.run({ link: e.link, at: e.at, kind: e.kind, reason: e.reason ?? null, client: e.client ?? null, count: e.count ?? 1, detail: e.detail ?? null });
      }
    });
  }

  /** Marks an entry this gateway wrote itself as seen (its row is in the copy already). */
  seen(type: 'audit' | 'link', id: string): void {
    if (compareIds(id, this.lastIds[type]) > 0) this.lastIds[type] = id;
  }

  applyName(tag: string, linkId: string | null): void {
    this.remote(() =>
      this.db.transaction(() => {
        this.putName.run(tag, linkId);
        if (linkId) this.rename.run(linkId, `tag:${tag}`);
      })(),
    );
  }

  close(): void {
    this.db.close();
  }
}

/** Stream ids are "<ms>-<n>": compared as two numbers. */
export function compareIds(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('-').map(Number);
  const [bm = 0, bn = 0] = b.split('-').map(Number);
  return am - bm || an - bn;
}

/** The audit log over the local copy: written here and sent on; read from the copy. */
export function localAudit(local: LocalEvents, sink: EventSink, trimBefore: (before: number) => void): AuditLog {
  const inner = auditLog(local.db);
  return {
    record(event) {
      const row = { at: event.at ?? Date.now(), type: event.type, email: event.email ?? null, ip: event.ip ?? null, detail: event.detail ?? null, count: event.count ?? 1 };
      inner.record(row);
      sink.append('audit', row);
    },
    flush: () => undefined,
    list: (filter) => inner.list(filter),
    deleteOlderThan(before) {
      trimBefore(before);
      return inner.deleteOlderThan(before);
    },
  };
}

/** Rows waiting for Redis to come back. */
export class HeldRows {
  private readonly rows: { type: 'audit' | 'link'; entry: Record<string, unknown> }[] = [];
  lost = 0;

  hold(type: 'audit' | 'link', entry: Record<string, unknown>): void {
    if (this.rows.length >= MAX_HELD) this.lost++;
    else this.rows.push({ type, entry });
  }

  take(): { type: 'audit' | 'link'; entry: Record<string, unknown> }[] {
    return this.rows.splice(0);
  }
}

export { READ_PAGE };
