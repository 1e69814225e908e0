// Keeps an eye on Immich while the gateway runs: a warning at start, and once a minute after, while Immich
// cannot be reached (the usual cause of 502s: a stopped container, a wrong network, a connector at home that
// is down), and one line when it answers again. Asks through the gateway's own origin, so tunnel mode is
// covered too.
import type { Logger } from '../log.js';
import { toOriginError } from '../origin/errors.js';
import type { Origin } from '../origin/origin.js';
import { originRequest } from '../origin/request.js';

export const ORIGIN_CHECK_INTERVAL_MS = 60_000;
const PROBE_TIMEOUT_MS = 10_000;

/** null when Immich answered its ping, otherwise why not. */
export function probeOrigin(origin: Origin): Promise<string | null> {
  const unavailable = origin.unavailable();
  if (unavailable) return Promise.resolve(unavailable.kind === 'tunnel-offline' ? 'no home connector is attached to the tunnel' : unavailable.kind);
  const why = (error: unknown) => {
    const e = toOriginError(error);
    return e.systemCode ?? e.code;
  };
  return originRequest(origin, { path: '/api/server/ping', headers: { accept: 'application/json' }, timeoutMs: PROBE_TIMEOUT_MS }).then(
    (answer) =>
      new Promise<string | null>((resolve) => {
        answer.body.resume();
        answer.body.on('end', () => resolve(answer.status === 200 ? null : `/api/server/ping answered ${answer.status}`));
        answer.body.on('error', (error) => resolve(why(error)));
      }),
    why,
  );
}

export interface OriginWatch {
  stop(): void;
  /** Resolves after the next check has been logged (tests wait on this instead of sleeping). */
  checked(): Promise<boolean>;
}

export function watchOrigin(origin: Origin, logger: Logger, intervalMs = ORIGIN_CHECK_INTERVAL_MS): OriginWatch {
  let down: { since: number } | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const waiters: Array<(up: boolean) => void> = [];

  async function check(): Promise<void> {
    const problem = await probeOrigin(origin);
    if (stopped) return;
    if (problem) {
      down ??= { since: Date.now() };
      logger.warn(
        { origin: origin.describe(), problem, downSince: new Date(down.since).toISOString() },
        `Immich cannot be reached (${problem}); visitors get an error page until it answers`,
      );
    } else if (down) {
      logger.info({ origin: origin.describe(), downForSeconds: Math.round((Date.now() - down.since) / 1000) }, 'Immich answers again');
      down = null;
    }
    for (const resolve of waiters.splice(0)) resolve(problem === null);
    // Not unref'd: stop() clears it when the gateway shuts down.
    timer = setTimeout(() => void check(), intervalMs);
  }

  void check();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    checked: () => new Promise((resolve) => waiters.push(resolve)),
  };
}
