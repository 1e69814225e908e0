// The in-process mirror of the small record sets a Redis store holds (sessions, devices, passkeys, tunnel
// tokens, sign-in codes, passkey user handles and challenges, which connectors each gateway has): the store's synchronous reads come from here.
// It is filled from a snapshot and kept current by the numbered messages the write scripts publish
// (scripts.ts); notices numbered in the same sequence (share links changed) only move it on. Two rules keep a stale message from undoing a revocation made here a moment earlier, before
// that revocation's own message came back: an id once deleted never comes back (credential ids are random and
// never reused; only the presence entries, which revoke nothing, reuse theirs), and a revoked-at once seen is
// never cleared.
import { LRUCache } from 'lru-cache';

/** What the mirror holds, by kind: the record sets whose writes are published. */
export const RECORD_KINDS = ['session', 'device', 'passkey', 'tunnel-token', 'code', 'passkey-user', 'challenge', 'tunnel-presence'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

/** A record as Redis stores it (JSON): every kind has a string id. */
export interface WireRecord {
  id: string;
  [field: string]: unknown;
}

/** Changes published in the same numbered sequence that carry no records (scripts.ts ANNOUNCE_CHANGE). */
export type NoticeKind = 'link';

/**
 * A published write: sequence number, origin gateway, kind, new states, deleted ids, whether it revoked; or a
 * notice (k a NoticeKind) naming what changed in `ids`, or everything of its kind without them.
 */
export type RecordMessage = { s: number; o: string; k: RecordKind; r?: boolean; set?: WireRecord[]; del?: string[] } | { s: number; o: string; k: NoticeKind; ids?: string[] };

/** The field each kind is also looked up by (a token's hash, a credential id), besides its id. */
const INDEXED: Partial<Record<RecordKind, string>> = {
  session: 'tokenHash',
  device: 'tokenHash',
  passkey: 'credentialId',
  code: 'linkTokenHash',
};

/** Kinds whose ids are reused (a gateway's presence entry comes back after a sweep): deletions not remembered. */
const REUSED_IDS: ReadonlySet<RecordKind> = new Set<RecordKind>(['tunnel-presence']);

/** Deleted ids remembered; far more than a gateway deletes between a delete and its message coming back. */
const TOMBSTONES = 100_000;

export class RecordMirror {
  private readonly records = new Map<RecordKind, Map<string, WireRecord>>();
  private readonly indexes = new Map<RecordKind, Map<string, string>>();
  private readonly tombstones = new LRUCache<string, true>({ max: TOMBSTONES });
  /** The sequence number of the last write applied. */
  applied = 0;

  constructor() {
    for (const kind of RECORD_KINDS) {
      this.records.set(kind, new Map());
      if (INDEXED[kind]) this.indexes.set(kind, new Map());
    }
  }

  private map(kind: RecordKind): Map<string, WireRecord> {
    return this.records.get(kind)!;
  }

  get(kind: RecordKind, id: string): WireRecord | undefined {
    return this.map(kind).get(id);
  }

  /** By the kind's indexed field (see INDEXED). */
  find(kind: RecordKind, value: string): WireRecord | undefined {
    const id = this.indexes.get(kind)?.get(value);
    return id === undefined ? undefined : this.get(kind, id);
  }

  all(kind: RecordKind): WireRecord[] {
    return [...this.map(kind).values()];
  }

  /** Applies a new state, unless its id was deleted here or it would clear a revocation seen here. */
  upsert(kind: RecordKind, incoming: WireRecord): void {
    if (this.tombstones.has(`${kind}\n${incoming.id}`)) return;
    const current = this.map(kind).get(incoming.id);
    let record = incoming;
    if (current && current.revokedAt !== null && current.revokedAt !== undefined && (incoming.revokedAt === null || incoming.revokedAt === undefined)) {
      record = { ...incoming, revokedAt: current.revokedAt };
    }
    const field = INDEXED[kind];
    const index = this.indexes.get(kind);
    if (field && index) {
      if (current && current[field] !== record[field]) index.delete(String(current[field]));
      index.set(String(record[field]), record.id);
    }
    this.map(kind).set(record.id, record);
  }

  /** Removes and remembers the id as deleted; returns the record it held. */
  delete(kind: RecordKind, id: string): WireRecord | undefined {
    if (!REUSED_IDS.has(kind)) this.tombstones.set(`${kind}\n${id}`, true);
    const current = this.map(kind).get(id);
    if (!current) return undefined;
    this.map(kind).delete(id);
    const field = INDEXED[kind];
    if (field) this.indexes.get(kind)!.delete(String(current[field]));
    return current;
  }

  /** Replaces everything with a snapshot taken at sequence `seq` (deleted ids stay deleted). */
  load(seq: number, snapshot: ReadonlyMap<RecordKind, readonly WireRecord[]>): void {
    for (const kind of RECORD_KINDS) {
      this.map(kind).clear();
      this.indexes.get(kind)?.clear();
      for (const record of snapshot.get(kind) ?? []) this.upsert(kind, record);
    }
    this.applied = seq;
  }

  /**
   * Applies one published write. Returns 'old' when the snapshot already holds it, 'gap' when messages were
   * missed (the caller reloads), else what it revoked or removed, for the change feed.
   */
  apply(message: RecordMessage): 'old' | 'gap' | { ids: string[] } {
    if (message.s <= this.applied) return 'old';
    if (message.s !== this.applied + 1) return 'gap';
    this.applied = message.s;
    // A notice only moves the sequence; what it says is for the change feed (index.ts).
    if (message.k === 'link') return { ids: message.ids ?? [] };
    const ids: string[] = [];
    for (const record of message.set ?? []) {
      this.upsert(message.k, record);
      if (message.r) ids.push(record.id);
    }
    for (const id of message.del ?? []) {
      this.delete(message.k, id);
      ids.push(id);
    }
    return { ids };
  }
}
