// `porthole sessions list` and `porthole sessions revoke <id | email | --all>`: who is signed in, and
// signing them out. A running gateway notices a revocation within a fraction of a second.
import { Command, InvalidArgumentError } from 'commander';
import type { SessionRecord, Store } from '../store/store.js';

export type RevokeTarget = { all: true } | { id: string } | { email: string };

const SESSION_ID = /^[0-9a-f]{16}$/;

/** Reads the revoke argument; throws InvalidArgumentError with what was expected. */
export function parseRevokeTarget(value: string | undefined, all: boolean): RevokeTarget {
  if (all && value !== undefined) throw new InvalidArgumentError('give either a session id or email, or --all, not both');
  if (all) return { all: true };
  if (value === undefined) throw new InvalidArgumentError('say which sessions to revoke: a session id, an email address, or --all');
  const trimmed = value.trim();
  if (SESSION_ID.test(trimmed)) return { id: trimmed };
  if (/^[^\s@]{1,64}@[^\s@]{1,253}$/.test(trimmed)) return { email: trimmed.toLowerCase() };
  throw new InvalidArgumentError(`"${value.slice(0, 80)}" is neither a session id (16 hex characters, see \`porthole sessions list\`) nor an email address`);
}

/** Revokes and audits; returns the sessions that ended. */
export function revokeSessions(store: Store, target: RevokeTarget, now = Date.now()): SessionRecord[] {
  let revoked: SessionRecord[];
  if ('all' in target) revoked = store.sessions.revokeAll();
  else if ('id' in target) revoked = [store.sessions.revokeById(target.id)].filter((s): s is SessionRecord => s !== undefined);
  else revoked = store.sessions.revokeByEmail(target.email);
  for (const session of revoked) {
    store.audit.record({ type: 'session.revoked', at: now, email: session.email, detail: `session ${session.id} (command line)` });
  }
  return revoked;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function formatSessions(sessions: SessionRecord[]): string {
  if (sessions.length === 0) return 'No active sessions.\n';
  const rows = [['ID', 'EMAIL', 'SIGNED IN', 'LAST SEEN', 'EXPIRES', 'IP', 'BROWSER']];
  for (const s of sessions) {
    rows.push([s.id, s.email, iso(s.createdAt), iso(s.lastSeenAt), iso(s.expiresAt), s.ip ?? '-', (s.userAgent ?? '-').slice(0, 40)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function sessionsCommand(): Command {
  const sessions = new Command('sessions')
    .description('list or revoke signed-in sessions')
    .configureOutput({ outputError: (text, write) => write(`porthole: ${text.replace(/^error: /, '')}`) });
  sessions
    .command('list')
    .description('show active sessions')
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { config: string; json?: boolean }) => {
      const { openStoreForCli } = await import('./store-access.js');
      const store = await openStoreForCli(options.config);
      try {
        const list = store.sessions.list(Date.now());
        process.stdout.write(
          options.json
            ? `${JSON.stringify(
                list.map(({ tokenHash: _, ...rest }) => rest),
                null,
                2,
              )}\n`
            : formatSessions(list),
        );
      } finally {
        store.close();
      }
    });
  sessions
    .command('revoke')
    .description('sign out one session (by id), everyone with an email address, or --all')
    .argument('[target]', 'a session id from `porthole sessions list`, or an email address')
    .option('--all', 'revoke every session')
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .action(async (value: string | undefined, options: { config: string; all?: boolean }, command: Command) => {
      let target: RevokeTarget;
      try {
        target = parseRevokeTarget(value, options.all === true);
      } catch (error) {
        return command.error(`${(error as Error).message}`, { exitCode: 2 });
      }
      const { openStoreForCli } = await import('./store-access.js');
      const store = await openStoreForCli(options.config);
      try {
        const revoked = revokeSessions(store, target);
        if ('id' in target && revoked.length === 0) {
          return command.error(`no active session with id ${target.id} (see \`porthole sessions list\`)`, { exitCode: 1 });
        }
        const who = 'all' in target ? '' : 'id' in target ? ` (${revoked[0]!.email})` : ` of ${target.email}`;
        process.stdout.write(`Revoked ${revoked.length} session${revoked.length === 1 ? '' : 's'}${who}.\n`);
      } finally {
        store.close();
      }
    });
  return sessions;
}
