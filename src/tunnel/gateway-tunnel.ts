// One call for `porthole serve` in tunnel mode: the certificate, the hub (checking tokens against the
// gateway's store and dropping connectors when the store says tokens were revoked) and the TLS listener on the
// HTTPS port, with browser sockets handed to the existing HTTP server. Returns the hub's Origin to use in place
// of the direct one.
import os from 'node:os';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import { openSqliteStore } from '../store/sqlite.js';
import type { ChangeFeed, StoreUnavailable, TunnelPresenceStore, TunnelTokenStore } from '../store/store.js';
import type { Origin } from '../origin/origin.js';
import { createTunnelHub, type TunnelAudit, type TunnelHub, type TunnelHubOptions, type TunnelLogger } from './hub.js';
import { statusFilePath } from './status.js';
import { createGatewayTlsServer, loadGatewayCertificate, type GatewayCertificate, type GatewayTlsServerOptions } from './tls-listener.js';
import { storeTokenVerifier } from './token-store.js';

/** The tunnel tokens of the store in `dataDir` (the one opener, store/sqlite.ts), for commands and tests. */
export function openTunnelTokenStore(dataDir: string): { store: TunnelTokenStore; close(): void } {
  const store = openSqliteStore(dataDir);
  return { store: store.tunnelTokens, close: () => store.close() };
}

export interface GatewayTunnelOptions {
  /**
   * The gateway's store: tunnel tokens, the change feed that says when some were revoked, and where each gateway
   * sharing the store says which connectors it has.
   */
  store: { tunnelTokens: TunnelTokenStore; changes: ChangeFeed; tunnelPresence?: TunnelPresenceStore; unavailable?(): StoreUnavailable | null };
  /** This gateway among those sharing the store (default: host name, address and HTTPS port: unique among live ones). */
  gatewayId?: string;
  dataDir: string;
  /** Where the HTTPS port listens. */
  address: string;
  httpsPort: number;
  /** Operator certificate; without it a self-signed one is generated once and kept in the data dir. */
  certFile?: string;
  keyFile?: string;
  /** Names for a generated certificate (the private and share host names). */
  hostnames: string[];
  /** The origin as Immich knows itself (config origin.url): only the Host/target of forwarded requests. */
  originUrl: URL;
  /**
   * Browser sockets on the HTTPS port (ALPN http/1.1 or none): `(s) => httpsListener.emit('connection', s)`.
   * A callback, not the server, so the tunnel (whose Origin the host handlers need) can start first.
   */
  onHttpSocket: (socket: tls.TLSSocket) => void;
  /** ALPN offered to browsers after the tunnel's (see createGatewayTlsServer). */
  httpAlpn?: string[];
  /** Per-address caps on raw connections to the HTTPS port, before their TLS handshake. */
  admitConnection?: (socket: net.Socket) => boolean;
  logger?: TunnelLogger;
  audit?: TunnelAudit;
  /** Tests: shorter keepalive and status intervals, a logger of their own; production keeps the defaults. */
  tuning?: GatewayTunnelTuning;
  /** Per-name certificates swapped live (ACME); see createGatewayTlsServer. */
  live?: GatewayTlsServerOptions['live'];
}

export type GatewayTunnelTuning = Pick<TunnelHubOptions, 'keepalive' | 'statusIntervalMs' | 'logger'>;

export interface GatewayTunnel {
  hub: TunnelHub;
  /** The tokens connectors sign in with (the admin page lists and revokes them). */
  tokens: TunnelTokenStore;
  origin: Origin;
  certificate: GatewayCertificate;
  tlsServer: tls.Server;
  httpsPort: number;
  /** This gateway among those sharing the store (the id its shared status is kept under). */
  gatewayId: string;
  close(): Promise<void>;
}

export async function startGatewayTunnel(options: GatewayTunnelOptions): Promise<GatewayTunnel> {
  const certificate = await loadGatewayCertificate({
    dataDir: options.dataDir,
    certFile: options.certFile,
    keyFile: options.keyFile,
    hostnames: options.hostnames,
  });
  let gatewayId: string | null = null;
  const presence = options.store.tunnelPresence;
  const hub = createTunnelHub({
    verifier: storeTokenVerifier(options.store.tunnelTokens),
    ...(presence ? { presence: { store: presence, gatewayId: () => gatewayId } } : {}),
    changes: options.store.changes,
    // A shared store that cannot vouch for its tokens: new connectors are told to come back (hub.ts).
    ...(options.store.unavailable ? { storeUnavailable: () => options.store.unavailable!() } : {}),
    target: { protocol: 'http:', hostname: options.originUrl.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(options.originUrl.port || 80) },
    logger: options.logger,
    audit: options.audit,
    statusFile: statusFilePath(options.dataDir),
    ...options.tuning,
  });
  const tlsServer = createGatewayTlsServer({
    certificate,
    onTunnelSocket: (socket) => hub.handleSecureSocket(socket),
    onHttpSocket: options.onHttpSocket,
    httpAlpn: options.httpAlpn,
    live: options.live,
    admitConnection: options.admitConnection,
  });
  await new Promise<void>((resolve, reject) => {
    tlsServer.once('error', reject);
    tlsServer.listen(options.httpsPort, options.address, () => {
      tlsServer.off('error', reject);
      resolve();
    });
  });
  const httpsPort = (tlsServer.address() as AddressInfo).port;
  const id = options.gatewayId ?? `${os.hostname()}/${options.address.includes(':') ? `[${options.address}]` : options.address}:${httpsPort}`;
  gatewayId = id;
  return {
    hub,
    tokens: options.store.tunnelTokens,
    origin: hub.origin,
    certificate,
    tlsServer,
    httpsPort,
    gatewayId: id,
    async close() {
      // Tunnel sockets keep the TLS server open until the hub drops them; browser sockets belong to the HTTP
      // server, which the caller closes first.
      const closed = new Promise<void>((resolve) => tlsServer.close(() => resolve()));
      await hub.close();
      await closed;
    },
  };
}
