// The `porthole` command line: parses arguments (commander) and hands off to one module per subcommand.
// Every failure leaves through run() below, which turns it into one line and a documented exit code
// (src/cli/errors.ts); stack traces only with --debug or for a real bug.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import fs from 'node:fs';
import { commanderExitCode, describeFailure, formatCommanderMessage, UsageError } from './errors.js';
import { suggestKey } from '../config/config-error.js';

/** Our package.json, found upwards from this file (the sources and the compiled build sit at different depths). */
function ownVersion(): string {
  let dir = new URL('.', import.meta.url);
  for (let depth = 0; depth < 5; depth++, dir = new URL('..', dir)) {
    const file = new URL('package.json', dir);
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}
const version = ownVersion();

function portNumber(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return Number(value);
}

const CONFIG_HELP = 'path to porthole.yaml (required; create one with `porthole init`)';

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** A group such as `porthole tunnel` run without (or with an unknown) subcommand: one line, not the help. */
function requireSubcommand(group: Command): void {
  if (group.commands.length === 0) return;
  group.argument('[command]').action((typed: string | undefined) => {
    const names = group.commands.map((c) => c.name());
    if (typed === undefined) throw new UsageError(`missing command: ${commandPath(group)} <${names.join('|')}>`, `see \`${commandPath(group)} --help\``);
    const suggestion = suggestKey(typed, names);
    throw new UsageError(`unknown command "${typed}"`, suggestion ? `did you mean \`${commandPath(group)} ${suggestion}\`?` : `see \`${commandPath(group)} --help\``);
  });
}

/** Same error output and exit behaviour on every command, however it was attached. */
function applyEverywhere(command: Command): void {
  const path = commandPath(command);
  command.exitOverride().configureOutput({ outputError: (text, write) => write(formatCommanderMessage(text, path)) });
  for (const option of command.options) {
    if (option.long === '--config' && option.mandatory) option.description = CONFIG_HELP;
  }
  for (const child of command.commands) applyEverywhere(child);
  requireSubcommand(command);
}

type Attach = (program: Command) => void;

function serveCommands(program: Command): void {
  program
    .command('serve')
    .description('run the gateway')
    .requiredOption('-c, --config <file>', CONFIG_HELP)
    .action(async (options: { config: string }) => (await import('./serve.js')).serve(options.config));

  program
    .command('doctor')
    .description('check the set-up: config, secrets, DNS, ports, certificate, Immich, mail, tunnel (creates nothing)')
    .requiredOption('-c, --config <file>', CONFIG_HELP)
    .option('--json', 'print the results as JSON')
    .option('--send-test <address>', 'also send a real test mail to this address')
    .action(async (options: { config: string; json?: boolean; sendTest?: string }) => (await import('./doctor.js')).doctor(options));

  program
    .command('demo')
    .description('run the gateway in front of the built-in sample photo server (not for production)')
    .option('-p, --port <port>', 'port for both demo hosts', portNumber, 8080)
    .option('--tunnel', 'reach the sample server through a home connector started as a second process')
    .option('--https', 'serve both hosts over HTTPS (self-signed certificate); plain HTTP on --port redirects')
    .option('--https-port <port>', 'HTTPS port with --https', portNumber, 8443)
    .action(async (options: { port: number; tunnel?: boolean; https?: boolean; httpsPort: number }) => (await import('./demo.js')).demo(options));
}

const adding =
  (make: () => Command): Attach =>
  (program) =>
    program.addCommand(make());

/**
 * The top-level commands in help order, with the module that defines each. A command that runs loads its own
 * module and no other's: `porthole connect` runs for months on a small box next to Immich, and the other
 * commands' modules (the gate, the config schema, the logger, WebAuthn) would make up some 35 MiB of what it
 * holds in memory.
 */
const COMMANDS: Array<[names: string[], load: () => Promise<Attach>]> = [
  [['init'], async () => adding((await import('./init.js')).initCommand)],
  [['serve', 'doctor', 'demo'], async () => serveCommands],
  [['sessions'], async () => adding((await import('./sessions.js')).sessionsCommand)],
  [['audit'], async () => adding((await import('./audit.js')).auditCommand)],
  // tunnel.js is light by itself: its gateway-side commands load what they need when they run.
  [['connect', 'tunnel'], async () => (await import('./tunnel.js')).registerTunnel],
  [['devices'], async () => adding((await import('./devices.js')).devicesCommand)],
  [['passkeys'], async () => adding((await import('./passkeys.js')).passkeysCommand)],
  [['links'], async () => adding((await import('./links.js')).linksCommand)],
  [['store'], async () => adding((await import('./store.js')).storeCommand)],
];

/** The program with every command, or with only the one `argv` names (the first word that is not an option). */
export async function buildProgram(argv?: string[]): Promise<Command> {
  const program = new Command('porthole')
    .description('A gateway for Immich: email-PIN gate on the private host, locked-down share host, tunnel from home.')
    .version(version, '-v, --version')
    .option('--debug', 'show stack traces for errors');

  // Top-level options take no values, so the first other word is the command; help, `help <command>` and
  // unknown words (which get a "did you mean") load them all.
  const named = argv?.slice(2).find((a) => !a.startsWith('-'));
  const only = COMMANDS.find(([names]) => named !== undefined && names.includes(named));
  const attachers = await Promise.all((only ? [only] : COMMANDS).map(([, load]) => load()));
  for (const attach of attachers) attach(program);

  applyEverywhere(program);
  return program;
}

/** Parses and runs; returns the exit code instead of exiting, so long-running commands keep the process alive. */
export async function run(argv: string[]): Promise<number | undefined> {
  const program = await buildProgram(argv);
  let active: Command = program;
  program.hook('preAction', (_program, actionCommand) => {
    active = actionCommand;
  });
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv);
    return undefined;
  } catch (error) {
    if (error instanceof CommanderError && !(error instanceof InvalidArgumentError)) return commanderExitCode(error);
    const failure = describeFailure(error, commandPath(active));
    if (failure) {
      process.stderr.write(failure.line);
      if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
      return failure.exitCode;
    }
    process.stderr.write(`porthole: internal error: ${(error as Error)?.message ?? String(error)} (please report it, with the lines below)\n`);
    process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
    return 1;
  }
}

const code = await run(process.argv);
if (code !== undefined) {
  process.exitCode = code;
}
