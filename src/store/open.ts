// Opens the store the config names (store.kind): the SQLite file in dataDir, or the Redis several gateways
// share. The one place the gateway and the command line choose a backend.
import type { ResolvedConfig } from '../config/load.js';
import type { Logger } from '../log.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** The audit guard's clock (tests). */
  auditClock?: () => number;
  logger?: Pick<Logger, 'error' | 'warn' | 'info'>;
  /**
   * A shared Redis that cannot be reached: 'reject' (the command line: nothing to do without it) or
   * 'start-unavailable' (the gateway: start, refuse what needs state, and load it when Redis answers).
   */
  whenUnreachable?: 'reject' | 'start-unavailable';
}

export async function openConfiguredStore(config: ResolvedConfig, options: OpenStoreOptions = {}): Promise<Store> {
  const common = { auditRowsPerHour: config.auditRowsPerHour, auditClock: options.auditClock, linkRecords: config.share.linkRecords };
  if (config.store.kind === 'sqlite') return openSqliteStore(config.dataDir, common);
  // Loaded only here: the Redis client weighs ~25 MiB on a gateway that never uses it.
  const { openRedisStore } = await import('./redis/index.js');
  const { url, password, keyPrefix, maxAuditEvents, maxLinkEvents } = config.store;
  return openRedisStore({ ...common, url, password, keyPrefix, maxAuditEvents, maxLinkEvents, logger: options.logger, whenUnreachable: options.whenUnreachable });
}
