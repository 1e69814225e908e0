// Prometheus metrics: the registry and metric definitions (gateway-metrics.ts), the endpoint (server.ts) and
// the tags the request path leaves for them (tags.ts).
export { createGatewayMetrics, type GatewayMetrics } from './gateway-metrics.js';
export { MetricsListenError, startMetricsServer } from './server.js';
