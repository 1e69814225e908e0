// Keeps the audit log (and the share-link records) within its retention (config auditRetention): events older
// than that are deleted at start and then every hour, so a long-running gateway under attack cannot fill its disk with refusals.
import type { Logger } from '../log.js';
import type { Store } from './store.js';

const PRUNE_INTERVAL_MS = 3_600_000;

/** Starts pruning; returns the function that stops it. */
export function keepAuditWithin(store: Store, retentionMs: number, logger: Logger, now: () => number = Date.now): () => void {
  const prune = () => {
    try {
      const deleted = store.audit.deleteOlderThan(now() - retentionMs);
      if (deleted > 0) logger.info({ deleted }, 'audit events past their retention deleted');
      // Share-link records live as long as audit events, and each link within its row cap.
      const linkRows = store.linkRecords.prune(now() - retentionMs);
      if (linkRows > 0) logger.info({ deleted: linkRows }, 'share-link record rows past their retention or cap deleted');
    } catch (error) {
      logger.error({ err: error }, 'audit retention failed');
    }
  };
  prune();
  const timer = setInterval(prune, PRUNE_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
