// Opening the gateway's store from the command line: find the data directory through --config, and refuse
// clearly (instead of creating an empty database) when the gateway has never run there.
import fs from 'node:fs';
import path from 'node:path';
import { CliError } from './errors.js';
import { loadConfigOrExit } from './serve.js';
import { openSqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/store.js';

export function openStoreForCli(configFile: string): Store {
  const config = loadConfigOrExit(configFile);
  if (!fs.existsSync(path.join(config.dataDir, 'porthole.db'))) {
    throw new CliError(`no Porthole state in ${path.resolve(config.dataDir)} (dataDir of ${configFile})`, 'start the gateway once with `porthole serve` and this config');
  }
  return openSqliteStore(config.dataDir);
}
