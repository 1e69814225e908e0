// Opening the gateway's store from the command line: find the data directory through --config, and refuse
// clearly (instead of creating an empty database) when the gateway has never run there.
import fs from 'node:fs';
import path from 'node:path';
import { loadConfigOrExit } from './serve.js';
import { openSqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/store.js';

export function openStoreForCli(configFile: string): Store {
  const config = loadConfigOrExit(configFile);
  if (!fs.existsSync(path.join(config.dataDir, 'porthole.db'))) {
    process.stderr.write(`porthole: no Porthole state in ${path.resolve(config.dataDir)} (dataDir from ${configFile}); has the gateway run with this config?\n`);
    process.exit(2);
  }
  return openSqliteStore(config.dataDir);
}
