// Gateway side of the tunnel: takes TLS sockets that negotiated the tunnel ALPN, runs HTTP/2 over them as
// the client (roles reversed: the connector dialled us), authenticates the connector by token, and offers
// the attached connectors as one Origin. Revoked tokens are announced by the store's change feed (also when
// revoked by the command line or, later, another gateway) and their connectors dropped.
// Unauthenticated sockets are what anyone can open, so they are bounded per address, given a short deadline,
// and never allowed to keep a connector with a valid token out: a full table makes room (the oldest socket of
// the address holding the most goes), it does not turn the newcomer away. Their refusals are logged as
// summaries (listener/refusal-log.ts), never one line per socket.
// A store shared by several gateways (Redis) may be unavailable: its copy of the tokens may then have missed a
// revocation (or a token made on another gateway), so no new connector is authenticated on it. The connector
// is told to try again later (GOAWAY_TRY_LATER, not the "token refused" that would stop it for good) and redials
// with its backoff until the store is back. Connectors attached before keep serving: every request through
// them still passes the gate, which refuses while the store is unavailable, and when the store is back every
// token is checked again (the change feed announces every kind after a reload) and revoked ones are dropped.
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import crypto from 'node:crypto';
import type tls from 'node:tls';
import { connectionBucket } from '../listener/connections.js';
import { RefusalSummary } from '../listener/refusal-log.js';
import type { Origin, OriginUnavailable } from '../origin/origin.js';
import { DEFAULT_KEEPALIVE, startKeepalive, type KeepaliveOptions } from './keepalive.js';
import { TunnelDownError } from '../origin/errors.js';
import { OriginPool } from '../origin/pool.js';
import { closeOriginSocket, openOriginSocket, openStream, type StreamOpener } from './origin-agent.js';
import {
  ABORT_PATH,
  FEATURE_ABORT,
  GOAWAY_TRY_LATER,
  GOAWAY_UNAUTHORIZED,
  H2_SETTINGS,
  HEADER_CONNECTOR_ID,
  HEADER_FEATURES,
  HEADER_NAME,
  HEADER_STREAM_ID,
  HEADER_TOKEN,
  HELLO_PATH,
  MAX_NAME_LENGTH,
  MAX_SESSION_MEMORY_MB,
  SESSION_WINDOW,
  WELCOME_PATH,
} from './protocol.js';
import { receiveWindows, type ReceiveWindows } from './receive-windows.js';
import { writeStatusFile, type ConnectorStatus, type TunnelStatus } from './status.js';
import type { TokenVerifier } from './token-store.js';
import type { ChangeFeed, TunnelPresenceStore } from '../store/store.js';

/** pino-compatible subset. */
export interface TunnelLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** AuditLog-compatible subset (src/store/store.ts). */
export interface TunnelAudit {
  record(event: { type: 'tunnel.connected' | 'tunnel.disconnected' | 'tunnel.refused'; ip?: string | null; detail?: string | null }): void;
}

export interface TunnelHubOptions {
  verifier: TokenVerifier;
  /** Where requests are addressed (the origin URL as Immich knows itself); only Host/logs use it. */
  target: Origin['target'];
  logger?: TunnelLogger;
  audit?: TunnelAudit;
  /** Snapshot for `porthole tunnel status`; refreshed on every change and every statusIntervalMs. */
  statusFile?: string;
  statusIntervalMs?: number;
  /**
   * Shares this gateway's status with the other gateways of one store, renewed with the status file and kept for
   * ttlMs (default 10 s or three intervals): `porthole tunnel status` on any of them shows every connector.
   * The id is asked for at each renewal (it is known once the port is bound).
   */
  presence?: { store: TunnelPresenceStore; gatewayId: () => string | null; ttlMs?: number };
  /** Says when tunnel tokens were revoked (anywhere): attached connectors are then checked again. */
  changes?: ChangeFeed;
  /** Non-null while the store's tokens cannot be trusted (a shared store that lost its server): see above. */
  storeUnavailable?: () => object | null;
  /** Authentication deadline: from the TLS handshake's end to a verified token (a connector needs one round trip). */
  helloTimeoutMs?: number;
  keepalive?: KeepaliveOptions;
  /** Sockets still authenticating, in all; when full the oldest of the address holding the most is closed. */
  maxPending?: number;
  /** Sockets still authenticating per IPv4 address or IPv6 /64; more from that address are refused. */
  maxPendingPerAddress?: number;
  /** Attached connectors per token; one more replaces that token's oldest (likely a link that died silently). */
  maxConnectorsPerToken?: number;
  /** How often refusals of unauthenticated sockets are summarised in the log. */
  refusalLogIntervalMs?: number;
}

interface LiveConnector {
  id: string;
  tokenId: string;
  name: string;
  since: Date;
  remoteAddress: string;
  session: http2.ClientHttp2Session;
  socket: tls.TLSSocket;
  openStreams: number;
  streamsTotal: number;
  /** Resets an origin stream when asked to (FEATURE_ABORT), so this side need not. */
  resetsOnRequest: boolean;
  /** How wide the windows of its origin streams are (narrower the more are busy). */
  windows: ReceiveWindows;
}

export interface TunnelHub extends EventEmitter {
  handleSecureSocket(socket: tls.TLSSocket): void;
  readonly origin: Origin;
  status(): TunnelStatus;
  /** Drops every connector attached with this token (the CLI's revoke reaches a running gateway by polling). */
  dropToken(tokenId: string, reason: string): number;
  close(): Promise<void>;
}

const silentLogger: TunnelLogger = { info() {}, warn() {} };

export function createTunnelHub(options: TunnelHubOptions): TunnelHub {
  const logger = options.logger ?? silentLogger;
  const keepalive = options.keepalive ?? DEFAULT_KEEPALIVE;
  const maxPending = options.maxPending ?? 256;
  const maxPendingPerAddress = options.maxPendingPerAddress ?? 4;
  const maxConnectorsPerToken = options.maxConnectorsPerToken ?? 8;
  const connectors = new Map<string, LiveConnector>();
  const sessions = new Set<http2.ClientHttp2Session>();
  /** Unauthenticated sockets by address bucket, oldest first within each. */
  const pendingByBucket = new Map<string, Set<tls.TLSSocket>>();
  let pendingTotal = 0;
  const refusals = new RefusalSummary(logger, 'tunnel: refused or dropped unauthenticated connections', options.refusalLogIntervalMs ?? 60_000);
  let offlineSince: Date | null = null;
  let roundRobin = 0;
  let closed = false;
  const hub = new EventEmitter() as TunnelHub;

  function pick(): LiveConnector | null {
    let best: LiveConnector | null = null;
    const list = [...connectors.values()];
    for (let i = 0; i < list.length; i++) {
      const c = list[(i + roundRobin) % list.length]!;
      if (c.session.destroyed || c.session.closed) continue;
      if (!best || c.openStreams < best.openStreams) best = c;
    }
    roundRobin++;
    return best;
  }

  const connectorOf = new WeakMap<http2.ClientHttp2Stream, LiveConnector>();
  const opener: StreamOpener = {
    openOriginStream() {
      const c = pick();
      if (!c) return new TunnelDownError('the home connector is offline', offlineSince, 'ETUNNELOFFLINE');
      let s: http2.ClientHttp2Stream;
      try {
        s = openStream(c.session);
      } catch (err) {
        return err as Error;
      }
      c.openStreams++;
      c.streamsTotal++;
      c.windows.track(s);
      connectorOf.set(s, c);
      s.once('close', () => c.openStreams--);
      return s;
    },
    askToReset(stream) {
      const c = connectorOf.get(stream);
      if (!c?.resetsOnRequest || c.session.destroyed || c.session.closed || stream.id === undefined) return false;
      try {
        const ask = c.session.request({ ':method': 'POST', ':path': ABORT_PATH, [HEADER_STREAM_ID]: String(stream.id) }, { endStream: true });
        ask.on('error', () => {});
        ask.resume();
        return true;
      } catch {
        return false;
      }
    },
  };
  // Every request to Immich, whoever sends it, goes through this pool of streams.
  const pool = new OriginPool({
    kind: 'stream',
    open: () => openOriginSocket(opener),
    close: (socket, how) => closeOriginSocket(opener, socket, how),
    idle: (socket, idle) => {
      const stream = socket as http2.ClientHttp2Stream;
      connectorOf.get(stream)?.windows.setIdle(stream, idle);
    },
  });

  const origin: Origin = {
    pool,
    target: options.target,
    describe: () => `tunnel (${connectors.size} connector${connectors.size === 1 ? '' : 's'})`,
    unavailable(): OriginUnavailable | null {
      return connectors.size > 0 ? null : { kind: 'tunnel-offline', since: offlineSince };
    },
    close: () => hub.close(),
  };

  function status(): TunnelStatus {
    const list: ConnectorStatus[] = [...connectors.values()].map((c) => ({
      id: c.id,
      tokenId: c.tokenId,
      name: c.name,
      since: c.since.toISOString(),
      remoteAddress: c.remoteAddress,
      openStreams: c.openStreams,
      busyStreams: c.windows.busy,
      streamWindow: c.windows.announced,
      streamsTotal: c.streamsTotal,
      bytesIn: c.socket.bytesRead,
      bytesOut: c.socket.bytesWritten,
    }));
    return {
      writtenAt: new Date().toISOString(),
      pid: process.pid,
      offlineSince: offlineSince?.toISOString() ?? null,
      connectors: list,
      unauthenticated: pendingTotal,
    };
  }

  const statusIntervalMs = options.statusIntervalMs ?? 2000;
  const presenceTtlMs = options.presence?.ttlMs ?? Math.max(10_000, 3 * statusIntervalMs);
  let presenceFailing = false;
  function saveStatus(): void {
    if (closed) return;
    const snapshot = status();
    if (options.statusFile) {
      try {
        writeStatusFile(options.statusFile, snapshot);
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'tunnel: cannot write status file');
      }
    }
    const gatewayId = options.presence?.gatewayId();
    if (!options.presence || !gatewayId) return;
    try {
      options.presence.store.upsert(gatewayId, JSON.stringify({ ...snapshot, gateway: gatewayId }), Date.now() + presenceTtlMs);
      presenceFailing = false;
    } catch (err) {
      // Once per failure streak: the store may be locked or away for a while, and this runs every interval.
      if (!presenceFailing) logger.warn({ err: (err as Error).message }, 'tunnel: cannot share the status with the other gateways');
      presenceFailing = true;
    }
  }
  const statusTimer = setInterval(saveStatus, statusIntervalMs);
  statusTimer.unref();

  async function recheckTokens(): Promise<void> {
    for (const tokenId of new Set([...connectors.values()].map((c) => c.tokenId))) {
      let valid = true;
      try {
        valid = await options.verifier.stillValid(tokenId);
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'tunnel: cannot re-check token');
      }
      if (!valid) hub.dropToken(tokenId, 'token revoked');
    }
  }
  const stopWatchingTokens = options.changes?.subscribe((change) => {
    if (change.kind === 'tunnel-token') void recheckTokens();
  });

  /** A connector is gone: warn, because with the last one gone the origin is offline for everyone. */
  function detach(c: LiveConnector, why: string): void {
    if (connectors.get(c.id) !== c) return;
    connectors.delete(c.id);
    if (connectors.size === 0) offlineSince = new Date();
    logger.warn(
      { connector: c.id, name: c.name, remoteAddress: c.remoteAddress, why, connectorsLeft: connectors.size, bytesIn: c.socket.bytesRead, bytesOut: c.socket.bytesWritten },
      'tunnel: connector disconnected',
    );
    options.audit?.record({ type: 'tunnel.disconnected', ip: c.socket.remoteAddress ?? null, detail: `${c.id} ${c.name}` });
    hub.emit('disconnected', c.id);
    saveStatus();
  }

  function addPending(bucket: string, socket: tls.TLSSocket): void {
    let set = pendingByBucket.get(bucket);
    if (!set) pendingByBucket.set(bucket, (set = new Set()));
    set.add(socket);
    pendingTotal++;
  }

  /** False when the socket was no longer pending (authenticated, evicted or already gone). */
  function removePending(bucket: string, socket: tls.TLSSocket): boolean {
    const set = pendingByBucket.get(bucket);
    if (!set?.delete(socket)) return false;
    pendingTotal--;
    if (set.size === 0) pendingByBucket.delete(bucket);
    return true;
  }

  /** Makes room for a newcomer: the oldest unauthenticated socket of the address holding the most. */
  function evictOne(): void {
    let heaviest: [string, Set<tls.TLSSocket>] | undefined;
    for (const entry of pendingByBucket) if (!heaviest || entry[1].size > heaviest[1].size) heaviest = entry;
    if (!heaviest) return;
    const [bucket, set] = heaviest;
    const oldest = set.values().next().value as tls.TLSSocket;
    removePending(bucket, oldest);
    refusals.note('closed to make room (unauthenticated table full)', bucket);
    oldest.destroy();
  }

  function refuse(session: http2.ClientHttp2Session, reason: string, code = GOAWAY_UNAUTHORIZED): void {
    if (session.destroyed) return;
    try {
      session.goaway(code, 0, Buffer.from(reason));
    } catch {
      // already going away
    }
    // Give the GOAWAY a moment to reach the connector so it can tell its operator why.
    setTimeout(() => session.destroy(), 200).unref();
  }

  function handleSecureSocket(socket: tls.TLSSocket): void {
    const remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const bucket = connectionBucket(socket.remoteAddress);
    if (closed || socket.destroyed) {
      socket.destroy();
      return;
    }
    if ((pendingByBucket.get(bucket)?.size ?? 0) >= maxPendingPerAddress) {
      refusals.note('too many unauthenticated connections from this address', bucket);
      socket.destroy();
      return;
    }
    if (pendingTotal >= maxPending) evictOne();
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    addPending(bucket, socket);
    const donePending = () => removePending(bucket, socket);

    const session = http2.connect('http://tunnel.invalid', {
      createConnection: () => socket,
      settings: H2_SETTINGS,
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      peerMaxConcurrentStreams: H2_SETTINGS.maxConcurrentStreams,
    });
    sessions.add(session);
    let connector: LiveConnector | null = null;
    // Any sign of death ends the connector at once: waiting for the session's own 'close' can take as long
    // as a graceful TLS shutdown towards a peer that no longer exists.
    const gone = (why: string) => {
      if (connector) detach(connector, why);
      if (!session.destroyed) session.destroy();
      if (!socket.destroyed) socket.destroy();
    };
    session.on('error', (err) => {
      if (connector) logger.warn({ remoteAddress, err: err.message }, 'tunnel: session error');
      else refusals.note('protocol error before authentication', bucket);
      gone(err.message);
    });
    socket.on('error', (err) => gone(err.message));
    socket.once('end', () => gone('connector closed the connection'));
    socket.once('close', () => gone('socket closed'));
    session.once('connect', () => {
      try {
        session.setLocalWindowSize(SESSION_WINDOW);
      } catch {
        // session already gone
      }
      // HTTP/2 reads the socket natively; resuming the JS side only lets EOF surface as 'end'.
      socket.resume();
    });
    const stopKeepalive = startKeepalive(session, keepalive, () => {
      // A session that ended without its 'close' is reported here too, but that is no missed ping.
      if (session.destroyed) return gone('session ended');
      if (connector) logger.warn({ remoteAddress }, 'tunnel: connector stopped answering keepalive pings');
      gone('keepalive timeout');
    });
    const helloTimer = setTimeout(() => {
      refusals.note('did not authenticate in time', bucket);
      session.destroy();
    }, options.helloTimeoutMs ?? 5_000);
    helloTimer.unref();

    session.once('close', () => {
      clearTimeout(helloTimer);
      stopKeepalive();
      connector?.windows.close();
      donePending();
      sessions.delete(session);
      gone('session closed');
    });

    const hello = session.request({ ':method': 'GET', ':path': HELLO_PATH }, { endStream: true });
    hello.on('error', () => {});
    hello.resume();
    hello.once('response', async (headers) => {
      hello.close();
      const credential = headers[HEADER_TOKEN];
      const rawName = headers[HEADER_NAME];
      const name = typeof rawName === 'string' ? sanitizeName(rawName) : 'connector';
      let tokenId: string | null = null;
      // Not checked while the store is unavailable: its copy may still hold a token revoked elsewhere (a wrong
      // yes) or lack one made elsewhere (a wrong no, which would stop the connector for good).
      let unavailable = options.storeUnavailable?.() ?? null;
      try {
        if (!unavailable) tokenId = typeof credential === 'string' ? await options.verifier.verify(credential) : null;
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'tunnel: token check failed');
      }
      // The store may have gone while the token was being checked; a "yes" from a copy that was current then stands.
      if (!tokenId) unavailable ??= options.storeUnavailable?.() ?? null;
      clearTimeout(helloTimer);
      // Evicted (or gone) while the token was being checked: the socket is already being closed.
      if (!donePending() || session.destroyed) return;
      if (unavailable && !tokenId) {
        // Anyone can open sockets: summarised like other refusals of unauthenticated sockets, no audit row.
        // The words reach whoever dialled, token or not: no more than that the store is away (the gateway's log
        // and readiness say why).
        refusals.note('asked to try again later (the shared store is unavailable)', bucket);
        refuse(session, 'the gateway cannot check tokens now (its shared store is unavailable); try again later', GOAWAY_TRY_LATER);
        return;
      }
      if (!tokenId) {
        // One audit row per address and summary interval: anyone can send bad tokens as fast as they like.
        if (refusals.note('unknown or revoked token', bucket)) {
          options.audit?.record({ type: 'tunnel.refused', ip: socket.remoteAddress ?? null, detail: name });
        }
        refuse(session, 'token unknown or revoked');
        return;
      }
      const sameToken = [...connectors.values()].filter((c) => c.tokenId === tokenId);
      if (sameToken.length >= maxConnectorsPerToken) {
        // The newcomer just proved it is alive; the oldest is most likely a link that died without a word.
        const oldest = sameToken[0]!;
        detach(oldest, `replaced by a newer connection with the same token (at most ${maxConnectorsPerToken} per token)`);
        oldest.session.close();
        setTimeout(() => oldest.session.destroy(), 30_000).unref();
      }
      connector = {
        id: crypto.randomBytes(4).toString('hex'),
        tokenId,
        name,
        since: new Date(),
        remoteAddress,
        session,
        socket,
        openStreams: 0,
        streamsTotal: 0,
        resetsOnRequest: String(headers[HEADER_FEATURES] ?? '')
          .split(',')
          .map((f) => f.trim())
          .includes(FEATURE_ABORT),
        windows: receiveWindows(session),
      };
      connectors.set(connector.id, connector);
      offlineSince = null;
      const welcome = session.request({ ':method': 'POST', ':path': WELCOME_PATH, [HEADER_CONNECTOR_ID]: connector.id }, { endStream: true });
      welcome.on('error', () => {});
      welcome.resume();
      logger.info({ connector: connector.id, name, token: tokenId, remoteAddress }, 'tunnel: connector connected');
      options.audit?.record({ type: 'tunnel.connected', ip: socket.remoteAddress ?? null, detail: `${connector.id} ${name}` });
      hub.emit('connected', connector.id);
      saveStatus();
    });
  }

  hub.handleSecureSocket = handleSecureSocket;
  Object.defineProperty(hub, 'origin', { value: origin });
  hub.status = status;
  hub.dropToken = (tokenId, reason) => {
    let dropped = 0;
    for (const c of [...connectors.values()]) {
      if (c.tokenId !== tokenId) continue;
      logger.info({ connector: c.id, name: c.name, reason }, 'tunnel: dropping connector');
      detach(c, reason);
      refuse(c.session, reason);
      dropped++;
    }
    return dropped;
  };
  hub.close = async () => {
    if (closed) return;
    closed = true;
    refusals.close();
    clearInterval(statusTimer);
    stopWatchingTokens?.();
    const gatewayId = options.presence?.gatewayId();
    if (gatewayId) {
      try {
        options.presence!.store.remove(gatewayId);
      } catch {
        // it expires by itself
      }
    }
    pool.close();
    const all = [...sessions];
    for (const s of all) s.destroy();
    await Promise.all(all.map((s) => (s.closed && s.destroyed ? null : new Promise((r) => s.once('close', r)))));
  };
  return hub;
}

function sanitizeName(raw: string): string {
  const cleaned = raw
    .replace(/[^\p{L}\p{N} ._@-]/gu, '')
    .slice(0, MAX_NAME_LENGTH)
    .trim();
  return cleaned || 'connector';
}
