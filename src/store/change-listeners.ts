// Delivery of store changes to their listeners, shared by both backends' change feeds (SQLite and Redis): every
// listener hears every change, and one that throws is reported without keeping the change from the others.
import type { StoreChange } from './store.js';

export function notifyAll(listeners: ReadonlySet<(change: StoreChange) => void>, change: StoreChange): void {
  for (const listener of [...listeners]) {
    try {
      listener(change);
    } catch (error) {
      // One broken listener must not keep a revocation from the others.
      process.emitWarning(`store change listener failed: ${(error as Error).message}`);
    }
  }
}
