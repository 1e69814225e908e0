// `porthole audit`: the gate's decisions (and the share host's and tunnel's), newest last, filterable.
import { Command, InvalidArgumentError, Option } from 'commander';
import { AUDIT_EVENT_TYPES, type AuditEvent } from '../store/store.js';

export function parseLimit(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 10_000) throw new InvalidArgumentError('expected a whole number from 1 to 10000');
  return Number(value);
}

export function parseEmailFilter(value: string): string {
  const email = value.trim().toLowerCase();
  if (!/^[^\s@]{1,64}@[^\s@]{1,253}$/.test(email)) throw new InvalidArgumentError('expected an email address');
  return email;
}

/** One line per event, oldest first, so the newest is next to the prompt. */
export function formatAudit(events: AuditEvent[]): string {
  if (events.length === 0) return 'No matching events.\n';
  return (
    [...events]
      .reverse()
      .map((e) =>
        [new Date(e.at).toISOString(), e.type.padEnd(17), (e.email ?? '-').padEnd(24), (e.ip ?? '-').padEnd(15), `${(e.count ?? 1) > 1 ? `×${e.count} ` : ''}${e.detail ?? ''}`]
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function auditCommand(): Command {
  return new Command('audit')
    .description('show audit events: codes requested and sent, wrong tries, lockouts, sign-ins and sign-outs, rate limits')
    .configureOutput({ outputError: (text, write) => write(`porthole: ${text.replace(/^error: /, '')}`) })
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .option('-n, --limit <n>', 'how many of the newest events', parseLimit, 50)
    .addOption(new Option('-t, --type <type>', 'only this kind of event').choices(AUDIT_EVENT_TYPES))
    .option('-e, --email <address>', 'only events about this address', parseEmailFilter)
    .option('--json', 'print JSON lines instead of a table')
    .action(async (options: { config: string; limit: number; type?: string; email?: string; json?: boolean }) => {
      const { openStoreForCli } = await import('./store-access.js');
      const store = await openStoreForCli(options.config);
      try {
        const events = store.audit.list({ limit: options.limit, type: options.type, email: options.email });
        process.stdout.write(
          options.json
            ? events
                .reverse()
                .map((e) => JSON.stringify(e))
                .join('\n') + (events.length ? '\n' : '')
            : formatAudit(events),
        );
      } finally {
        store.close();
      }
    });
}
