// Structured logging (pino). One logger per process; modules take a child with their own name.
// On a terminal the lines are rendered by pino-pretty (pino's own formatter) so a person can read them; on a
// pipe or file they stay one JSON object per line for log collectors. `log.format` overrides the guess.
import { createRequire } from 'node:module';
import { LRUCache } from 'lru-cache';
import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger };

export type LogFormat = 'auto' | 'pretty' | 'json';

/** Whether `format` means human-readable lines for an output that is (or is not) a terminal. */
function wantsPretty(format: LogFormat, isTerminal: boolean): boolean {
  return format === 'pretty' || (format === 'auto' && isTerminal);
}

export function createLogger(level: string, destination?: NodeJS.WritableStream, format: LogFormat = 'json'): Logger {
  const options = { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  const out = destination ?? process.stdout;
  if (!wantsPretty(format, (out as { isTTY?: boolean }).isTTY === true)) return pino(options, destination as never);
  // Required here, not imported above: JSON-logging processes (containers, services) skip its ~10 MiB.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  const stream = pretty({
    colorize: (out as { isTTY?: boolean }).isTTY === true,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss',
    ignore: 'pid,hostname',
    singleLine: true,
    // Synchronous, like pino's default destination: lines written just before process.exit are not lost.
    sync: true,
    destination: destination ?? 1,
  });
  return pino(options, stream);
}

/** The logger `porthole serve` uses: format from the config, stdout as the output. */
export function createProcessLogger(config: { level: string; format?: LogFormat }): Logger {
  return createLogger(config.level, undefined, config.format ?? 'auto');
}

/**
 * Lets through at most one line per key per interval and counts what it held back, so a flood of refusals
 * (an attack, a misbehaving client) costs the log one line a minute per kind instead of one per request.
 */
export function createLogThrottle(intervalMs = 60_000, maxKeys = 1_000, now: () => number = Date.now) {
  const seen = new LRUCache<string, { at: number; suppressed: number }>({ max: maxKeys });
  return {
    /** Calls `emit` with how many were held back since the last line, or does nothing while throttled. */
    pass(key: string, emit: (suppressed: number) => void): void {
      const at = now();
      const last = seen.get(key);
      if (last && at - last.at < intervalMs && at >= last.at) {
        last.suppressed++;
        return;
      }
      seen.set(key, { at, suppressed: 0 });
      emit(last?.suppressed ?? 0);
    },
  };
}

/** A logger that drops everything: tests that do not inspect logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
