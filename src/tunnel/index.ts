// Public surface of the tunnel for the rest of Porthole (the gateway's composition, the demo) and its tests.
export { runConnector } from './connector.js';
export { createGatewayTlsServer, loadGatewayCertificate, type GatewayCertificate } from './tls-listener.js';
export { createTunnelToken } from './token-store.js';
export { encodeToken } from './token.js';
export { statusFilePath, readStatusFile, otherGateways, type TunnelStatus } from './status.js';
export { startGatewayTunnel, openTunnelTokenStore } from './gateway-tunnel.js';
export type { TunnelHub } from './hub.js';
