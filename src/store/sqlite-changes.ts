// The SQLite store's change feed (ChangeFeed in store.ts). Triggers (migration 6) move a per-kind revision row
// in the same transaction as any revocation, whichever connection or program makes it; this process's own
// revocations are announced at once by the store, and other processes' ones (the command line) are found by
// one watcher: PRAGMA data_version (a memory read that moves only when another connection committed) on a
// timer while anyone listens, and the revision rows only when it moved. One mechanism for every module.
// Share-link changes (migration 10) ride on the same revision rows: each announcement is a numbered row in
// link_changes whose insert moves the `link` revision, so the watcher reads the rows only when that moved and
// hands on the ids they carry; rows are kept only for the last LINK_CHANGES_KEPT announcements, and a watcher
// that finds some gone (it slept past them) announces "every link".
import type Database from 'better-sqlite3';
import type { ChangeFeed, ChangeKind, StoreChange } from './store.js';
import { notifyAll } from './change-listeners.js';

/** How often, while anyone listens, the watcher asks SQLite whether another process committed. */
export const FOREIGN_CHANGE_CHECK_MS = 250;

export const CHANGE_KINDS: readonly ChangeKind[] = ['session', 'device', 'passkey', 'tunnel-token', 'link'];

/** A link announcement naming more links than this says "every link" instead (one row, one message, bounded). */
export const MAX_LINK_IDS = 100;
const MAX_LINK_ID_LENGTH = 100;
/** Announcements kept in link_changes: far more than arrive between two looks of a watcher 250 ms apart. */
const LINK_CHANGES_KEPT = 1000;

/** The ids a link announcement carries: distinct, short, bounded; undefined means every link. */
export function linkChangeIds(ids: readonly string[] | undefined): string[] | undefined {
  if (ids === undefined) return undefined;
  const kept = [...new Set(ids.filter((id) => typeof id === 'string' && id.length > 0 && id.length <= MAX_LINK_ID_LENGTH))];
  return kept.length === 0 || kept.length > MAX_LINK_IDS ? undefined : kept;
}

/** The change announced for link rows read together: "every link" if any said so or rows were missed. */
function foldLinkChanges(rows: readonly { ids: string | null }[], missed: boolean): StoreChange {
  if (missed || rows.some((row) => row.ids === null)) return { kind: 'link' };
  const ids = linkChangeIds(rows.flatMap((row) => JSON.parse(row.ids!) as string[]));
  return ids ? { kind: 'link', ids } : { kind: 'link' };
}

export interface SqliteChangeFeed extends ChangeFeed {
  /**
   * Runs `write` (a revocation of `kind`) in a transaction and announces it when the revision row moved;
   * `ids` picks the revoked ids out of the write's result.
   */
  revoke<T>(kind: ChangeKind, write: () => T, ids: (result: T) => readonly string[]): T;
  /** Announces changed share links (ids as linkChangeIds keeps them; none: every link) here and to other processes. */
  linkChanged(ids: readonly string[] | undefined): void;
  /** Stops the watcher (the store is closing). */
  close(): void;
}

export function createSqliteChangeFeed(db: Database.Database, checkMs = FOREIGN_CHANGE_CHECK_MS): SqliteChangeFeed {
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  const readRevisions = db.prepare<[], { kind: ChangeKind; revision: number }>('SELECT kind, revision FROM revisions');
  const readRevision = db.prepare<[string], number>('SELECT revision FROM revisions WHERE kind = ?').pluck();
  const lastLinkChange = db.prepare<[], number>('SELECT coalesce(max(seq), 0) FROM link_changes').pluck();
  const linkChangesAfter = db.prepare<[number], { seq: number; ids: string | null }>('SELECT seq, ids FROM link_changes WHERE seq > ? ORDER BY seq');
  const addLinkChange = db.prepare<[number, string | null], { seq: number }>('INSERT INTO link_changes (at, ids) VALUES (?, ?) RETURNING seq');
  const pruneLinkChanges = db.prepare<[number]>('DELETE FROM link_changes WHERE seq <= ?');
  const seen = new Map<ChangeKind, number>();
  for (const row of readRevisions.all()) seen.set(row.kind, row.revision);
  let seenVersion = dataVersion.get() as number;
  /** The last link_changes row handed on (or made here). */
  let seenLinkChange = lastLinkChange.get() as number;
  const listeners = new Set<(change: StoreChange) => void>();
  let timer: NodeJS.Timeout | undefined;

  const emit = (change: StoreChange) => notifyAll(listeners, change);

  /** Takes the current state as seen, announcing nothing: what happened before anyone listened is not news. */
  function resync(): void {
    seenVersion = dataVersion.get() as number;
    for (const row of readRevisions.all()) seen.set(row.kind, row.revision);
    seenLinkChange = lastLinkChange.get() as number;
  }

  /** Link rows other processes added since the last one seen, as one change. */
  function foreignLinkChanges(): StoreChange {
    const rows = linkChangesAfter.all(seenLinkChange);
    // Sequence numbers never repeat or skip (AUTOINCREMENT, rolled back with their transaction): a first row
    // that is not the next one means rows were pruned before this watcher read them.
    const missed = rows.length === 0 || rows[0]!.seq !== seenLinkChange + 1;
    if (rows.length > 0) seenLinkChange = rows[rows.length - 1]!.seq;
    return foldLinkChanges(rows, missed);
  }

  function checkForeign(): void {
    let version: number;
    const changes: StoreChange[] = [];
    try {
      version = dataVersion.get() as number;
      if (version === seenVersion) return;
      // One read transaction: the link rows read are the ones the revision read counted.
      db.transaction(() => {
        for (const row of readRevisions.all()) {
          if (seen.get(row.kind) === row.revision) continue;
          seen.set(row.kind, row.revision);
          changes.push(row.kind === 'link' ? foreignLinkChanges() : { kind: row.kind });
        }
      })();
    } catch {
      // The database closed under the timer (shutdown): nothing left to watch.
      stop();
      return;
    }
    seenVersion = version;
    for (const change of changes) emit(change);
  }

  function stop(): void {
    if (timer) clearInterval(timer);
    timer = undefined;
  }

  return {
    subscribe(listener) {
      listeners.add(listener);
      if (!timer) {
        resync();
        timer = setInterval(checkForeign, checkMs);
        timer.unref();
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) stop();
      };
    },
    revoke(kind, write, ids) {
      let moved = false;
      let foreign = false;
      // IMMEDIATE: the write lock from the start, so the revision read first is the latest one and no other
      // process can move it between that read and this write.
      const result = db
        .transaction(() => {
          const before = readRevision.get(kind) as number;
          // Another process revoked something of this kind that the watcher has not picked up yet: announcing only
          // this write's ids would swallow that one, so everything of the kind is announced instead.
          foreign = before !== seen.get(kind);
          const written = write();
          const revision = readRevision.get(kind) as number;
          moved = revision !== before;
          seen.set(kind, revision);
          return written;
        })
        .immediate();
      if (foreign) emit({ kind });
      else if (moved) emit({ kind, ids: ids(result) });
      return result;
    },
    linkChanged(ids) {
      const kept = linkChangeIds(ids);
      let foreign: StoreChange | undefined;
      db.transaction(() => {
        // Rows other processes added that the watcher has not handed on yet go out first, not absorbed by ours.
        if (seenLinkChange < (lastLinkChange.get() as number)) foreign = foreignLinkChanges();
        const { seq } = addLinkChange.get(Date.now(), kept ? JSON.stringify(kept) : null)!;
        pruneLinkChanges.run(seq - LINK_CHANGES_KEPT);
        seenLinkChange = seq;
        seen.set('link', readRevision.get('link') as number);
      })();
      if (foreign) emit(foreign);
      emit(kept ? { kind: 'link', ids: kept } : { kind: 'link' });
    },
    close: stop,
  };
}
