// Prometheus metrics: the registry and metric definitions (gateway-metrics.ts), the endpoint (server.ts) and
// the tags the request path leaves for them (tags.ts).
export { createGatewayMetrics, type GatewayMetrics, type HostRole, type LinkCacheResult } from './gateway-metrics.js';
export { isLoopbackAddress } from './loopback.js';
export { MetricsListenError, startMetricsServer, type MetricsServer } from './server.js';
