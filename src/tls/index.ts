// Public surface of src/tls for the composition in src/gateway.ts: which names get ACME certificates, the
// live certificate set with its ACME manager, and the HTTP/HTTPS port wrappers (challenges, redirect, HSTS).
import net from 'node:net';
import type { ResolvedConfig } from '../config/load.js';
import type { Logger } from '../log.js';
import type { AcmeStore } from '../store/store.js';
import { AcmeManager, directoryUrlFor, type AcmeManagerOptions } from './acme.js';
import { LiveCertificates, type CertificatePair } from './live.js';

export {
  AcmeManager,
  directoryUrlFor,
  explainFailure,
  acmeDirFor,
  acmeTagFor,
  type AdoptedEvent,
  LETS_ENCRYPT,
  LETS_ENCRYPT_STAGING,
  type IssuedEvent,
  type FailedEvent,
} from './acme.js';
export { LiveCertificates, type CertificatePair } from './live.js';
export { httpPortHandlers, withHsts, hstsHeader } from './http-port.js';
export { renewalTime, retryDelay, DEFAULT_BACKOFF } from './schedule.js';

/** The private host, the share host and (in tunnel mode) the DNS name connectors dial; IP addresses get none. */
export function acmeNamesFor(config: ResolvedConfig): string[] {
  const names = [config.hosts.private, config.hosts.share];
  if (config.tunnel.enabled && config.tunnel.publicAddress) {
    const host = config.tunnel.publicAddress
      .replace(/:\d+$/, '')
      .replace(/^\[(.*)\]$/, '$1')
      .toLowerCase();
    if (net.isIP(host) === 0) names.push(host);
  }
  return [...new Set(names.filter((n): n is string => Boolean(n)))];
}

/** Test and tuning knobs that are not config keys (CA pacing, backoff). */
export type AcmeTuning = Partial<Pick<AcmeManagerOptions, 'backoff' | 'pollMinMs' | 'random' | 'lockRetryMs' | 'lockTtlMs'>>;

/**
 * The live certificate set and its ACME manager; `fallback` serves names that have no certificate yet. `store`:
 * the store's ACME part (shared with other gateways on Redis); files in dataDir without one.
 */
export function createAcme(
  config: ResolvedConfig,
  fallback: CertificatePair,
  logger: Logger,
  tuning: AcmeTuning = {},
  store?: AcmeStore,
): { live: LiveCertificates; manager: AcmeManager } {
  const acme = config.tls.acme!;
  const live = new LiveCertificates(fallback, acme.challenge === 'tls-alpn-01');
  const manager = new AcmeManager({
    directoryUrl: directoryUrlFor(acme.directory),
    email: acme.email,
    eab: acme.eab,
    challenge: acme.challenge,
    names: acmeNamesFor(config),
    dataDir: config.dataDir,
    store,
    live,
    logger: logger.child({ part: 'acme' }),
    ...tuning,
  });
  return { live, manager };
}
