// Structured logging (pino). One logger per process; modules take a child with their own name.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination as never);
}

/** A logger that drops everything: tests that do not inspect logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
