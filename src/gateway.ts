// Assembles a running gateway from a validated config: state, mail, origin, the two host faces, the listeners
// (plain HTTP, and the HTTPS port whose sockets are split by ALPN between browsers and home connectors).
// This is the only file that knows how the pieces fit; each piece only knows its own job.
import type http from 'node:http';
import type tls from 'node:tls';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ResolvedConfig } from './config/load.js';
import { createAddressMatcher } from './http/client-address.js';
import { createHostDispatcher, type HostHandler } from './hosts/dispatch.js';
import { acceptSecureSocket, createListener, http2ServerOf } from './listener/server.js';
import { AddressLimiter, connectionBucket } from './listener/connections.js';
import { RefusalSummary } from './listener/refusal-log.js';
import { RequestRateLimiter } from './listener/request-rate.js';
import type { Logger } from './log.js';
import type { Mailer } from './mail/mailer.js';
import { createDirectOrigin } from './origin/direct.js';
import type { Origin } from './origin/origin.js';
import { createGate } from './gate/index.js';
import type { GatewayMetrics } from './metrics/index.js';
import { createShareHost } from './share/index.js';
import { keepAuditWithin } from './store/retention.js';
import { planReload, type ReloadPlan } from './config/reload.js';
import { LiveAllowlist } from './gate/email.js';
import { openConfiguredStore } from './store/open.js';
import type { Store } from './store/store.js';
import { createGatewayTlsServer, loadGatewayCertificate, otherGateways, startGatewayTunnel, type GatewayCertificate, type TunnelHub, type TunnelStatus } from './tunnel/index.js';
import type { GatewayTunnelTuning } from './tunnel/gateway-tunnel.js';
import { acmeNamesFor, createAcme, hstsHeader, httpPortHandlers, withHsts, type AcmeManager, type AcmeTuning, type LiveCertificates } from './tls/index.js';
import { startHealth, type HealthServer } from './health/index.js';
import { LiveAdmins, type AdminSources } from './admin/index.js';
import type { TunnelTokenStore } from './tunnel/token-store.js';

export interface GatewayDeps {
  config: ResolvedConfig;
  store: Store;
  mailer: Mailer;
  origin: Origin;
  logger: Logger;
  /** Who may sign in; replaced in place by reload(). */
  allowlist: LiveAllowlist;
  /** The one clock every module reads (codes, sessions, link cache, brute-force limits, audit); tests inject one so they never sleep. */
  now: () => number;
  /** Prometheus metrics, when metrics.listen is set. */
  metrics?: GatewayMetrics;
}

export interface Gateway {
  readonly deps: GatewayDeps;
  readonly server: http.Server;
  /** The port the HTTP listener actually bound (useful with port 0 in tests). */
  readonly httpPort: number;
  /** The HTTPS port actually bound and its certificate, when listen.httpsPort is set. */
  readonly https?: { port: number; certificate: GatewayCertificate; server: net.Server };
  /** Issues and renews certificates when tls.acme is set. */
  readonly acme?: AcmeManager;
  /** The liveness/readiness listener when health is set. */
  readonly health?: HealthServer;
  /** The tunnel's hub when tunnel.enabled (its connectors and their status). */
  readonly tunnel?: TunnelHub;
  /** The port the metrics endpoint bound, when metrics.listen is set. */
  readonly metricsPort?: number;
  /** Applies what can change live from a freshly loaded config (gate.allow) and names what needs a restart. */
  reload(next: ResolvedConfig): ReloadPlan;
  close(): Promise<void>;
}

export interface GatewayOverrides {
  store?: Store;
  origin?: Origin;
  now?: () => number;
  /** CA pacing and backoff for ACME (tests shorten them). */
  acme?: AcmeTuning;
  /** Test-only: shorter tunnel keepalive and revocation intervals, a tunnel logger of the test's own. */
  tunnel?: GatewayTunnelTuning;
}

function listen(server: net.Server, port: number, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

interface HttpsSide {
  origin?: Origin;
  hub?: TunnelHub;
  tokens?: TunnelTokenStore;
  port: number;
  certificate: GatewayCertificate;
  acme?: AcmeManager;
  server: net.Server;
  tunnelStatus?: () => TunnelStatus;
  /** This gateway among those sharing the store (tunnel mode). */
  gatewayId?: string;
  close(): Promise<void>;
}

/**
 * The HTTPS port. Browser sockets go to `browsers` (created later, once the handlers exist, hence a getter);
 * with the tunnel on, sockets that negotiate the tunnel's ALPN become the origin.
 */
async function startHttps(
  config: ResolvedConfig,
  store: Store,
  logger: Logger,
  browsers: () => http.Server | undefined,
  admitConnection: (socket: net.Socket) => boolean,
  acmeTuning?: AcmeTuning,
  tunnelTuning?: GatewayTunnelTuning,
): Promise<HttpsSide> {
  const toBrowsers = (socket: tls.TLSSocket) => {
    const server = browsers();
    if (server) acceptSecureSocket(server, socket);
    else socket.destroy();
  };
  const hostnames = [config.hosts.private, config.hosts.share].filter((h): h is string => Boolean(h));
  const httpAlpn = config.http2.enabled ? ['h2', 'http/1.1'] : ['http/1.1'];
  // With ACME the self-signed certificate only stands in for names whose certificate is not issued yet.
  let live: LiveCertificates | undefined;
  let acme: AcmeManager | undefined;
  if (config.tls.acme) {
    const standIn = await loadGatewayCertificate({ dataDir: config.dataDir, hostnames: acmeNamesFor(config) });
    ({ live, manager: acme } = createAcme(config, standIn, logger, acmeTuning, store.acme));
  }
  if (config.tunnel.enabled) {
    const tunnel = await startGatewayTunnel({
      store,
      dataDir: config.dataDir,
      address: config.listen.address,
      httpsPort: config.listen.httpsPort!,
      certFile: config.tls?.certFile,
      keyFile: config.tls?.keyFile,
      hostnames,
      originUrl: new URL(config.origin.url),
      onHttpSocket: toBrowsers,
      httpAlpn,
      admitConnection,
      logger: logger.child({ part: 'tunnel' }),
      audit: store.audit,
      live,
      tuning: tunnelTuning,
    });
    return {
      origin: tunnel.origin,
      hub: tunnel.hub,
      tokens: tunnel.tokens,
      port: tunnel.httpsPort,
      certificate: tunnel.certificate,
      acme,
      server: tunnel.tlsServer,
      tunnelStatus: () => tunnel.hub.status(),
      gatewayId: tunnel.gatewayId,
      close: () => tunnel.close(),
    };
  }
  const certificate = await loadGatewayCertificate({ dataDir: config.dataDir, certFile: config.tls?.certFile, keyFile: config.tls?.keyFile, hostnames });
  // Without the tunnel nobody may speak its protocol here.
  const server = createGatewayTlsServer({ certificate, onTunnelSocket: (socket) => socket.destroy(), onHttpSocket: toBrowsers, httpAlpn, live, admitConnection });
  const port = await listen(server, config.listen.httpsPort!, config.listen.address);
  return { port, certificate, acme, server, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

export async function startGateway(config: ResolvedConfig, mailer: Mailer, logger: Logger, overrides: GatewayOverrides = {}): Promise<Gateway> {
  // prom-client is loaded only by gateways that serve metrics (~12 MiB otherwise idle).
  const metricsModule = config.metrics.listen ? await import('./metrics/index.js') : undefined;
  const metrics = metricsModule?.createGatewayMetrics(config.hosts);
  // First, so a metrics port that is taken stops the start before anything else is opened.
  const metricsServer =
    metricsModule && metrics && config.metrics.listen
      ? await metricsModule.startMetricsServer(metrics.registry, { ...config.metrics.listen, allowNonLoopback: config.metrics.allowNonLoopback })
      : undefined;
  const now = overrides.now ?? Date.now;
  // A shared Redis that is not up yet (compose, a power cut) does not stop the start: the store says it is
  // unavailable, so the gate answers 503 and /ready says not ready until Redis answers (store/redis/index.ts).
  const ownStore = overrides.store ?? (await openConfiguredStore(config, { auditClock: now, logger: logger.child({ part: 'store' }), whenUnreachable: 'start-unavailable' }));
  const store = metrics ? metrics.withAuditCounts(ownStore) : ownStore;
  metrics?.watchStore(ownStore);
  const stopRetention = keepAuditWithin(store, config.auditRetention, logger, now);
  let httpsListener: http.Server | undefined;
  // One count per client across both ports, taken before any TLS work; refusals logged as summaries.
  const connectionRefusals = new RefusalSummary(logger, 'listener: refused connections over the per-address cap');
  const http2Refusals = new RefusalSummary(logger, 'listener: closed HTTP/2 connections over a budget');
  const isTrustedProxy = createAddressMatcher(config.trustedProxies);
  const connections = new AddressLimiter({
    maxPerAddress: config.listen.maxConnectionsPerAddress,
    isExempt: isTrustedProxy,
    onRefused: (bucket) => connectionRefusals.note('too many open connections', bucket),
  });
  const admit = (socket: net.Socket) => connections.admit(socket);
  // One request-rate budget per client across both ports and both hosts.
  const requestRefusals = new RefusalSummary(logger, 'listener: refused requests over the per-client request rate');
  const requestRate = config.listen.requestRate === false ? undefined : new RequestRateLimiter(config.listen.requestRate);
  const https = config.listen.httpsPort === undefined ? undefined : await startHttps(config, store, logger, () => httpsListener, admit, overrides.acme, overrides.tunnel);
  const origin = overrides.origin ?? https?.origin ?? createDirectOrigin(new URL(config.origin.url));
  const deps: GatewayDeps = { config, store, mailer, origin, logger, allowlist: new LiveAllowlist(config.gate.allow), now, metrics };
  // What the other gateways sharing the store last said about their connectors (wall clock: their entries expire by it).
  const gatewayId = https?.gatewayId;
  const otherTunnelGateways = gatewayId === undefined ? undefined : () => otherGateways(store.tunnelPresence.list(Date.now()), gatewayId);
  if (https?.tunnelStatus) metrics?.watchTunnel(https.tunnelStatus, otherTunnelGateways);
  let running = config;

  // Each host's module gets its own slice of the config, the one clock, and only the parts it uses.
  const share = config.hosts.share ? createShareHost({ config, store, origin, logger, now, onLinkCache: metrics?.linkCache }) : undefined;
  const hub = https?.hub;
  const admin: AdminSources & { admins: LiveAdmins } = {
    admins: new LiveAdmins(config.gate.admins),
    tunnel: hub &&
      https.tokens && {
        tokens: https.tokens,
        status: () => ({ ...hub.status(), gateway: gatewayId }),
        others: otherTunnelGateways,
        dropToken: (id, reason) => hub.dropToken(id, reason),
      },
    linkCache: share ? () => share.linkCache() : undefined,
    linkRecord: share ? (keyOrSlug) => store.linkRecords.read(keyOrSlug, { limit: 50 }) : undefined,
  };
  const gate = createGate({ config, store, mailer, origin, logger, allowlist: deps.allowlist, now, admin });
  const hosts = new Map<string, HostHandler>([[config.hosts.private, gate]]);
  if (config.hosts.share && share) hosts.set(config.hosts.share, share);

  const dispatcher = createHostDispatcher(hosts);
  const redirectHttp = https !== undefined && (config.tls.redirectHttp ?? Boolean(config.tls.acme));
  const acme = https?.acme;
  // The HTTP port answers ACME challenges and, with HTTPS on, redirects; the HTTPS port adds HSTS.
  const handlersFor = (scheme: 'http' | 'https') => {
    if (scheme === 'https')
      return config.tls.hsts === false ? dispatcher : withHsts(dispatcher, hstsHeader({ maxAgeMs: config.tls.hsts.maxAge, includeSubDomains: config.tls.hsts.includeSubDomains }));
    if (!acme && !redirectHttp) return dispatcher;
    return httpPortHandlers({
      handlerFor: dispatcher,
      answerChallenge: acme && config.tls.acme?.challenge === 'http-01' ? (token) => acme.answerHttpChallenge(token) : undefined,
      acmeNames: acme ? acmeNamesFor(config) : [],
      redirectToHttpsPort: redirectHttp ? (config.publicPort ?? https!.port) : undefined,
    });
  };
  const listenerFor = (scheme: 'http' | 'https') =>
    createListener({
      handlerFor: handlersFor(scheme),
      isTrustedProxy,
      scheme,
      // The HTTPS port admits raw connections before their handshake; its HTTP server only sees them after.
      admit: scheme === 'http' ? admit : undefined,
      headersTimeoutMs: config.proxy.headersTimeout,
      idleTimeoutMs: config.proxy.idleTimeout,
      onError: (error, req) => logger.error({ err: error, url: req.url }, 'handler failed'),
      http2:
        scheme === 'https' && config.http2.enabled
          ? {
              maxConcurrentStreams: config.http2.maxConcurrentStreams,
              maxHeaderListSize: config.http2.maxHeaderListSize,
              resetsPerWindow: config.http2.resetsPerWindow,
              controlFramesPerWindow: config.http2.controlFramesPerWindow,
              windowMs: config.http2.window,
            }
          : undefined,
      requestRate,
      onRateLimited: (bucket) => requestRefusals.note('too many requests', bucket),
      onHttp2Refused: (why, socket) =>
        http2Refusals.note(why === 'rapid-reset' ? 'too many cancelled requests' : 'too many SETTINGS/PING frames', connectionBucket(socket.remoteAddress)),
    });
  const server = listenerFor('http');
  if (https) httpsListener = listenerFor('https');
  for (const listener of [server, httpsListener]) if (listener) metrics?.observe(listener);
  const http2Listener = httpsListener && http2ServerOf(httpsListener);
  if (http2Listener) metrics?.observe(http2Listener as unknown as http.Server);
  const httpPort = await listen(server, config.listen.httpPort, config.listen.address);
  logger.info({ address: config.listen.address, port: httpPort, httpsPort: https?.port, metricsPort: metricsServer?.port, origin: origin.describe() }, 'listening');
  // Challenges can be answered only now that both ports are up.
  await acme?.start();
  const health = config.health ? await startHealth({ origin, store, address: config.health.address, port: config.health.port }) : undefined;

  const closeServer = (s: http.Server) =>
    new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  return {
    deps,
    server,
    httpPort,
    https: https && { port: https.port, certificate: https.certificate, server: https.server },
    tunnel: https?.hub,
    acme,
    health,
    metricsPort: metricsServer?.port,
    reload(next) {
      const plan = planReload(running, next);
      if (plan.applied.includes('gate.allow')) deps.allowlist.replace(next.gate.allow);
      if (plan.applied.includes('gate.admins')) admin.admins.replace(next.gate.admins);
      running = { ...running, gate: { ...running.gate, allow: next.gate.allow, admins: next.gate.admins } };
      logger.info({ applied: plan.applied, needRestart: plan.needRestart }, 'config reloaded');
      return plan;
    },
    async close() {
      acme?.stop();
      gate.close();
      share?.close();
      await Promise.all([closeServer(server), httpsListener ? closeServer(httpsListener) : undefined, health?.close()]);
      await origin.close();
      await https?.close();
      stopRetention();
      connectionRefusals.close();
      http2Refusals.close();
      requestRefusals.close();
      await metricsServer?.close();
      if (!overrides.store) {
        // Bounded, and not waited for while the store is unavailable: writes queued for a Redis that is away
        // finish only when it returns, and a stop must not hang on that (the store's close still tries briefly).
        if (!ownStore.unavailable?.()) await Promise.race([ownStore.drain?.(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
        ownStore.close();
      }
      mailer.close();
    },
  };
}
