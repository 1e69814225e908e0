// Certificates from an ACME CA (Let's Encrypt by default) for each public name of the gateway: issued at
// start when missing, renewed at about two thirds of their lifetime, retried with backoff after a failure,
// and handed to LiveCertificates so the next handshake uses them (no restart, open connections untouched).
// The account key, the certificates, the challenge answers and a renewal lock are kept by the store
// (Store.acme): with SQLite, owner-only files in dataDir/acme/<CA>/ as always; with Redis, shared by every
// gateway on it, so one account serves them all, any gateway answers a challenge another one asked for, only
// the gateway holding the lock orders, and the others swap in what it saved as soon as they hear of it.
// A failure is logged with the CA's own reason and what to check; whatever certificate was serving keeps serving.
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type * as AcmeClient from 'acme-client';
import type { Logger } from '../log.js';
import { acmeFilesDir, fileAcmeStore } from '../store/acme-files.js';
import type { AcmeStore, AcmeStoreEvent } from '../store/store.js';
import type { LiveCertificates } from './live.js';
import { DEFAULT_BACKOFF, MAX_TIMER_MS, renewalTime, retryDelay, type BackoffPolicy } from './schedule.js';

export const LETS_ENCRYPT = 'https://acme-v02.api.letsencrypt.org/directory';
export const LETS_ENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';

export type AcmeChallenge = 'http-01' | 'tls-alpn-01';

/** Config spelling of the directory: a known name or a URL. */
export function directoryUrlFor(directory: string): string {
  if (directory === 'letsencrypt') return LETS_ENCRYPT;
  if (directory === 'letsencrypt-staging') return LETS_ENCRYPT_STAGING;
  return directory;
}

export interface AcmeManagerOptions {
  directoryUrl: string;
  email?: string;
  /** External account binding (CAs that require it); the HMAC key as the CA gives it (base64url). */
  eab?: { kid: string; hmacKey: string };
  challenge: AcmeChallenge;
  /** DNS names, one certificate each (one name failing never holds up the others). */
  names: string[];
  dataDir: string;
  /** Where account, certificates, answers and the lock are kept (Store.acme); files in dataDir without one. */
  store?: AcmeStore;
  live: LiveCertificates;
  logger: Logger;
  backoff?: BackoffPolicy;
  random?: () => number;
  /** How fast acme-client polls order and challenge status; the CA's pace in production, shorter in tests. */
  pollMinMs?: number;
  /** While another gateway holds the renewal lock, look again after about this long (ms). */
  lockRetryMs?: number;
  /** How long the renewal lock is held at most when its holder dies mid-order (ms). */
  lockTtlMs?: number;
}

/** An order (with the CA's polling) takes minutes at most; a dead holder's lock frees itself after this. */
const DEFAULT_LOCK_TTL_MS = 10 * 60_000;
const DEFAULT_LOCK_RETRY_MS = 60_000;
/** Challenge answers outlive any order; they are removed when the order ends anyway. */
const CHALLENGE_TTL_MS = 15 * 60_000;

/** acme-client and its crypto stack cost a gateway ~25 MiB; only gateways that order certificates load them. */
async function loadAcmeClient(): Promise<typeof AcmeClient> {
  const loaded = (await import('acme-client')) as typeof AcmeClient & { default?: typeof AcmeClient };
  return loaded.default ?? loaded;
}

/** A certificate another gateway saved and this one now serves. */
export interface AdoptedEvent {
  name: string;
  serial: string;
  notAfter: Date;
}

export interface IssuedEvent {
  name: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  renewal: boolean;
}

export interface FailedEvent {
  name: string;
  /** What the CA (or the network) said. */
  reason: string;
  /** What the operator should look at. */
  check: string;
  retryInMs: number;
}

interface NameState {
  timer?: NodeJS.Timeout;
  failures: number;
  current?: { serial: string; notBefore: number; notAfter: number };
}

/** <host of the CA>-<hash>: staging and production (or two CAs) never share keys or certificates. */
export function acmeTagFor(directoryUrl: string): string {
  const url = new URL(directoryUrl);
  const tag = crypto.createHash('sha256').update(directoryUrl).digest('hex').slice(0, 8);
  return `${url.hostname.replace(/[^a-z0-9.-]/gi, '_')}-${tag}`;
}

/** dataDir/acme/<tag>: where the account key and certificates of one CA live on a single gateway. */
export function acmeDirFor(dataDir: string, directoryUrl: string): string {
  return acmeFilesDir(dataDir, acmeTagFor(directoryUrl));
}

/** A single gateway's existing account key, read without creating anything. */
function readLocalAccountKey(dir: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dir, 'account.key.pem'), 'utf8') || undefined;
  } catch {
    return undefined;
  }
}

function lifetimeOf(certPem: string): { serial: string; notBefore: number; notAfter: number } {
  const leaf = new crypto.X509Certificate(certPem);
  return { serial: leaf.serialNumber, notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo) };
}

/** Turns what went wrong into the operator's next step. */
export function explainFailure(error: unknown, name: string, challenge: AcmeChallenge, directoryUrl: string): { reason: string; check: string } {
  const e = error as NodeJS.ErrnoException & { response?: unknown };
  const reason = (e?.message || String(error)).replace(/\s+/g, ' ').trim();
  const port = challenge === 'http-01' ? 'port 80 (HTTP-01)' : 'port 443 (TLS-ALPN-01)';
  if (
    e?.code &&
    [
      'ENOTFOUND',
      'ECONNREFUSED',
      'ETIMEDOUT',
      'ECONNRESET',
      'EAI_AGAIN',
      'CERT_HAS_EXPIRED',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
    ].includes(e.code)
  ) {
    return {
      reason,
      check: `the CA's directory ${directoryUrl} could not be reached (${e.code}): check the directory URL and that this machine can make outgoing HTTPS connections`,
    };
  }
  if (/^the shared store did not answer/.test(reason)) {
    return { reason, check: 'the store (store.url) must be reachable: the renewal lock is taken there before ordering, so that only one gateway orders' };
  }
  if (/rate ?limit|too many/i.test(reason)) {
    return { reason, check: `the CA is rate-limiting this account or name: wait, and try changes against tls.acme.directory: letsencrypt-staging first` };
  }
  if (/externalAccountBinding|external account/i.test(reason)) {
    return {
      reason,
      check: "this CA requires an external account binding: set tls.acme.eab (kid and hmacKey from the CA's account page), and check that the key is the current one",
    };
  }
  if (/caa/i.test(reason)) {
    return { reason, check: `a DNS CAA record for ${name} forbids this CA: allow it in the CAA record or remove the record` };
  }
  return {
    reason,
    check: `check that the DNS A/AAAA records of ${name} point at this server's public address, and that ${port} on that address reaches Porthole from the internet (router forward, firewall, no other program or proxy on the port)`,
  };
}

export class AcmeManager extends EventEmitter {
  private readonly ca: string;
  private readonly store: AcmeStore;
  /** Files of a single gateway: imported once into a shared store that has none yet. */
  private readonly localFiles: AcmeStore;
  /** This process's name on the renewal lock. */
  private readonly holder = crypto.randomBytes(9).toString('base64url');
  private readonly httpTokens = new Map<string, string>();
  private readonly states = new Map<string, NameState>();
  private client?: AcmeClient.Client;
  /** One order at a time: kinder to the CA and to the account registration. */
  private queue: Promise<void> = Promise.resolve();
  private unwatch?: () => void;
  private stopped = false;

  constructor(private readonly options: AcmeManagerOptions) {
    super();
    this.ca = acmeTagFor(options.directoryUrl);
    this.localFiles = fileAcmeStore(options.dataDir);
    this.store = options.store ?? this.localFiles;
    for (const name of options.names) this.states.set(name.toLowerCase(), { failures: 0 });
  }

  /**
   * The key authorization for an HTTP-01 token, or undefined for a token nobody published: this gateway's own
   * answers at once, other gateways' from the store (a store that does not answer: no answer, the CA retries).
   */
  answerHttpChallenge(token: string): string | undefined | Promise<string | undefined> {
    const own = this.httpTokens.get(token);
    if (own !== undefined || !this.store.shared) return own;
    return this.store.httpChallenge(token).catch(() => undefined);
  }

  /** Serves what is stored, then schedules issuance or renewal for every name. */
  async start(): Promise<void> {
    this.unwatch = this.store.watch((event) => this.onStoreEvent(event));
    // A gateway moving to a shared store brings its account at once, so whichever gateway orders next uses it.
    const localAccount = this.store.shared ? readLocalAccountKey(acmeDirFor(this.options.dataDir, this.options.directoryUrl)) : undefined;
    if (localAccount) {
      await this.store
        .accountKey(this.ca, async () => localAccount)
        .catch((error: unknown) => {
          this.options.logger.warn({ err: (error as Error).message }, 'the ACME account key in dataDir could not be imported into the store; trying again when ordering');
        });
    }
    for (const [name, state] of this.states) {
      let stored: { cert: string; key: string } | undefined;
      try {
        stored = await this.storedCertificate(name);
      } catch (error) {
        this.options.logger.warn({ name, err: (error as Error).message }, 'stored ACME certificate could not be read; trying again when renewing');
      }
      if (stored) this.adopt(name, stored, false);
      if (this.stopped) return;
      if (!state.timer) this.schedule(name, state.current ? renewalTime(state.current, this.options.random) : Date.now());
    }
  }

  stop(): void {
    this.stopped = true;
    this.unwatch?.();
    for (const state of this.states.values()) clearTimeout(state.timer);
  }

  /** Serial and lifetime of what is served for `name`, if anything was issued. */
  current(name: string): { serial: string; notBefore: Date; notAfter: Date } | undefined {
    const c = this.states.get(name.toLowerCase())?.current;
    return c && { serial: c.serial, notBefore: new Date(c.notBefore), notAfter: new Date(c.notAfter) };
  }

  /** The store's certificate; a shared store without one takes this gateway's existing files (never lost). */
  private async storedCertificate(name: string): Promise<{ cert: string; key: string } | undefined> {
    const stored = await this.store.certificate(this.ca, name);
    if (stored || !this.store.shared) return stored;
    const local = await this.localFiles.certificate(this.ca, name);
    if (!local) return undefined;
    try {
      lifetimeOf(local.cert);
    } catch {
      return undefined;
    }
    await this.store.saveCertificate(this.ca, name, local);
    this.options.logger.info({ name }, 'existing ACME certificate from dataDir imported into the shared store');
    return (await this.store.certificate(this.ca, name)) ?? local;
  }

  /**
   * Serves `pair` for `name` when it is newer than what is served (or nothing is), and moves the renewal to its
   * lifetime. `announce`: it came from another gateway (logged and emitted as 'adopted').
   */
  private adopt(name: string, pair: { cert: string; key: string }, announce: boolean): boolean {
    const state = this.states.get(name);
    if (!state) return false;
    let life: { serial: string; notBefore: number; notAfter: number };
    try {
      life = lifetimeOf(pair.cert);
      if (state.current && (life.serial === state.current.serial || life.notAfter < state.current.notAfter)) return false;
      this.options.live.set(name, pair);
    } catch (error) {
      this.options.logger.warn({ name, err: (error as Error).message }, 'stored ACME certificate unusable; requesting a new one');
      return false;
    }
    state.current = life;
    state.failures = 0;
    if (announce) {
      this.options.logger.info({ name, serial: life.serial, notAfter: new Date(life.notAfter).toISOString() }, 'certificate from another gateway now served');
      this.emit('adopted', { name, serial: life.serial, notAfter: new Date(life.notAfter) } satisfies AdoptedEvent);
    }
    if (!this.stopped && (announce || state.timer)) this.schedule(name, renewalTime(life, this.options.random));
    return true;
  }

  private onStoreEvent(event: AcmeStoreEvent): void {
    if (this.stopped) return;
    if (event.kind === 'tls-alpn-01') {
      if (this.options.challenge !== 'tls-alpn-01') return;
      try {
        if (event.pair) this.options.live.setAlpnChallenge(event.name, event.pair);
        else this.options.live.clearAlpnChallenge(event.name);
      } catch (error) {
        this.options.logger.warn({ name: event.name, err: (error as Error).message }, 'TLS-ALPN-01 answer from the shared store unusable');
      }
      return;
    }
    if (event.kind === 'certificate' && event.ca !== this.ca) return;
    const names = event.kind === 'certificate' ? [event.name] : [...this.states.keys()];
    for (const name of names) {
      if (!this.states.has(name)) continue;
      this.store.certificate(this.ca, name).then(
        (pair) => pair && !this.stopped && this.adopt(name, pair, true),
        (error: unknown) => this.options.logger.warn({ name, err: (error as Error).message }, 'certificate from another gateway could not be read; reading it again when renewing'),
      );
    }
  }

  private schedule(name: string, at: number): void {
    const state = this.states.get(name)!;
    clearTimeout(state.timer);
    if (this.stopped) return;
    const wait = Math.max(0, at - Date.now());
    // Long waits are taken in steps: a Node timer fires at once when asked for more than ~24.8 days.
    state.timer = setTimeout(() => (wait > MAX_TIMER_MS ? this.schedule(name, at) : this.enqueue(name)), Math.min(wait, MAX_TIMER_MS));
    state.timer.unref();
  }

  private enqueue(name: string): void {
    this.queue = this.queue.then(() => this.issueUnderLock(name));
  }

  private async getClient(): Promise<AcmeClient.Client> {
    if (this.client) return this.client;
    const acme = await loadAcmeClient();
    const accountKey = await this.store.accountKey(this.ca, async () => {
      // A gateway moving to a shared store brings the account it already has.
      if (this.store.shared) {
        const local = readLocalAccountKey(acmeDirFor(this.options.dataDir, this.options.directoryUrl));
        if (local) return local;
      }
      return (await acme.crypto.createPrivateEcdsaKey()).toString();
    });
    const pollMin = this.options.pollMinMs ?? 5000;
    this.client = new acme.Client({
      directoryUrl: this.options.directoryUrl,
      accountKey,
      externalAccountBinding: this.options.eab,
      backoffMin: pollMin,
      backoffMax: Math.max(pollMin * 6, 1000),
      backoffAttempts: 10,
    });
    return this.client;
  }

  /**
   * Orders only while holding the lock, and only when the store does not already hold a newer certificate
   * than the one served (another gateway renewed while this one waited): then that one is taken instead.
   */
  private async issueUnderLock(name: string): Promise<void> {
    if (this.stopped) return;
    const state = this.states.get(name)!;
    let locked: boolean;
    try {
      locked = await this.store.lock(this.ca, name, this.holder, this.options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS);
    } catch (error) {
      return this.failed(name, state, new Error(`the shared store did not answer: ${(error as Error).message}`), state.current !== undefined);
    }
    if (this.stopped) return;
    if (!locked) {
      // Another gateway is ordering: its certificate arrives by the store's event; look again later in any case.
      const retry = this.options.lockRetryMs ?? DEFAULT_LOCK_RETRY_MS;
      this.schedule(name, Date.now() + retry / 2 + (this.options.random ?? Math.random)() * retry);
      return;
    }
    try {
      const stored = await this.store.certificate(this.ca, name).catch(() => undefined);
      if (stored && this.adoptIfFresh(name, stored)) return;
      await this.issue(name);
    } finally {
      await this.store.unlock(this.ca, name, this.holder).catch(() => undefined);
    }
  }

  /** Takes a stored certificate that no gateway would renew yet (before the earliest jittered renewal time). */
  private adoptIfFresh(name: string, pair: { cert: string; key: string }): boolean {
    let life: { notBefore: number; notAfter: number };
    try {
      life = lifetimeOf(pair.cert);
    } catch {
      return false;
    }
    if (Date.now() >= renewalTime(life, () => 0)) return false;
    const state = this.states.get(name)!;
    if (!this.adopt(name, pair, true)) {
      if (!state.current || state.current.notAfter < life.notAfter) return false;
      this.schedule(name, renewalTime(state.current, this.options.random));
    }
    return true;
  }

  private async issue(name: string): Promise<void> {
    if (this.stopped) return;
    const state = this.states.get(name)!;
    const renewal = state.current !== undefined;
    try {
      const client = await this.getClient();
      const acme = await loadAcmeClient();
      const [key, csr] = await acme.crypto.createCsr({ altNames: [name] }, await acme.crypto.createPrivateEcdsaKey());
      const { challenge } = this.options;
      const cert = await client.auto({
        csr,
        email: this.options.email,
        // Using an ACME CA means accepting its subscriber agreement (said next to tls.acme in the example config).
        termsOfServiceAgreed: true,
        challengePriority: [challenge],
        // acme-client's own pre-check dials the name from here, which fails behind NAT without hairpinning;
        // the CA's verdict is the one that counts.
        skipChallengeVerification: true,
        challengeCreateFn: async (authz, ch, keyAuthorization) => {
          if (ch.type === 'http-01') {
            this.httpTokens.set(ch.token, keyAuthorization);
            await this.store.putChallenge({ type: 'http-01', token: ch.token, keyAuthorization }, CHALLENGE_TTL_MS);
          } else if ((ch.type as string) === 'tls-alpn-01') {
            // ECDSA like the stand-in: OpenSSL keeps one certificate per key type, and a client preferring ECDSA
            // would otherwise be shown the stand-in instead of an RSA challenge certificate.
            const [alpnKey, alpnCert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey());
            const answer = { cert: alpnCert.toString(), key: alpnKey.toString() };
            this.options.live.setAlpnChallenge(authz.identifier.value, answer);
            await this.store.putChallenge({ type: 'tls-alpn-01', name: authz.identifier.value, ...answer }, CHALLENGE_TTL_MS);
          } else throw new Error(`the CA offered no ${challenge} challenge for ${name}`);
        },
        challengeRemoveFn: async (authz, ch) => {
          if (ch.type === 'http-01') {
            this.httpTokens.delete(ch.token);
            await this.store.removeChallenge('http-01', ch.token);
          } else if ((ch.type as string) === 'tls-alpn-01') {
            this.options.live.clearAlpnChallenge(authz.identifier.value);
            await this.store.removeChallenge('tls-alpn-01', authz.identifier.value);
          }
        },
      });
      if (this.stopped) return;
      const pair = { cert, key: key.toString() };
      this.options.live.set(name, pair); // throws on a pair TLS cannot use: then nothing is stored either
      state.current = lifetimeOf(cert);
      state.failures = 0;
      await this.store.saveCertificate(this.ca, name, pair);
      const event: IssuedEvent = { name, serial: state.current.serial, notBefore: new Date(state.current.notBefore), notAfter: new Date(state.current.notAfter), renewal };
      this.options.logger.info({ name, serial: event.serial, notAfter: event.notAfter.toISOString(), renewal }, renewal ? 'certificate renewed' : 'certificate issued');
      this.emit('issued', event);
      this.schedule(name, renewalTime(state.current, this.options.random));
    } catch (error) {
      this.failed(name, state, error, renewal);
    }
  }

  private failed(name: string, state: NameState, error: unknown, renewal: boolean): void {
    if (this.stopped) return;
    const { reason, check } = explainFailure(error, name, this.options.challenge, this.options.directoryUrl);
    const retryInMs = retryDelay(state.failures++, this.options.backoff ?? DEFAULT_BACKOFF, this.options.random);
    const serving = state.current
      ? `the current certificate (valid until ${new Date(state.current.notAfter).toISOString()}) keeps serving`
      : 'a self-signed stand-in keeps serving until then';
    this.options.logger.error(
      { name, reason, check, retryInSeconds: Math.round(retryInMs / 1000), ca: this.options.directoryUrl },
      `certificate for ${name} not ${renewal ? 'renewed' : 'issued'}: ${reason}. What to check: ${check}. Retrying later; ${serving}`,
    );
    const event: FailedEvent = { name, reason, check, retryInMs };
    this.emit('failed', event);
    this.schedule(name, Date.now() + retryInMs);
  }
}
