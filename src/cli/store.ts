// `porthole store migrate --to redis`: copies this gateway's SQLite state into the Redis the config names
// (store.kind: redis), so an installation can move to several gateways without signing anyone out.
import { Command, Option } from 'commander';
import { CliError } from './errors.js';

export function storeCommand(): Command {
  const store = new Command('store').description('the state store (SQLite or Redis)');
  store
    .command('migrate')
    .description('copy the SQLite state in dataDir (sessions, devices, passkeys, tunnel tokens, audit log, link records) into the Redis of store.url')
    .addOption(new Option('--to <backend>', 'the store to copy into').choices(['redis']).makeOptionMandatory())
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .option('--force', 'copy even when Redis already holds Porthole state under the key prefix (records with the same id are replaced)')
    .action(async (options: { config: string; to: 'redis'; force?: boolean }) => {
      const [{ loadConfigOrExit }, { migrateSqliteToRedis, MigrationRefused }] = await Promise.all([import('./serve.js'), import('../store/redis/migrate.js')]);
      const config = loadConfigOrExit(options.config);
      if (config.store.kind !== 'redis') {
        throw new CliError(`store.kind is ${config.store.kind} in ${options.config}`, 'set store.kind: redis and store.url first (the SQLite file is read from dataDir)');
      }
      const { url, password, keyPrefix, maxAuditEvents, maxLinkEvents } = config.store;
      let counts;
      try {
        counts = await migrateSqliteToRedis(config.dataDir, { url, password, keyPrefix, maxAuditEvents, maxLinkEvents }, { force: options.force });
      } catch (error) {
        if (error instanceof MigrationRefused) {
          throw new CliError(error.message, error.message.includes('already holds') ? 'pass --force to copy anyway' : 'check dataDir, store.url and store.password');
        }
        throw error;
      }
      process.stdout.write(
        `Copied into Redis: ${counts.sessions} sessions, ${counts.devices} devices, ${counts.passkeys} passkeys (${counts.passkeyUsers} user handles), ` +
          `${counts.tunnelTokens} tunnel tokens, ${counts.auditEvents} audit events, ${counts.linkEvents} link-record rows (${counts.linkNames} link names).\n`,
      );
    });
  return store;
}
