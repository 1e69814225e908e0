// `porthole init`: writes a commented porthole.yaml from answers, so nobody starts by editing a 90-line example.
// On a terminal it asks (prompts from @inquirer/prompts) for whatever the flags did not give; in scripts and
// containers the flags are the whole input and a missing one is a usage error. Secrets become { env: ... } or
// { file: ... } references; a password is written into the file only when asked (--inline-secrets). The
// result is validated with the same schema `porthole serve` uses before anything is written, and an existing
// file is never overwritten without --force.
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import YAML from 'yaml';
import { ConfigError, parseConfigDetailed } from '../config/load.js';
import { CliError, UsageError } from './errors.js';

export interface InitAnswers {
  privateHost: string;
  shareHost: string | null;
  allow: string[];
  mode: 'direct' | 'tunnel';
  origin: string;
  mail: { transport: 'console' } | { transport: 'smtp'; host: string; port: number; security: 'starttls' | 'tls' | 'none'; user?: string; password: PasswordRef | null };
  from: string;
  httpPort: number;
  httpsPort: number;
  dataDir: string;
}

type PasswordRef = { env: string } | { file: string } | { inline: string };

interface InitFlags {
  config: string;
  force?: boolean;
  input: boolean;
  privateHost?: string;
  shareHost?: string | false;
  allow?: string[];
  mode?: 'direct' | 'tunnel';
  origin?: string;
  smtp?: string;
  consoleMail?: boolean;
  smtpUser?: string;
  smtpPasswordEnv?: string;
  smtpPasswordFile?: string;
  inlineSecrets?: boolean;
  from?: string;
  httpPort?: number;
  httpsPort?: number;
  dataDir?: string;
}

const HOST = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const ALLOW_ENTRY = /^(\*|[a-z0-9!#$%&'+/=?^_`{|}~.-]{1,64})@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function hostName(value: string): string {
  const host = value.trim().toLowerCase();
  if (!HOST.test(host)) throw new InvalidArgumentError(`"${value.slice(0, 80)}" is not a host name (like photos.example.org: no scheme, port or path)`);
  return host;
}

function allowList(value: string, previous: string[] = []): string[] {
  const entries = value
    .split(/[\s,]+/)
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean);
  const bad = entries.find((e) => !ALLOW_ENTRY.test(e));
  if (bad !== undefined) throw new InvalidArgumentError(`"${bad.slice(0, 80)}" is not an email address or *@domain`);
  if (entries.length === 0) throw new InvalidArgumentError('list at least one address or *@domain');
  return [...previous, ...entries];
}

function originUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new InvalidArgumentError(`"${value.slice(0, 80)}" is not a URL (like http://immich-server:2283)`);
  }
  if (url.protocol !== 'http:' || (url.pathname !== '/' && url.pathname !== '') || url.search || url.username) {
    throw new InvalidArgumentError(`"${value.slice(0, 80)}" must be http://host:port with no path (like http://immich-server:2283)`);
  }
  return url.origin;
}

function portNumber(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) throw new InvalidArgumentError('expected a port number from 1 to 65535');
  return Number(value);
}

function envName(value: string): string {
  if (!ENV_NAME.test(value)) throw new InvalidArgumentError(`"${value.slice(0, 80)}" is not an environment variable name (letters, digits, _)`);
  return value;
}

/** smtp://user@host:587 (STARTTLS), smtps://user@host:465 (implicit TLS), smtp://host:25?security=none (local relay). */
export function parseSmtpUrl(value: string): { host: string; port: number; security: 'starttls' | 'tls' | 'none'; user?: string; password?: string } {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new InvalidArgumentError(`"${value.slice(0, 80)}" is not an SMTP URL (like smtp://user@smtp.example.org:587 or smtps://...:465)`);
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new InvalidArgumentError(`an SMTP URL starts with smtp:// (STARTTLS) or smtps:// (TLS), got ${url.protocol}//`);
  if (!url.hostname) throw new InvalidArgumentError('the SMTP URL names no host');
  const explicit = url.searchParams.get('security');
  if (explicit !== null && explicit !== 'none' && explicit !== 'starttls' && explicit !== 'tls')
    throw new InvalidArgumentError('security= in the SMTP URL is starttls, tls or none');
  const security = (explicit ?? (url.protocol === 'smtps:' ? 'tls' : 'starttls')) as 'starttls' | 'tls' | 'none';
  const port = url.port ? Number(url.port) : security === 'tls' ? 465 : 587;
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    security,
    user: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
  };
}

const q = (value: string) => YAML.stringify(value, { lineWidth: 0 }).trimEnd();

/** The commented file. Only keys the answers decide are written; everything else keeps its safe default. */
export function renderConfig(a: InitAnswers): string {
  const lines: string[] = [
    '# Porthole configuration, written by `porthole init`. Every other key keeps its default; all of them are',
    '# described in porthole.example.yaml. Check this file with: porthole doctor --config <this file>',
    '',
    'listen:',
    '  address: 0.0.0.0',
    `  httpPort: ${a.httpPort}            # plain HTTP${a.mode === 'direct' ? ' (put a TLS proxy in front, or set httpsPort)' : ''}`,
  ];
  if (a.mode === 'tunnel') lines.push(`  httpsPort: ${a.httpsPort}           # browsers and home connectors (porthole connect) arrive here`);
  lines.push(
    '',
    'hosts:',
    `  private: ${q(a.privateHost)}   # the whole of Immich, behind the email PIN`,
    a.shareHost
      ? `  share: ${q(a.shareHost)}     # Immich's public share links, and nothing else`
      : "  # share: share.example.org   # Immich's public share links (set Immich's External Domain to it)",
    '',
    'origin:',
    `  url: ${q(a.origin)}   # Immich as seen from ${a.mode === 'tunnel' ? 'the home connector (porthole connect --origin)' : 'Porthole (same Docker network)'}`,
    '',
    'gate:',
    '  allow:                      # who may sign in: exact addresses or whole domains (*@family.example)',
    ...a.allow.map((entry) => `    - ${q(entry)}`),
    '',
    'mail:',
    `  from: ${q(a.from)}`,
  );
  if (a.mail.transport === 'console') {
    lines.push('  transport: console          # codes are printed to the log, not sent: for a trial only');
  } else {
    const m = a.mail;
    lines.push(
      '  transport: smtp',
      '  smtp:',
      `    host: ${q(m.host)}`,
      `    port: ${m.port}`,
      `    security: ${m.security}        # starttls (587), tls (465), or none (a relay on the same machine only)`,
    );
    if (m.user) lines.push(`    user: ${q(m.user)}`);
    if (m.password && 'env' in m.password) lines.push(`    password: { env: ${m.password.env} }   # set this variable where Porthole runs`);
    if (m.password && 'file' in m.password) lines.push(`    password: { file: ${q(m.password.file)} }`);
    if (m.password && 'inline' in m.password) lines.push(`    password: ${q(m.password.inline)}   # written here because --inline-secrets was given: keep this file private`);
  }
  lines.push('', `dataDir: ${q(a.dataDir)}               # sessions, codes, audit log, keys (relative to this file)`);
  if (a.mode === 'tunnel') {
    lines.push('', 'tunnel:', '  enabled: true', `  publicAddress: ${q(`${a.privateHost}:${a.httpsPort}`)}   # where home connectors dial (written into tokens)`);
  }
  lines.push('', 'log:', '  level: info', '  format: auto                # readable on a terminal, JSON lines otherwise', '');
  return lines.join('\n');
}

/** What to do after the file exists: DNS, Immich's setting, the doctor, starting. */
export function nextSteps(a: InitAnswers, file: string): string {
  const f = file.includes(' ') ? JSON.stringify(file) : file;
  const hosts = [a.privateHost, a.shareHost].filter((h): h is string => Boolean(h));
  const steps = [
    `Wrote ${file}. Next:`,
    `  1. DNS: point ${hosts.join(' and ')} at this gateway's public address (A/AAAA records, or a CNAME).`,
    a.shareHost
      ? `  2. Immich: Administration > Settings > Server > External Domain = https://${a.shareHost}`
      : '  2. Immich: without hosts.share, share links need a signed-in session; add one later for public links.',
  ];
  let n = 3;
  if (a.mail.transport === 'smtp' && a.mail.password && 'env' in a.mail.password)
    steps.push(`  ${n++}. Secret: set ${a.mail.password.env} to the SMTP password where Porthole runs.`);
  if (a.mail.transport === 'smtp' && a.mail.password && 'file' in a.mail.password)
    steps.push(`  ${n++}. Secret: write the SMTP password into ${a.mail.password.file} (readable only by Porthole).`);
  steps.push(`  ${n++}. Check:  porthole doctor --config ${f}`);
  if (a.mode === 'tunnel') {
    steps.push(`  ${n++}. Start:  porthole serve --config ${f}`);
    steps.push(`  ${n}. Tunnel: porthole tunnel token create --config ${f}`);
    steps.push(`            then at home, next to Immich: porthole connect --token <token> --origin ${a.origin}`);
  } else {
    steps.push(`  ${n}. Start:  porthole serve --config ${f}   (behind a TLS proxy for https; see README)`);
  }
  return steps.join('\n') + '\n';
}

const REQUIRED_FLAGS: Array<[keyof InitFlags, string]> = [
  ['privateHost', '--private-host'],
  ['allow', '--allow'],
];

/** Answers from flags alone; names every missing flag at once. */
function answersFromFlags(flags: InitFlags): InitAnswers {
  const missing = REQUIRED_FLAGS.filter(([key]) => flags[key] === undefined).map(([, flag]) => flag);
  if (flags.smtp === undefined && !flags.consoleMail) missing.push('--smtp <url> (or --console-mail)');
  if (missing.length > 0) throw new UsageError(`init needs ${missing.join(', ')} when it cannot ask`, 'run it on a terminal to be asked, or see `porthole init --help`');
  return buildAnswers(flags, flags.privateHost!, flags.allow!);
}

function buildAnswers(flags: InitFlags, privateHost: string, allow: string[], password?: PasswordRef | null): InitAnswers {
  const mode = flags.mode ?? 'direct';
  let mail: InitAnswers['mail'];
  let defaultFrom = `Porthole <porthole@${privateHost.split('.').slice(-2).join('.')}>`;
  if (flags.consoleMail && flags.smtp !== undefined) throw new UsageError('give either --smtp or --console-mail, not both');
  if (flags.consoleMail) {
    mail = { transport: 'console' };
  } else {
    const smtp = parseSmtpUrl(flags.smtp!);
    const user = flags.smtpUser ?? smtp.user;
    if (user?.includes('@')) defaultFrom = `Porthole <${user}>`;
    if (smtp.password && !flags.inlineSecrets) {
      throw new UsageError('the SMTP URL holds a password, which would be written into the file', 'use --smtp-password-env or --smtp-password-file, or add --inline-secrets');
    }
    if (flags.smtpPasswordEnv && flags.smtpPasswordFile) throw new UsageError('give either --smtp-password-env or --smtp-password-file, not both');
    const ref: PasswordRef | null =
      password !== undefined
        ? password
        : smtp.password
          ? { inline: smtp.password }
          : flags.smtpPasswordFile
            ? { file: flags.smtpPasswordFile }
            : user
              ? { env: flags.smtpPasswordEnv ?? 'SMTP_PASSWORD' }
              : null;
    mail = { transport: 'smtp', host: smtp.host, port: smtp.port, security: smtp.security, user, password: ref };
  }
  return {
    privateHost,
    shareHost: flags.shareHost ? flags.shareHost : null,
    allow,
    mode,
    origin: flags.origin ?? 'http://immich-server:2283',
    mail,
    from: flags.from ?? defaultFrom,
    httpPort: flags.httpPort ?? 8080,
    httpsPort: flags.httpsPort ?? 443,
    dataDir: flags.dataDir ?? './data',
  };
}

/** Turns an InvalidArgumentError from a flag parser into the prompt's inline complaint. */
const validateWith = (parse: (v: string) => unknown) => (value: string) => {
  try {
    parse(value);
    return true;
  } catch (error) {
    return (error as Error).message;
  }
};

async function answersFromPrompts(flags: InitFlags): Promise<InitAnswers> {
  const { input, select, password: passwordPrompt } = await import('@inquirer/prompts');
  const privateHost =
    flags.privateHost ??
    hostName(await input({ message: 'Private host name (the whole of Immich, behind the email PIN):', default: 'photos.example.org', validate: validateWith(hostName) }));
  let shareHost = flags.shareHost;
  if (shareHost === undefined) {
    const typed = await input({
      message: 'Share host name (public share links only; empty for none):',
      default: `share.${privateHost.split('.').slice(1).join('.') || privateHost}`,
      validate: (v) => (v.trim() === '' ? true : v.trim().toLowerCase() === privateHost ? 'it must differ from the private host' : validateWith(hostName)(v)),
    });
    shareHost = typed.trim() === '' ? false : hostName(typed);
  }
  const allow = flags.allow ?? allowList(await input({ message: 'Who may sign in (addresses or *@domain, separated by commas):', validate: validateWith(allowList) }));
  const mode =
    flags.mode ??
    (await select({
      message: 'Where does Immich run?',
      choices: [
        { name: 'Next to this gateway (same machine or Docker network): direct', value: 'direct' as const },
        { name: 'At home, while this gateway runs on a VPS: tunnel (no router port opened)', value: 'tunnel' as const },
      ],
    }));
  const origin =
    flags.origin ??
    originUrl(
      await input({
        message: mode === 'tunnel' ? 'Immich as seen from the home connector:' : 'Immich as seen from this gateway:',
        default: 'http://immich-server:2283',
        validate: validateWith(originUrl),
      }),
    );
  let consoleMail = flags.consoleMail;
  let smtp = flags.smtp;
  if (!consoleMail && smtp === undefined) {
    const how = await select({
      message: 'How are sign-in codes mailed?',
      choices: [
        { name: 'Through an SMTP server', value: 'smtp' as const },
        { name: 'Printed to the log (a trial only, nobody gets mail)', value: 'console' as const },
      ],
    });
    if (how === 'console') consoleMail = true;
    else smtp = await input({ message: 'SMTP server as a URL (smtp://user@host:587 for STARTTLS, smtps://user@host:465 for TLS):', validate: validateWith(parseSmtpUrl) });
  }
  let passwordRef: PasswordRef | null | undefined;
  if (!consoleMail && smtp !== undefined && !flags.smtpPasswordEnv && !flags.smtpPasswordFile) {
    const parsed = parseSmtpUrl(smtp);
    if (parsed.password && !flags.inlineSecrets)
      throw new UsageError('the SMTP URL holds a password, which would be written into the file', 'leave it out; you will be asked where the password comes from');
    if ((flags.smtpUser ?? parsed.user) && !parsed.password) {
      const where = await select({
        message: 'Where does Porthole read the SMTP password from?',
        choices: [
          { name: 'An environment variable (SMTP_PASSWORD)', value: 'env' as const },
          { name: 'A file (a Docker or systemd secret)', value: 'file' as const },
          { name: 'Written into the config file (keep it private)', value: 'inline' as const },
        ],
      });
      if (where === 'env') passwordRef = { env: envName(await input({ message: 'Variable name:', default: 'SMTP_PASSWORD', validate: validateWith(envName) })) };
      else if (where === 'file')
        passwordRef = { file: await input({ message: 'Password file:', default: '/run/secrets/smtp_password', validate: (v) => (v.trim() ? true : 'give a path') }) };
      else passwordRef = { inline: await passwordPrompt({ message: 'SMTP password:', mask: '*', validate: (v) => (v ? true : 'the password is empty') }) };
    }
  }
  const base = buildAnswers({ ...flags, smtp, consoleMail }, privateHost, allow, passwordRef);
  const from = flags.from ?? (await input({ message: 'Sender of the sign-in mails:', default: base.from, validate: (v) => (v.trim().length >= 3 ? true : 'give an address') }));
  return { ...base, shareHost: shareHost || null, mode, origin, from };
}

/** The document `renderConfig` writes, as an object, so the schema can judge it before the file exists. */
function asDocument(a: InitAnswers): unknown {
  return YAML.parse(renderConfig(a));
}

export async function init(flags: InitFlags): Promise<void> {
  const file = flags.config;
  if (fs.existsSync(file) && !flags.force) throw new CliError(`${file} already exists; nothing was written`, 'add --force to replace it, or choose another file with --config');
  const interactive = flags.input && process.stdin.isTTY === true && process.stdout.isTTY === true;
  let answers: InitAnswers;
  try {
    answers = interactive ? await answersFromPrompts(flags) : answersFromFlags(flags);
  } catch (error) {
    if (error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError')) throw new CliError('init cancelled; nothing was written');
    throw error;
  }
  const text = renderConfig(answers);
  try {
    // The secret itself need not be set yet; everything else must already be what serve accepts.
    parseConfigDetailed(asDocument(answers), file, {}, { secrets: 'collect', baseDir: path.dirname(path.resolve(file)) });
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`these answers do not make a valid config: ${error.problems.join('; ')}`);
    throw error;
  }
  const inline = answers.mail.transport === 'smtp' && answers.mail.password !== null && 'inline' in answers.mail.password;
  try {
    fs.writeFileSync(file, text, { flag: flags.force ? 'w' : 'wx', mode: inline ? 0o600 : 0o644 });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'EEXIST') throw new CliError(`${file} already exists; nothing was written`, 'add --force to replace it');
    throw new CliError(`cannot write ${file}: ${e.code}`, e.code === 'ENOENT' ? 'the folder does not exist' : "check the folder's permissions");
  }
  process.stdout.write(`${interactive ? '\n' : ''}${nextSteps(answers, file)}`);
}

export function initCommand(): Command {
  return new Command('init')
    .description('write a commented porthole.yaml from answers (asks on a terminal; flags for scripts)')
    .option('-c, --config <file>', 'the file to write', 'porthole.yaml')
    .option('-f, --force', 'replace the file if it exists')
    .option('--no-input', 'never ask; every missing answer is an error (automatic when not on a terminal)')
    .option('--private-host <name>', 'host name for the whole of Immich behind the email PIN (required)', hostName)
    .option('--share-host <name>', 'host name for public share links only', hostName)
    .option('--no-share-host', 'no share host')
    .option('--allow <list>', 'who may sign in: addresses or *@domain, comma-separated, repeatable (required)', allowList)
    .addOption(new Option('--mode <mode>', 'where Immich runs: next to the gateway, or at home behind the tunnel').choices(['direct', 'tunnel']))
    .option('--origin <url>', 'Immich as seen from the gateway (direct) or the connector (tunnel)', originUrl)
    .option('--smtp <url>', 'mail server: smtp://user@host:587 (STARTTLS) or smtps://user@host:465 (TLS)')
    .option('--console-mail', 'print mails to the log instead of sending them (a trial only)')
    .option('--smtp-user <user>', 'SMTP user name (instead of putting it in the URL)')
    .option('--smtp-password-env <name>', 'read the SMTP password from this environment variable (default SMTP_PASSWORD)', envName)
    .option('--smtp-password-file <path>', 'read the SMTP password from this file')
    .option('--inline-secrets', 'allow a password from the SMTP URL or prompt to be written into the file')
    .option('--from <address>', 'sender of the sign-in mails, e.g. "Porthole <photos@example.org>"')
    .option('--http-port <port>', 'plain HTTP port (default 8080)', portNumber)
    .option('--https-port <port>', 'HTTPS port in tunnel mode (default 443)', portNumber)
    .option('--data-dir <path>', 'state folder, relative to the config file (default ./data)')
    .action((flags: InitFlags) => init(flags));
}
