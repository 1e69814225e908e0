// `porthole serve`: load and validate the config, then run the gateway until SIGINT/SIGTERM.
import { ConfigError, loadConfigFile, loadConfigFileDetailed, type ResolvedConfig } from '../config/load.js';
import { startGateway, type Gateway } from '../gateway.js';
import { createProcessLogger, type Logger } from '../log.js';
import { createConsoleMailer } from '../mail/console.js';
import type { Mailer } from '../mail/mailer.js';
import { createSmtpMailer } from '../mail/smtp.js';
import { CliError } from './errors.js';
import { watchOrigin } from './origin-watch.js';

export function mailerFor(config: ResolvedConfig, logger: Logger): Mailer {
  return config.mail.transport === 'console' ? createConsoleMailer() : createSmtpMailer(config.mail, logger);
}

/**
 * Loads the config; a bad one throws ConfigError, which the command line prints as one line per problem
 * (exit 2) before any port is opened.
 */
export function loadConfigOrExit(file: string, options: { needSecrets?: boolean } = {}): ResolvedConfig {
  // Commands that only read the data dir (sessions, devices, audit, tunnel tokens) work without the SMTP secret.
  return options.needSecrets ? loadConfigFile(file) : loadConfigFileDetailed(file, process.env, 'collect').config;
}

/** SIGHUP: read the config file again; apply what can change live, keep running on any error. */
export function reloadOnHangup(gateway: Gateway, configFile: string, logger: Logger): void {
  process.on('SIGHUP', () => {
    try {
      const plan = gateway.reload(loadConfigFile(configFile));
      if (plan.needRestart.length > 0) logger.warn({ keys: plan.needRestart }, 'these changes take effect after a restart');
    } catch (error) {
      // A broken file must not take down a running gateway: say what is wrong and keep the running config.
      logger.error({ err: error instanceof ConfigError ? error.message : error }, 'config reload failed; nothing changed');
    }
  });
}

export function stopOnSignals(gateway: Gateway, logger: Logger): (signal: string) => void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'shutting down');
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return stop;
}

const START_HINTS: Record<string, string> = {
  EADDRINUSE: 'another program (or another Porthole) already listens on that port; stop it or change listen.httpPort / listen.httpsPort',
  EACCES: 'ports below 1024 need privileges: use a higher port, or give node CAP_NET_BIND_SERVICE',
  EADDRNOTAVAIL: 'listen.address is not an address of this machine',
};

export async function serve(configFile: string): Promise<void> {
  const config = loadConfigOrExit(configFile, { needSecrets: true });
  const logger = createProcessLogger(config.log);
  // A stop asked for while the gateway is still starting (it logs "listening" before this function resumes)
  // is remembered and carried out once it has started, instead of killing the process half-way.
  let stopWhileStarting: string | null = null;
  const remember = (signal: string) => (stopWhileStarting = signal);
  process.on('SIGINT', remember);
  process.on('SIGTERM', remember);
  // SIGHUP's default is to end the process: one sent while starting (e.g. right after "listening") is held
  // and applied once the reload handler is in place.
  let hangupWhileStarting = false;
  const holdHangup = () => (hangupWhileStarting = true);
  process.on('SIGHUP', holdHangup);
  let gateway: Gateway;
  try {
    gateway = await startGateway(config, mailerFor(config, logger), logger);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new CliError(`cannot start: ${e.message}`, START_HINTS[e.code ?? ''] ?? (e.code ? undefined : 'run with --debug for details'));
  }
  const watch = watchOrigin(gateway.deps.origin, logger.child({ part: 'origin' }));
  const close = gateway.close.bind(gateway);
  const stop = stopOnSignals(
    {
      ...gateway,
      close: async () => {
        watch.stop();
        await close();
      },
    },
    logger,
  );
  process.off('SIGINT', remember);
  process.off('SIGTERM', remember);
  reloadOnHangup(gateway, configFile, logger);
  process.off('SIGHUP', holdHangup);
  if (stopWhileStarting) stop(stopWhileStarting);
  else if (hangupWhileStarting) process.emit('SIGHUP', 'SIGHUP');
}
