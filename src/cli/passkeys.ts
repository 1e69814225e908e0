// `porthole passkeys list | revoke`: the passkeys people created on the gate. `list` marks passkeys of
// addresses no longer on gate.allow as suspended (they cannot sign in while that lasts); `revoke` removes
// passkeys for good, and a running gateway refuses them from the next sign-in on.
import { Command } from 'commander';
import { parseRevokeTarget } from './revoke-target.js';
import { createAllowlist, normalizeEmail } from '../gate/email.js';
import { isPasskeyId, revokePasskeys, type PasskeyRevokeTarget } from '../gate/passkeys.js';
import type { PasskeyRecord } from '../store/store.js';

/** Reads revoke's arguments (exactly one of: an id, --email, --all); throws InvalidArgumentError. */
export function parsePasskeyRevokeTarget(id: string | undefined, email: string | undefined, all: boolean): PasskeyRevokeTarget {
  return parseRevokeTarget('passkey', isPasskeyId, id, email, all);
}

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

export function formatPasskeys(passkeys: PasskeyRecord[], allowed: (email: string) => boolean): string {
  if (passkeys.length === 0) return 'No passkeys.\n';
  const rows = [['ID', 'EMAIL', 'CREATED', 'LAST USED', 'STATE', 'NAME']];
  for (const p of passkeys) rows.push([p.id, p.email, iso(p.createdAt), iso(p.lastUsedAt), allowed(p.email) ? 'active' : 'suspended', p.name]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

const errorOutput = { outputError: (text: string, write: (s: string) => void) => write(`porthole: ${text.replace(/^error: /, '')}`) };

export function passkeysCommand(): Command {
  const passkeys = new Command('passkeys').description('passkeys people created to sign in without an emailed code').configureOutput(errorOutput);
  passkeys
    .command('list')
    .description('show passkeys: id, email, created, last used, state (suspended while the address is not on gate.allow), name')
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .option('-e, --email <address>', 'only this address')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { config: string; email?: string; json?: boolean }, command: Command) => {
      const email = options.email === undefined ? undefined : normalizeEmail(options.email);
      if (email === null) return command.error(`"${options.email!.slice(0, 80)}" is not an email address`, { exitCode: 2 });
      const { loadConfigOrExit } = await import('./serve.js');
      const { openStoreForCli } = await import('./store-access.js');
      const allowed = createAllowlist(loadConfigOrExit(options.config).gate.allow);
      const store = await openStoreForCli(options.config);
      try {
        const list = store.passkeys.list(email);
        process.stdout.write(
          options.json
            ? `${JSON.stringify(
                list.map(({ publicKey: _, credentialId: __, ...rest }) => ({ ...rest, state: allowed(rest.email) ? 'active' : 'suspended' })),
                null,
                2,
              )}\n`
            : formatPasskeys(list, allowed),
        );
      } finally {
        store.close();
      }
    });
  passkeys
    .command('revoke')
    .description('remove one passkey (by id), every passkey of an address, or --all')
    .argument('[id]', 'a passkey id from `porthole passkeys list`')
    .option('-e, --email <address>', 'remove every passkey of this address')
    .option('--all', 'remove every passkey')
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .action(async (id: string | undefined, options: { config: string; email?: string; all?: boolean }, command: Command) => {
      let target: PasskeyRevokeTarget;
      try {
        target = parsePasskeyRevokeTarget(id, options.email, options.all === true);
      } catch (error) {
        return command.error((error as Error).message, { exitCode: 2 });
      }
      const { openStoreForCli } = await import('./store-access.js');
      const store = await openStoreForCli(options.config);
      try {
        const revoked = revokePasskeys(store, target);
        if ('id' in target && revoked.length === 0) {
          return command.error(`no passkey with id ${target.id} (see \`porthole passkeys list\`)`, { exitCode: 1 });
        }
        const who = 'all' in target ? '' : 'id' in target ? ` ("${revoked[0]!.name}", ${revoked[0]!.email})` : ` of ${target.email}`;
        process.stdout.write(`Revoked ${revoked.length} passkey${revoked.length === 1 ? '' : 's'}${who}.\n`);
      } finally {
        store.close();
      }
    });
  return passkeys;
}
