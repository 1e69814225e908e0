// How the command line fails: every expected failure is one line, `porthole: <what is wrong> (<what to do>)`,
// and a documented exit code. Stack traces appear only with --debug, or for a real bug (an error nobody
// expected), where they help the report.
//
// Exit codes: 0 success; 1 something failed (a doctor check, a port taken, a gateway that cannot be reached,
// a file that cannot be written); 2 bad usage (missing or bad argument, unknown command) or a bad config
// file; 3 a credential was refused: the gateway refused the tunnel token (`porthole connect`), or Immich the API
// key (`porthole links audit`).
import { CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError } from '../config/config-error.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, tokenRefused: 3, credentialRefused: 3 } as const;

/** An expected failure with what to do about it; printed as one line. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Bad or missing arguments (exit 2). */
export class UsageError extends CliError {
  constructor(message: string, hint?: string) {
    super(message, hint, EXIT.usage);
    this.name = 'UsageError';
  }
}

/** Commander writes "error: x\n(Did you mean y?)": one line, with our prefix and a pointer to the help. */
export function formatCommanderMessage(text: string, commandPath: string): string {
  const body = text
    .replace(/^error: /, '')
    .trim()
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\(Did you mean (.+?)\?\)/, '(did you mean $1?)')
    // "option '-p, --port <port>' argument 'x' is invalid. expected ..." reads better as "--port x: expected ...".
    .replace(/^option '(?:-\w, )?(--[\w-]+)[^']*' argument '(.*)' is invalid\. /s, (_, flag: string, value: string) => `${flag} ${value}: `)
    .replace(/^command-argument value '(.*)' is invalid for argument '(.+?)'\. /s, (_, value: string, name: string) => `${name} ${value}: `);
  const hint = /did you mean/.test(body) ? '' : ` (see \`${commandPath} --help\`)`;
  return `porthole: ${body}${hint}\n`;
}

/** Operating-system errors that mean "the environment is not as expected", not "Porthole has a bug". */
const SYSTEM_HINTS: Record<string, string> = {
  ENOENT: 'check the path',
  EACCES: 'check the file permissions and the user porthole runs as',
  EPERM: 'check the file permissions and the user porthole runs as',
  EISDIR: 'give a file, not a folder',
  EADDRINUSE: 'another program already listens on that port; stop it or change the port',
  ECONNREFUSED: 'nothing listens there; check the address and that the other side runs',
  ENOTFOUND: 'the name does not resolve; check the spelling and DNS',
  ETIMEDOUT: 'no answer; check the address and any firewall',
};

function isSystemError(error: unknown): error is NodeJS.ErrnoException & { code: string } {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && /^E[A-Z]+$/.test((error as NodeJS.ErrnoException).code!);
}

/** One line for an expected failure, or null when the error is a bug (the caller then shows the stack). */
export function describeFailure(error: unknown, commandPath: string): { line: string; exitCode: number } | null {
  if (error instanceof ConfigError) {
    return {
      line:
        error.message
          .split('\n')
          .map((l) => `porthole: ${l}`)
          .join('\n') + '\n',
      exitCode: EXIT.usage,
    };
  }
  if (error instanceof CliError) {
    return { line: `porthole: ${error.message}${error.hint ? ` (${error.hint})` : ''}\n`, exitCode: error.exitCode };
  }
  if (error instanceof InvalidArgumentError) {
    return { line: `porthole: ${error.message} (see \`${commandPath} --help\`)\n`, exitCode: EXIT.usage };
  }
  if (isSystemError(error)) {
    const hint = SYSTEM_HINTS[error.code];
    return { line: `porthole: ${error.message}${hint ? ` (${hint})` : ''}\n`, exitCode: EXIT.failure };
  }
  return null;
}

/** The exit code for an error commander has already printed. */
export function commanderExitCode(error: CommanderError): number {
  if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
  if (error.code === 'commander.help') return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  // command.error(message) from our own actions carries the code it was given; parse errors are usage errors.
  if (error.code === 'commander.error') return error.exitCode;
  return EXIT.usage;
}
