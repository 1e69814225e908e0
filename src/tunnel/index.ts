// Public surface of the tunnel for the rest of Porthole (CLI, listener, serve).
export { TUNNEL_ALPN } from './protocol.js';
export { createTunnelHub, type TunnelHub, type TunnelHubOptions, type TunnelLogger, type TunnelAudit } from './hub.js';
export { runConnector, TokenRefusedError, type Connector, type ConnectorOptions } from './connector.js';
export {
  createGatewayTlsServer,
  loadGatewayCertificate,
  certificateFingerprint,
  formatFingerprint,
  type GatewayCertificate,
  type GatewayTlsServerOptions,
} from './tls-listener.js';
export {
  migrateTunnelTables,
  sqliteTunnelTokenStore,
  storeTokenVerifier,
  createTunnelToken,
  type TunnelTokenStore,
  type TunnelTokenRecord,
  type TokenVerifier,
} from './token-store.js';
export { encodeToken, decodeToken, type TunnelToken } from './token.js';
export { statusFilePath, readStatusFile, formatStatus, type TunnelStatus, type ConnectorStatus } from './status.js';
export { startGatewayTunnel, openTunnelTokenStore, type GatewayTunnel, type GatewayTunnelOptions } from './gateway-tunnel.js';
export { registerTunnelCommands, registerConnectCommand, type TunnelCliContext, type TunnelCliLoader } from './cli.js';
export { corkingPipe } from './cork-pipe.js';
