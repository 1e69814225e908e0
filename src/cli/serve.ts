// `porthole serve`: load and validate the config, then run the gateway until SIGINT/SIGTERM.
import { ConfigError, loadConfigFile, type ResolvedConfig } from '../config/load.js';
import { startGateway, type Gateway } from '../gateway.js';
import { createLogger, type Logger } from '../log.js';
import { createConsoleMailer } from '../mail/console.js';
import type { Mailer } from '../mail/mailer.js';
import { createSmtpMailer } from '../mail/smtp.js';

export function mailerFor(config: ResolvedConfig, logger: Logger): Mailer {
  return config.mail.transport === 'console' ? createConsoleMailer() : createSmtpMailer(config.mail, logger);
}

/** Loads the config or exits non-zero with every problem listed, before any port is opened. */
export function loadConfigOrExit(file: string): ResolvedConfig {
  try {
    return loadConfigFile(file);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
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

export function stopOnSignals(gateway: Gateway, logger: Logger): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'shutting down');
    gateway.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

export async function serve(configFile: string): Promise<void> {
  const config = loadConfigOrExit(configFile);
  const logger = createLogger(config.log.level);
  try {
    const gateway = await startGateway(config, mailerFor(config, logger), logger);
    stopOnSignals(gateway, logger);
    reloadOnHangup(gateway, configFile, logger);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? ' (another program already listens on that port)' : e.code === 'EACCES' ? ' (ports below 1024 need privileges)' : '';
    process.stderr.write(`porthole: cannot start: ${e.message}${hint}\n`);
    process.exit(1);
  }
}
