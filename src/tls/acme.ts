// Certificates from an ACME CA (Let's Encrypt by default) for each public name of the gateway: issued at
// start when missing, renewed at about two thirds of their lifetime, retried with backoff after a failure,
// and handed to LiveCertificates so the next handshake uses them (no restart, open connections untouched).
// The account key and the certificates live in dataDir/acme/<CA>/, owner-only. A failure is logged with the
// CA's own reason and what to check; whatever certificate was serving keeps serving.
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import acme from 'acme-client';
import type { Logger } from '../log.js';
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
  live: LiveCertificates;
  logger: Logger;
  backoff?: BackoffPolicy;
  random?: () => number;
  /** How fast acme-client polls order and challenge status; the CA's pace in production, shorter in tests. */
  pollMinMs?: number;
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

/** Owner-only directory, even when it already existed with looser bits. */
function privateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

function writePrivate(file: string, text: string): void {
  fs.writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  fs.chmodSync(`${file}.tmp`, 0o600);
  fs.renameSync(`${file}.tmp`, file);
}

/** dataDir/acme/<host of the CA>-<hash>: staging and production (or two CAs) never share keys or certificates. */
export function acmeDirFor(dataDir: string, directoryUrl: string): string {
  const url = new URL(directoryUrl);
  const tag = crypto.createHash('sha256').update(directoryUrl).digest('hex').slice(0, 8);
  return path.join(dataDir, 'acme', `${url.hostname.replace(/[^a-z0-9.-]/gi, '_')}-${tag}`);
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
  private readonly dir: string;
  private readonly certDir: string;
  private readonly httpTokens = new Map<string, string>();
  private readonly states = new Map<string, NameState>();
  private client?: acme.Client;
  /** One order at a time: kinder to the CA and to the account registration. */
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: AcmeManagerOptions) {
    super();
    this.dir = acmeDirFor(options.dataDir, options.directoryUrl);
    this.certDir = path.join(this.dir, 'certs');
    for (const name of options.names) this.states.set(name.toLowerCase(), { failures: 0 });
  }

  /** The key authorization for an HTTP-01 token, or undefined for a token we never published. */
  answerHttpChallenge(token: string): string | undefined {
    return this.httpTokens.get(token);
  }

  /** Serves what is stored, then schedules issuance or renewal for every name. */
  start(): void {
    privateDir(this.dir);
    privateDir(this.certDir);
    for (const [name, state] of this.states) {
      const stored = this.readStored(name);
      if (stored) {
        try {
          this.options.live.set(name, stored);
          state.current = lifetimeOf(stored.cert);
        } catch (error) {
          this.options.logger.warn({ name, err: (error as Error).message }, 'stored ACME certificate unusable; requesting a new one');
        }
      }
      this.schedule(name, state.current ? renewalTime(state.current, this.options.random) : Date.now());
    }
  }

  stop(): void {
    this.stopped = true;
    for (const state of this.states.values()) clearTimeout(state.timer);
  }

  /** Serial and lifetime of what is served for `name`, if anything was issued. */
  current(name: string): { serial: string; notBefore: Date; notAfter: Date } | undefined {
    const c = this.states.get(name.toLowerCase())?.current;
    return c && { serial: c.serial, notBefore: new Date(c.notBefore), notAfter: new Date(c.notAfter) };
  }

  private files(name: string) {
    return { cert: path.join(this.certDir, `${name}.crt.pem`), key: path.join(this.certDir, `${name}.key.pem`) };
  }

  private readStored(name: string): { cert: string; key: string } | undefined {
    const f = this.files(name);
    try {
      return { cert: fs.readFileSync(f.cert, 'utf8'), key: fs.readFileSync(f.key, 'utf8') };
    } catch {
      return undefined;
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
    this.queue = this.queue.then(() => this.issue(name));
  }

  private async getClient(): Promise<acme.Client> {
    if (this.client) return this.client;
    const keyFile = path.join(this.dir, 'account.key.pem');
    let accountKey: string;
    try {
      accountKey = fs.readFileSync(keyFile, 'utf8');
    } catch {
      accountKey = (await acme.crypto.createPrivateEcdsaKey()).toString();
      writePrivate(keyFile, accountKey);
    }
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

  private async issue(name: string): Promise<void> {
    if (this.stopped) return;
    const state = this.states.get(name)!;
    const renewal = state.current !== undefined;
    try {
      const client = await this.getClient();
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
          if (ch.type === 'http-01') this.httpTokens.set(ch.token, keyAuthorization);
          else if ((ch.type as string) === 'tls-alpn-01') {
            // ECDSA like the stand-in: OpenSSL keeps one certificate per key type, and a client preferring ECDSA
            // would otherwise be shown the stand-in instead of an RSA challenge certificate.
            const [alpnKey, alpnCert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey());
            this.options.live.setAlpnChallenge(authz.identifier.value, { cert: alpnCert.toString(), key: alpnKey.toString() });
          } else throw new Error(`the CA offered no ${challenge} challenge for ${name}`);
        },
        challengeRemoveFn: async (authz, ch) => {
          if (ch.type === 'http-01') this.httpTokens.delete(ch.token);
          else if ((ch.type as string) === 'tls-alpn-01') this.options.live.clearAlpnChallenge(authz.identifier.value);
        },
      });
      if (this.stopped) return;
      const pair = { cert, key: key.toString() };
      this.options.live.set(name, pair); // throws on a pair TLS cannot use: then nothing is stored either
      const f = this.files(name);
      writePrivate(f.key, pair.key);
      writePrivate(f.cert, pair.cert);
      state.current = lifetimeOf(cert);
      state.failures = 0;
      const event: IssuedEvent = { name, serial: state.current.serial, notBefore: new Date(state.current.notBefore), notAfter: new Date(state.current.notAfter), renewal };
      this.options.logger.info({ name, serial: event.serial, notAfter: event.notAfter.toISOString(), renewal }, renewal ? 'certificate renewed' : 'certificate issued');
      this.emit('issued', event);
      this.schedule(name, renewalTime(state.current, this.options.random));
    } catch (error) {
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
}
