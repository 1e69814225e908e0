// Assembles a running gateway from a validated config: state, mail, origin, the two host faces, the listener.
// This is the only file that knows how the pieces fit; each piece only knows its own job.
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ResolvedConfig } from './config/load.js';
import { createAddressMatcher } from './http/client-address.js';
import { createHostDispatcher, type HostHandler } from './hosts/dispatch.js';
import { createListener } from './listener/server.js';
import type { Logger } from './log.js';
import type { Mailer } from './mail/mailer.js';
import { createDirectOrigin } from './origin/direct.js';
import type { Origin } from './origin/origin.js';
import { createGate } from './gate/index.js';
import { createShareHost } from './share/index.js';
import { openSqliteStore } from './store/sqlite.js';
import type { Store } from './store/store.js';

export interface GatewayDeps {
  config: ResolvedConfig;
  store: Store;
  mailer: Mailer;
  origin: Origin;
  logger: Logger;
  /** The gate's clock (code and session expiry); tests inject one so they never sleep. */
  now?: () => number;
}

export interface Gateway {
  readonly deps: GatewayDeps;
  readonly server: http.Server;
  /** The port the HTTP listener actually bound (useful with port 0 in tests). */
  readonly httpPort: number;
  close(): Promise<void>;
}

export interface GatewayOverrides {
  store?: Store;
  origin?: Origin;
  now?: () => number;
}

export async function startGateway(config: ResolvedConfig, mailer: Mailer, logger: Logger, overrides: GatewayOverrides = {}): Promise<Gateway> {
  const store = overrides.store ?? openSqliteStore(config.dataDir);
  const origin = overrides.origin ?? createDirectOrigin(new URL(config.origin.url));
  const deps: GatewayDeps = { config, store, mailer, origin, logger, now: overrides.now };

  const hosts = new Map<string, HostHandler>([[config.hosts.private, createGate(deps)]]);
  if (config.hosts.share) hosts.set(config.hosts.share, createShareHost(deps));

  const server = createListener({
    handlerFor: createHostDispatcher(hosts),
    isTrustedProxy: createAddressMatcher(config.trustedProxies),
    scheme: 'http',
    headersTimeoutMs: config.proxy.headersTimeout,
    idleTimeoutMs: config.proxy.idleTimeout,
    onError: (error, req) => logger.error({ err: error, url: req.url }, 'handler failed'),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.httpPort, config.listen.address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const httpPort = (server.address() as AddressInfo).port;
  logger.info({ address: config.listen.address, port: httpPort, origin: origin.describe() }, 'listening');

  return {
    deps,
    server,
    httpPort,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await origin.close();
      if (!overrides.store) store.close();
      mailer.close();
    },
  };
}
