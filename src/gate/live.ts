// Open upgraded connections on the private host (WebSockets: Immich's /api/socket.io) and the credential that
// let each one in. An upgrade outlives the request the gate checked, and socket.io's pings keep it from idling,
// so revocation has to reach it here: when the gate's change signal moves (a session or device revoked by this
// process or by the command line in another one, gate.allow replaced by a reload), every open connection is
// checked again and those whose credential ended are closed, both legs at once.
//
// The signal is one cheap read for all connections together: the store's revision counters (which ask SQLite's
// data_version at most every few hundred ms) and the allowlist's version, sampled by one timer that only runs
// while a connection is open. Nothing is queried per socket unless the signal moved.
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { Allowlist } from './email.js';

/** What let an upgraded connection in: a browser session or a device token, by the hash the store keys it by. */
interface LiveCredential {
  kind: 'session' | 'device';
  /** Session or device id, for the log. */
  id: string;
  tokenHash: string;
  email: string;
}

export interface LiveConnections {
  /** Remembers `socket` until it closes; it is destroyed as soon as `credential` no longer holds. */
  track(socket: Duplex, credential: LiveCredential): void;
  /** Open connections being watched. */
  readonly size: number;
  /** Stops watching and closes every open connection (the gateway is shutting down). */
  close(): void;
}

/**
 * How often the change signal is sampled while connections are open. With the store's data_version poll this
 * bounds the time from a revocation (in any process) to the closed socket at about half a second.
 */
const LIVE_CHECK_INTERVAL_MS = 250;

export interface LiveConnectionsDeps {
  store: Store;
  allowlist: Allowlist;
  logger: Logger;
  intervalMs?: number;
}

export function createLiveConnections(deps: LiveConnectionsDeps): LiveConnections {
  const { store, allowlist, logger } = deps;
  const open = new Map<Duplex, LiveCredential>();
  let timer: NodeJS.Timeout | undefined;
  let seen = '';

  const signal = () => `${store.sessions.revision()}:${store.devices.revision()}:${allowlist.version}`;

  const stillValid = (credential: LiveCredential): boolean => {
    if (!allowlist.allows(credential.email)) return false;
    if (credential.kind === 'session') return store.sessions.findByTokenHash(credential.tokenHash) !== undefined;
    const device = store.devices.findByTokenHash(credential.tokenHash);
    return device !== undefined && device.revokedAt === null;
  };

  const stop = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };

  function check(): void {
    let current: string;
    try {
      current = signal();
      if (current === seen) return;
      seen = current;
      const ended: LiveCredential[] = [];
      for (const [socket, credential] of open) {
        if (stillValid(credential)) continue;
        ended.push(credential);
        open.delete(socket);
        socket.destroy();
      }
      if (ended.length) {
        logger.info({ closed: ended.map(({ kind, id, email }) => ({ kind, id, email })) }, 'closed open connections whose sign-in was revoked or is no longer allowed');
      }
    } catch (error) {
      // The store closed under us (shutdown): nothing left to watch.
      logger.error({ err: error }, 'checking open connections failed');
      stop();
    }
  }

  return {
    track(socket, credential) {
      if (socket.destroyed) return;
      if (open.size === 0) {
        seen = signal();
        timer = setInterval(check, deps.intervalMs ?? LIVE_CHECK_INTERVAL_MS);
        timer.unref();
      }
      open.set(socket, credential);
      socket.once('close', () => {
        open.delete(socket);
        if (open.size === 0) stop();
      });
    },
    get size() {
      return open.size;
    },
    close() {
      stop();
      for (const socket of open.keys()) socket.destroy();
      open.clear();
    },
  };
}
