// The SQLite store's change feed (ChangeFeed in store.ts). Triggers (migration 6) move a per-kind revision row
// in the same transaction as any revocation, whichever connection or program makes it; this process's own
// revocations are announced at once by the store, and other processes' ones (the command line) are found by
// one watcher: PRAGMA data_version (a memory read that moves only when another connection committed) on a
// timer while anyone listens, and the revision rows only when it moved. One mechanism for every module.
import type Database from 'better-sqlite3';
import type { ChangeFeed, ChangeKind, StoreChange } from './store.js';

/** How often, while anyone listens, the watcher asks SQLite whether another process committed. */
export const FOREIGN_CHANGE_CHECK_MS = 250;

export const CHANGE_KINDS: readonly ChangeKind[] = ['session', 'device', 'passkey', 'tunnel-token'];

export interface SqliteChangeFeed extends ChangeFeed {
  /**
   * Runs `write` (a revocation of `kind`) in a transaction and announces it when the revision row moved;
   * `ids` picks the revoked ids out of the write's result.
   */
  revoke<T>(kind: ChangeKind, write: () => T, ids: (result: T) => readonly string[]): T;
  /** Stops the watcher (the store is closing). */
  close(): void;
}

export function createSqliteChangeFeed(db: Database.Database, checkMs = FOREIGN_CHANGE_CHECK_MS): SqliteChangeFeed {
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  const readRevisions = db.prepare<[], { kind: ChangeKind; revision: number }>('SELECT kind, revision FROM revisions');
  const readRevision = db.prepare<[string], number>('SELECT revision FROM revisions WHERE kind = ?').pluck();
  const seen = new Map<ChangeKind, number>();
  for (const row of readRevisions.all()) seen.set(row.kind, row.revision);
  let seenVersion = dataVersion.get() as number;
  const listeners = new Set<(change: StoreChange) => void>();
  let timer: NodeJS.Timeout | undefined;

  const emit = (change: StoreChange) => {
    for (const listener of [...listeners]) {
      try {
        listener(change);
      } catch (error) {
        // One broken listener must not keep the revocation from the others.
        process.emitWarning(`store change listener failed: ${(error as Error).message}`);
      }
    }
  };

  /** Takes the current state as seen, announcing nothing: what happened before anyone listened is not news. */
  function resync(): void {
    seenVersion = dataVersion.get() as number;
    for (const row of readRevisions.all()) seen.set(row.kind, row.revision);
  }

  function checkForeign(): void {
    let version: number;
    let rows: { kind: ChangeKind; revision: number }[];
    try {
      version = dataVersion.get() as number;
      if (version === seenVersion) return;
      rows = readRevisions.all();
    } catch {
      // The database closed under the timer (shutdown): nothing left to watch.
      stop();
      return;
    }
    seenVersion = version;
    for (const row of rows) {
      if (seen.get(row.kind) === row.revision) continue;
      seen.set(row.kind, row.revision);
      emit({ kind: row.kind });
    }
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
      const result = db.transaction(() => {
        const written = write();
        const revision = readRevision.get(kind) as number;
        moved = revision !== seen.get(kind);
        // Read inside the transaction, so it never absorbs a revision another process wrote afterwards.
        seen.set(kind, revision);
        return written;
      })();
      if (moved) emit({ kind, ids: ids(result) });
      return result;
    },
    close: stop,
  };
}
