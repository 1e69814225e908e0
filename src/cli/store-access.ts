// Opening the gateway's store from the command line: the backend the config names (store.kind). For SQLite,
// find the data directory through --config, and refuse clearly (instead of creating an empty database) when the
// gateway has never run there; for Redis, refuse clearly when Redis cannot be reached.
import fs from 'node:fs';
import path from 'node:path';
import { CliError } from './errors.js';
import { loadConfigOrExit } from './serve.js';
import { openConfiguredStore } from '../store/open.js';
import { describeRedisUrl } from '../store/redis/index.js';
import type { Store } from '../store/store.js';

export async function openStoreForCli(configFile: string): Promise<Store> {
  const config = loadConfigOrExit(configFile);
  if (config.store.kind === 'redis') {
    try {
      return await openConfiguredStore(config);
    } catch (error) {
      throw new CliError(`${(error as Error).message}`, `check store.url (${describeRedisUrl(config.store.url)}) and store.password in ${configFile}`);
    }
  }
  if (!fs.existsSync(path.join(config.dataDir, 'porthole.db'))) {
    throw new CliError(`no Porthole state in ${path.resolve(config.dataDir)} (dataDir of ${configFile})`, 'start the gateway once with `porthole serve` and this config');
  }
  return openConfiguredStore(config);
}
