// Open upgraded connections on the private host (WebSockets: Immich's /api/socket.io) and the credential that
// let each one in. An upgrade outlives the request the gate checked, and socket.io's pings keep it from idling,
// so revocation has to reach it here: when the store announces sessions or devices revoked (by this process, or
// by the command line in another one) or gate.allow is replaced by a reload, every open connection is checked
// again and those whose credential ended are closed, both legs at once. Nothing is polled and nothing is queried
// per socket unless such a change arrived; the module listens only while a connection is open.
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

export interface LiveConnectionsDeps {
  store: Store;
  allowlist: Allowlist;
  logger: Logger;
}

export function createLiveConnections(deps: LiveConnectionsDeps): LiveConnections {
  const { store, allowlist, logger } = deps;
  const open = new Map<Duplex, LiveCredential>();
  let stopListening: (() => void) | undefined;

  const stillValid = (credential: LiveCredential): boolean => {
    if (!allowlist.allows(credential.email)) return false;
    if (credential.kind === 'session') return store.sessions.findByTokenHash(credential.tokenHash) !== undefined;
    const device = store.devices.findByTokenHash(credential.tokenHash);
    return device !== undefined && device.revokedAt === null;
  };

  const stop = () => {
    stopListening?.();
    stopListening = undefined;
  };

  /** Checks the open connections whose kind of credential changed (`undefined`: the allowlist, so all of them). */
  function check(kind: LiveCredential['kind'] | undefined): void {
    try {
      const ended: LiveCredential[] = [];
      for (const [socket, credential] of open) {
        if ((kind !== undefined && credential.kind !== kind) || stillValid(credential)) continue;
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
    if (open.size === 0) stop();
  }

  function listen(): () => void {
    const stopStore = store.changes.subscribe((change) => {
      if (change.kind === 'session' || change.kind === 'device') check(change.kind);
    });
    const stopAllowlist = allowlist.subscribe(() => check(undefined));
    return () => (stopStore(), stopAllowlist());
  }

  return {
    track(socket, credential) {
      if (socket.destroyed) return;
      open.set(socket, credential);
      stopListening ??= listen();
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
