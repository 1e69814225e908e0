// The `porthole` command line: parses arguments (commander) and hands off to one module per subcommand.
import { Command, InvalidArgumentError } from 'commander';
import fs from 'node:fs';
import { auditCommand } from './audit.js';
import { devicesCommand } from './devices.js';
import { sessionsCommand } from './sessions.js';
import { registerTunnel } from './tunnel.js';

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

export function buildProgram(): Command {
  const program = new Command('porthole')
    .description('A gateway for Immich: email-PIN gate on the private host, locked-down share host, tunnel from home.')
    .version(version, '-v, --version')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(`porthole: ${text.replace(/^error: /, '')}`) });

  program
    .command('serve')
    .description('run the gateway')
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .action(async (options: { config: string }) => (await import('./serve.js')).serve(options.config));

  program
    .command('doctor')
    .description('diagnose the common failures: origin unreachable, mail not sent, data dir not writable')
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .action(async (options: { config: string }) => (await import('./doctor.js')).doctor(options.config));

  program
    .command('demo')
    .description('run the gateway in front of the built-in sample photo server (not for production)')
    .option('-p, --port <port>', 'port for both demo hosts', portNumber, 8080)
    .option('--tunnel', 'reach the sample server through a home connector started as a second process')
    .option('--https', 'serve both hosts over HTTPS (self-signed certificate); plain HTTP on --port redirects')
    .option('--https-port <port>', 'HTTPS port with --https', portNumber, 8443)
    .action(async (options: { port: number; tunnel?: boolean; https?: boolean; httpsPort: number }) => (await import('./demo.js')).demo(options));

  program.addCommand(sessionsCommand());
  program.addCommand(auditCommand());
  registerTunnel(program);
  program.addCommand(devicesCommand());

  return program;
}

await buildProgram().parseAsync(process.argv);
