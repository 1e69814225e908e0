// `porthole doctor` checks for running on the internet: the HTTPS certificates (ACME, files or self-signed),
// DNS for the names ACME must validate, and in tunnel mode whether a home connector is attached (on a VPS
// Immich itself is not reachable, so that replaces the origin checks).
import crypto from 'node:crypto';
import dns from 'node:dns/promises';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/load.js';
import { redisAcmeKeys } from '../store/redis/acme.js';
import { DEFAULT_KEY_PREFIX, describeRedisUrl, redisClientOptions, redisProblem } from '../store/redis/index.js';
import { acmeDirFor, acmeNamesFor, acmeTagFor, directoryUrlFor } from '../tls/index.js';
import { readStatusFile, statusFilePath } from '../tunnel/status.js';
import type { CheckResult } from './result.js';

const DAY = 24 * 3600_000;

function lifetime(certPem: string): { notBefore: number; notAfter: number } {
  const leaf = new crypto.X509Certificate(certPem);
  return { notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo) };
}

function judgeCertificate(name: string, certPem: string, now: number, renewedByItself: boolean): CheckResult {
  const { notBefore, notAfter } = lifetime(certPem);
  const until = new Date(notAfter).toISOString();
  if (notAfter <= now) {
    return {
      name,
      verdict: 'fail',
      detail: `expired on ${until}`,
      fix: renewedByItself
        ? 'Renewal keeps failing: read the log lines "certificate for ... not renewed" for the CA\'s reason and what to check (DNS, port 80/443).'
        : 'Install a new certificate and restart Porthole.',
    };
  }
  const remaining = notAfter - now;
  // ACME renews at two thirds of the lifetime: with less than a sixth left, renewal is overdue.
  const low = renewedByItself ? remaining < (notAfter - notBefore) / 6 : remaining < 14 * DAY;
  if (low) {
    return {
      name,
      verdict: 'warn',
      detail: `expires soon (${until})`,
      fix: renewedByItself ? 'Renewal is overdue: read the log lines "certificate for ... not renewed" for the CA\'s reason.' : 'Replace the certificate files before then.',
    };
  }
  return { name, verdict: 'pass', detail: `valid until ${until}${renewedByItself ? ', renewed automatically' : ''}` };
}

/**
 * With store.kind redis: whether Redis answers, with the configured password. The gateway starts without it (and
 * answers 503 until it does), so this is where a wrong address or password shows before anyone signs in.
 */
export async function checkRedisStore(config: ResolvedConfig): Promise<CheckResult | undefined> {
  if (config.store.kind !== 'redis') return undefined;
  const name = 'shared store (Redis) answers';
  const where = describeRedisUrl(config.store.url);
  const client = new Redis(config.store.url, {
    ...redisClientOptions({ password: config.store.password, connectTimeoutMs: 5_000 }),
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  // The connection's own error (a refused password, nothing listening) says more than the rejection that follows.
  let connectionError: Error | undefined;
  client.on('error', (error: Error) => (connectionError ??= error));
  try {
    await client.connect();
    await client.ping();
    return { name, verdict: 'pass', detail: where };
  } catch (error) {
    const cause = connectionError ?? (error as Error);
    const problem = redisProblem(cause);
    return {
      name,
      verdict: 'fail',
      detail: `${problem.reason} at ${where} (${cause.message})`,
      fix: `Check ${problem.check}. Until Redis answers, the gateway answers 503 wherever it needs the shared state.`,
    };
  } finally {
    client.disconnect();
  }
}

/**
 * The ACME certificates gateways sharing a Redis keep there (PEM by name, missing ones left out), or the failed
 * check when Redis cannot be read: then nothing can be said about the certificates.
 */
export async function sharedAcmeCertificates(config: ResolvedConfig): Promise<Map<string, string> | CheckResult> {
  if (config.store.kind !== 'redis' || !config.tls.acme) return new Map();
  const keys = redisAcmeKeys(config.store.keyPrefix ?? DEFAULT_KEY_PREFIX);
  const ca = acmeTagFor(directoryUrlFor(config.tls.acme.directory));
  const client = new Redis(config.store.url, {
    ...redisClientOptions({ password: config.store.password, connectTimeoutMs: 5_000 }),
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const names = acmeNamesFor(config);
    const stored = await client.mget(...names.map((host) => keys.cert(ca, host)));
    const found = new Map<string, string>();
    names.forEach((host, i) => {
      const json = stored[i];
      if (json) found.set(host, (JSON.parse(json) as { cert: string }).cert);
    });
    return found;
  } catch (error) {
    return {
      name: 'certificates in Redis',
      verdict: 'fail',
      detail: `cannot read them from ${describeRedisUrl(config.store.url)}: ${(error as Error).message}`,
      fix: 'The gateways keep their ACME certificates in Redis (store.kind: redis): check store.url, store.password and that Redis runs.',
    };
  } finally {
    client.disconnect();
  }
}

/** `shared`: the certificates read from Redis (sharedAcmeCertificates) when the gateways keep them there. */
export function checkCertificates(config: ResolvedConfig, now = Date.now(), shared?: ReadonlyMap<string, string>): CheckResult[] {
  if (config.listen.httpsPort === undefined) return [];
  if (config.tls.acme) {
    const dir = path.join(acmeDirFor(config.dataDir, directoryUrlFor(config.tls.acme.directory)), 'certs');
    return acmeNamesFor(config).map((host) => {
      const name = `certificate for ${host}`;
      let pem: string;
      try {
        pem = shared ? shared.get(host)! : fs.readFileSync(path.join(dir, `${host}.crt.pem`), 'utf8');
        if (pem === undefined) throw new Error('not stored');
      } catch {
        return {
          name,
          verdict: 'warn',
          detail: 'not issued yet (a self-signed stand-in serves until then)',
          fix: 'Porthole requests it while running; if it stays missing, read the log line "certificate for ... not issued" for the CA\'s reason and what to check.',
        };
      }
      return judgeCertificate(name, pem, now, true);
    });
  }
  if (config.tls.certFile) {
    try {
      return [judgeCertificate('certificate file', fs.readFileSync(config.tls.certFile, 'utf8'), now, false)];
    } catch (error) {
      return [{ name: 'certificate file', verdict: 'fail', detail: `${config.tls.certFile}: ${(error as Error).message}`, fix: 'Fix tls.certFile, or use tls.acme.' }];
    }
  }
  return [
    {
      name: 'HTTPS certificate',
      verdict: 'warn',
      detail: 'self-signed: browsers warn about it',
      fix: "For browsers on the internet use tls.acme (Let's Encrypt) or tls.certFile/keyFile; connectors pin a self-signed one by fingerprint.",
    },
  ];
}

export async function checkPublicNames(config: ResolvedConfig): Promise<CheckResult[]> {
  if (!config.tls.acme) return [];
  return Promise.all(
    acmeNamesFor(config).map(async (host): Promise<CheckResult> => {
      const name = `DNS for ${host}`;
      try {
        const found = await dns.lookup(host, { all: true });
        return { name, verdict: 'pass', detail: `${host} → ${found.map((a) => a.address).join(', ')} (must be this server's public address)` };
      } catch (error) {
        return {
          name,
          verdict: 'fail',
          detail: `${host} does not resolve (${(error as NodeJS.ErrnoException).code})`,
          fix: `Create an A (and AAAA, if you have IPv6) record for ${host} pointing at this server's public address; ACME validation needs it.`,
        };
      }
    }),
  );
}

export function checkConnector(config: ResolvedConfig, now = Date.now()): CheckResult[] {
  if (!config.tunnel.enabled) return [];
  const name = 'home connector attached';
  const status = readStatusFile(statusFilePath(config.dataDir));
  if (!status) return [{ name, verdict: 'warn', detail: 'no tunnel status yet: the gateway has not run with this data dir', fix: 'Start porthole serve, then check again.' }];
  if (now - Date.parse(status.writtenAt) > 60_000)
    return [{ name, verdict: 'warn', detail: `the status is old (${status.writtenAt}): is the gateway running?`, fix: 'Start porthole serve, then check again.' }];
  if (status.connectors.length > 0) return [{ name, verdict: 'pass', detail: status.connectors.map((c) => `${c.name} since ${c.since}`).join(', ') }];
  return [
    {
      name,
      verdict: 'fail',
      detail: status.offlineSince ? `none; offline since ${status.offlineSince}` : 'none has attached yet',
      fix: 'At home run porthole connect with a token from "porthole tunnel token create"; it must reach tunnel.publicAddress on port 443 (see its log).',
    },
  ];
}
