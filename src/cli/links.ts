// `porthole links show | audit`: what happened on one share link (its record in the gateway's store), and
// every link of an Immich user with its risky settings, what Porthole enforces on top, and fixes applied
// through Immich's API. The heavy parts load only when their command runs.
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { parseDuration } from '../config/duration.js';
import type { LinkRecord } from '../store/link-records.js';
import type { Store } from '../store/store.js';
import { parseLimit } from './audit.js';
import { CliError } from './errors.js';

/** A key, slug, Immich link id or share URL, as typed. */
export function parseLinkName(value: string): string {
  const name = value.trim();
  if (name.length === 0 || name.length > 800 || /[\u0000-\u001f\u007f]/.test(name)) throw new InvalidArgumentError('expected a link key, slug, Immich link id or share URL');
  return name;
}

function parseAge(value: string): number {
  const ms = parseDuration(value);
  if (ms === null || ms <= 0) throw new InvalidArgumentError('expected a duration like 90d or 12h');
  return ms;
}

/** A cache lifetime as the config spells durations (10s, 5m). */
const formatTtl = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

const time = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

/** The record as a readable table, oldest first so the newest is next to the prompt. */
export function formatLinkRecord(record: LinkRecord): string {
  const t = record.totals;
  const refusals = Object.entries(record.refusals)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const name = record.linkId ? `Link ${record.linkId}` : 'Link (Immich id not known yet: nobody has unlocked it)';
  const lines = [
    record.firstAt === null ? `${name}: nothing recorded yet` : `${name}: events from ${time(record.firstAt)} to ${time(record.lastAt!)} UTC`,
    `views ${t.view} · unlocks ${t.unlock} · downloads ${t.download} · uploads ${t.upload} · refusals ${t.refused}${refusals ? ` (${refusals})` : ''}${t.dropped ? ` · not recorded past the hourly cap ${t.dropped}` : ''}`,
  ];
  if (record.events.length) {
    const rows = [['TIME (UTC)', 'EVENT', 'REASON', 'CLIENT', 'COUNT', 'DETAIL']];
    for (const e of [...record.events].reverse()) rows.push([time(e.at), e.kind, e.reason ?? '', e.client ?? '', String(e.count), e.detail ?? '']);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    lines.push('');
    for (const r of rows)
      lines.push(
        r
          .map((cell, i) => (i === 4 ? cell.padStart(widths[i]!) : i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
      );
  }
  return lines.join('\n') + '\n';
}

const errorOutput = { outputError: (text: string, write: (s: string) => void) => write(`porthole: ${text.replace(/^error: /, '')}`) };

export function linksCommand(): Command {
  const links = new Command('links').description('share links: what happened on one (its record), and an audit of all of them through Immich').configureOutput(errorOutput);
  links
    .command('show')
    .description('show the record of one share link: views, unlocks, downloads, uploads and refusals')
    .argument('<link>', 'the link: its key, slug, Immich id, or the share URL', parseLinkName)
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .option('-n, --limit <n>', 'how many of the newest rows', parseLimit, 50)
    .option('--json', 'print the record as JSON')
    .action(async (name: string, options: { config: string; limit: number; json?: boolean }) => {
      const { openStoreForCli } = await import('./store-access.js');
      const store = await openStoreForCli(options.config);
      try {
        const record = store.linkRecords.read(name, { limit: options.limit });
        if (!record) {
          throw new CliError('no record of that link', 'the share host keeps a record of a link once Immich has confirmed it there; check the key, slug or id');
        }
        process.stdout.write(options.json ? `${JSON.stringify(record, null, 2)}\n` : formatLinkRecord(record));
      } finally {
        store.close();
      }
    });

  links
    .command('audit')
    .description('list every share link of an Immich user with its risks and what Porthole enforces; --fix plans changes, --apply makes them')
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .option('--api-key-file <file>', 'file holding an Immich API key (else $PORTHOLE_IMMICH_API_KEY, else immich.apiKey)')
    .option('--immich-url <url>', 'where Immich answers from here (default: origin.url)')
    .option('--max-age <duration>', 'links made longer ago than this are flagged "old"', parseAge, 90 * 86_400_000)
    .option('--fix <changes>', 'comma-separated: expire=<duration> (links without expiry), uploads-off, downloads-off, metadata-off')
    .option('--only <id...>', 'limit --fix to these Immich link ids')
    .option('--apply', 'make the --fix changes and tell the gateways sharing the store (without it they are only printed)')
    .option('--json', 'print the audit (and changes) as JSON')
    .action(async (options: { config: string; apiKeyFile?: string; immichUrl?: string; maxAge: number; fix?: string; only?: string[]; apply?: boolean; json?: boolean }) => {
      const [{ loadConfigOrExit }, audit] = await Promise.all([import('./serve.js'), import('./link-audit.js')]);
      const { UsageError } = await import('./errors.js');
      if (options.apply && !options.fix) throw new UsageError('--apply needs --fix', 'choose the changes, e.g. --fix uploads-off,expire=30d');
      const fixes = options.fix ? audit.parseFixes(options.fix, parseDuration) : [];
      const config = loadConfigOrExit(options.config);
      const immichUrl = options.immichUrl ?? config.origin.url;
      if (!/^https?:\/\/[^/]+\/?$/.test(immichUrl)) throw new UsageError(`--immich-url ${immichUrl}: expected http(s)://host:port`);
      const apiKey = audit.resolveApiKey(options, config, options.config);
      const api = audit.immichApi(immichUrl, apiKey);
      const all = await api.list();
      const only = options.only?.map((id) => id.toLowerCase());
      const unknown = only?.filter((id) => !all.some((l) => l.id === id));
      if (unknown?.length) throw new UsageError(`--only ${unknown.join(' ')}: not a share link of this API key's user`, 'take the ids from `porthole links audit`');

      // The store holds the records ("never opened") and carries the announcement of each change to the gateways'
      // link caches. Without it the audit still runs; changes then reach the gateways when their cache entries expire.
      const { openStoreForCli } = await import('./store-access.js');
      const haveState = config.store.kind === 'redis' || fs.existsSync(path.join(config.dataDir, 'porthole.db'));
      let store: Store | undefined;
      let noStore = haveState ? '' : `no Porthole state in ${path.resolve(config.dataDir)}`;
      if (haveState) {
        try {
          store = await openStoreForCli(options.config);
        } catch (error) {
          if (!(error instanceof CliError)) throw error;
          noStore = error.message;
        }
      }
      try {
        const now = Date.now();
        const opened = store ? (id: string, key: string) => store.linkRecords.opened(id) || store.linkRecords.opened(key) : undefined;
        const audited = all.map((link) => audit.assessLink(link, config, { maxAgeMs: options.maxAge, now, opened }));
        const plans = audit.planChanges(
          all.filter((l) => !only || only.includes(l.id)),
          fixes,
          now,
        );
        const changes = [...plans.values()].flatMap((p) => p.changes);
        const out = (line: string) => !options.json && process.stdout.write(`${line}\n`);
        if (!options.json) process.stdout.write(audit.formatAudit(audited, { immich: immichUrl, maxAgeDays: Math.round(options.maxAge / 86_400_000), records: Boolean(store) }));
        if (fixes.length) {
          out('');
          out(
            changes.length === 0
              ? 'Nothing to change: no link has the settings these fixes turn off.'
              : options.apply
                ? 'Changing:'
                : 'Would change (dry run; add --apply to make these changes):',
          );
        }
        const applying = options.apply && plans.size > 0;
        if (applying && !store) {
          // Said before the first change, so it stands even if a later one fails.
          process.stderr.write(
            `porthole: cannot tell the gateways about these changes (${noStore}); they will see them within share.linkCacheTtl (${formatTtl(config.share.linkCacheTtl)})\n`,
          );
        }
        const byId = new Map(all.map((link) => [link.id, link]));
        for (const [id, plan] of plans) {
          for (const c of plan.changes) out(`  ${id}  ${c.field}: ${c.from} → ${c.to}`);
          if (options.apply) {
            await api.update(id, plan.dto);
            store?.linkChanged(audit.changedLinkNames(byId.get(id)!));
            out(`  ${id}  changed`);
          }
        }
        await store?.drain?.();
        if (applying && store) out('The gateways sharing this store were told to forget what they cached about the changed links.');
        if (options.json) {
          process.stdout.write(
            `${JSON.stringify({ immich: immichUrl, links: audited, changes, applied: Boolean(options.apply) && changes.length > 0, announced: Boolean(applying && store) }, null, 2)}\n`,
          );
        }
      } finally {
        store?.close();
      }
    });
  return links;
}
