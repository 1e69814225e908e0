// `porthole store migrate --to redis`: copies this gateway's SQLite state and its ACME account keys and
// certificates into the Redis the config names (store.kind: redis), so an installation can move to several
// gateways without signing anyone out or ordering certificates again. It says what it copied, item by item for
// ACME (what was already there, or kept, is said too).
import { Command, Option } from 'commander';
import type { AcmeCopy } from '../store/redis/migrate.js';
import { CliError } from './errors.js';

export function storeCommand(): Command {
  const store = new Command('store').description('the state store (SQLite or Redis)');
  store
    .command('migrate')
    .description(
      'copy the SQLite state in dataDir (sessions, devices, passkeys, tunnel tokens, audit log, link records) and the ACME account keys and certificates of dataDir/acme into the Redis of store.url',
    )
    .addOption(new Option('--to <backend>', 'the store to copy into').choices(['redis']).makeOptionMandatory())
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .option(
      '--force',
      'copy even when Redis already holds Porthole state under the key prefix (records with the same id are replaced; so is a different ACME account key, and a certificate unless the one in Redis is valid for longer)',
    )
    .action(async (options: { config: string; to: 'redis'; force?: boolean }) => {
      const [{ loadConfigOrExit }, { migrateSqliteToRedis, MigrationRefused }] = await Promise.all([import('./serve.js'), import('../store/redis/migrate.js')]);
      const config = loadConfigOrExit(options.config);
      if (config.store.kind !== 'redis') {
        throw new CliError(`store.kind is ${config.store.kind} in ${options.config}`, 'set store.kind: redis and store.url first; the SQLite file is read from dataDir');
      }
      const { url, password, keyPrefix, maxAuditEvents, maxLinkEvents } = config.store;
      let counts;
      try {
        counts = await migrateSqliteToRedis(config.dataDir, { url, password, keyPrefix, maxAuditEvents, maxLinkEvents }, { force: options.force });
      } catch (error) {
        if (error instanceof MigrationRefused) {
          throw new CliError(error.message, error.hint);
        }
        throw error;
      }
      process.stdout.write(
        `Copied into Redis: ${counts.sessions} sessions, ${counts.devices} devices, ${counts.passkeys} passkeys (${counts.passkeyUsers} user handles), ` +
          `${counts.tunnelTokens} tunnel tokens, ${counts.auditEvents} audit events, ${counts.linkEvents} link-record rows (${counts.linkNames} link names).\n`,
      );
      process.stdout.write(describeAcme(counts.acme));
    });
  return store;
}

const OUTCOME: Record<AcmeCopy['outcome'], string> = {
  copied: 'copied',
  same: 'already in Redis (identical), skipped',
  kept: 'not copied',
  unreadable: 'not copied',
};

/** One line per ACME account key and certificate found in dataDir/acme, saying what became of it. */
function describeAcme(copies: readonly AcmeCopy[]): string {
  if (copies.length === 0) return 'ACME: no account key or certificate in dataDir/acme to copy.\n';
  const copied = copies.filter((c) => c.outcome === 'copied');
  const lines = copies.map((c) => {
    const what = c.name === null ? 'account key' : `certificate ${c.name}${c.notAfter ? ` (valid until ${new Date(c.notAfter).toISOString()})` : ''}`;
    return `  ${what}, CA ${c.ca}: ${OUTCOME[c.outcome]}${c.why ? `: ${c.why}` : ''}\n`;
  });
  const accounts = copied.filter((c) => c.name === null).length;
  return `ACME: copied ${accounts} account key${accounts === 1 ? '' : 's'} and ${copied.length - accounts} certificate${copied.length - accounts === 1 ? '' : 's'}.\n${lines.join('')}`;
}
