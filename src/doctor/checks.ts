// `porthole doctor`: the checks behind the failures people hit when putting Immich online (a config still full
// of placeholders, a secret that is not set, DNS pointing elsewhere, a taken port, an expired certificate, 502
// because the gateway cannot reach Immich, PIN mail that never arrives, a home connector that is not attached).
// Every check runs whatever failed before it, each says what it found and, when something is wrong, the fix.
// The doctor creates nothing: no data directory, no database, no certificate.
import Database from 'better-sqlite3';
import dns from 'node:dns/promises';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { ConfigError, loadConfigFileDetailed, type ResolvedConfig } from '../config/load.js';
import { createSmtpTransport } from '../mail/smtp.js';
import { createDirectOrigin } from '../origin/direct.js';
import { OriginUnreachableError, toOriginError } from '../origin/errors.js';
import type { Origin } from '../origin/origin.js';
import { originRequest, readSmallBody } from '../origin/request.js';
import { readStatusFile, statusFilePath } from '../tunnel/status.js';
import { checkCertificates, checkPublicNames, checkRedisStore, sharedAcmeCertificates } from './deploy-checks.js';
import type { CheckResult, Verdict } from './result.js';

export type { CheckResult } from './result.js';

/** The Immich releases Porthole's share-host table was written and tested against. */
export const TESTED_IMMICH_VERSIONS = ['3.1', '2.7'] as const;

const TIMEOUT_MS = 5_000;
/** A tunnel status snapshot older than this means the gateway is not running (it rewrites it every few seconds). */
const STATUS_STALE_MS = 30_000;

export interface DoctorOptions {
  env?: NodeJS.ProcessEnv;
  /** Send a real test mail to this address. */
  sendTest?: string;
}

/** GET of a JSON answer from Immich, through the same origin transport the gateway uses (src/origin). */
async function getJson(origin: Origin, path: string): Promise<{ status: number; body: unknown; text: string }> {
  const answer = await originRequest(origin, { path, headers: { accept: 'application/json' }, timeoutMs: TIMEOUT_MS });
  const raw = await readSmallBody(answer.body, 64 * 1024);
  if (raw === null) throw new Error('answer too large');
  const text = raw.toString('utf8');
  try {
    return { status: answer.status, body: JSON.parse(text), text };
  } catch {
    return { status: answer.status, body: text, text };
  }
}

const EXAMPLE_DOMAIN = /(^|\.|@)(example\.(com|org|net)|[a-z0-9-]+\.example)$/i;

/** Values copied from porthole.example.yaml that name nobody's real hosts or people. */
export function checkPlaceholders(config: ResolvedConfig): CheckResult {
  const name = 'no placeholder values';
  const found: string[] = [];
  const check = (key: string, value: string | undefined) => {
    if (value && EXAMPLE_DOMAIN.test(value.replace(/>$/, '').replace(/^.*</, ''))) found.push(`${key}: ${value}`);
  };
  check('hosts.private', config.hosts.private);
  check('hosts.share', config.hosts.share);
  check('mail.from', config.mail.from);
  if (config.mail.transport === 'smtp') {
    check('mail.smtp.host', config.mail.smtp?.host);
    check('mail.smtp.user', config.mail.smtp?.user);
  }
  config.gate.allow.forEach((entry, i) => check(`gate.allow[${i}]`, entry));
  check('tunnel.publicAddress', config.tunnel.publicAddress?.replace(/:\d+$/, ''));
  if (found.length === 0) return { name, verdict: 'pass', detail: 'no example.com or *.example names left' };
  return {
    name,
    verdict: 'fail',
    detail: `still the example's: ${found.join('; ')}`,
    fix: 'Replace them with your own host names, mail server and addresses (`porthole init` asks for each).',
  };
}

const isPrivateAddress = (address: string) => /^(10\.|127\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|169\.254\.|::1$|f[cd][0-9a-f]{2}:|fe80:)/i.test(address);

/** Where a public host name points: people's browsers must reach this gateway there. */
export async function checkHostDns(config: ResolvedConfig, which: 'private' | 'share'): Promise<CheckResult> {
  const host = config.hosts[which];
  const name = `DNS for the ${which} host`;
  if (!host) return { name, verdict: 'skip', detail: 'hosts.share is not set' };
  try {
    const found = await dns.lookup(host, { all: true });
    const addresses = found.map((a) => a.address);
    const local = addresses.every(isPrivateAddress);
    return {
      name,
      verdict: local && config.publicScheme === 'https' ? 'warn' : 'pass',
      detail: `${host} → ${addresses.join(', ')}${local ? ' (a private address: reachable only on this network)' : ''}`,
      fix: local ? 'For access from outside, point the name at the public address of this gateway (an A/AAAA record).' : undefined,
    };
  } catch (error) {
    return {
      name,
      verdict: 'fail',
      detail: `${host} does not resolve (${(error as NodeJS.ErrnoException).code})`,
      fix: `Create a DNS record: ${host} A (or AAAA) → the public address of this gateway (or a CNAME to its name).`,
    };
  }
}

export async function checkOriginName(config: ResolvedConfig): Promise<CheckResult> {
  const { hostname } = new URL(config.origin.url);
  const name = 'origin host name resolves';
  if (config.tunnel.enabled) return { name, verdict: 'skip', detail: 'tunnel mode: the home connector reaches Immich, not this gateway' };
  if (net.isIP(hostname.replace(/^\[|\]$/g, ''))) return { name, verdict: 'pass', detail: `${hostname} is an address` };
  try {
    const found = await dns.lookup(hostname, { all: true });
    return { name, verdict: 'pass', detail: `${hostname} → ${found.map((a) => a.address).join(', ')}` };
  } catch (error) {
    return {
      name,
      verdict: 'fail',
      detail: `${hostname} does not resolve (${(error as NodeJS.ErrnoException).code})`,
      fix: 'Put Porthole on the same Docker network as Immich (docker network connect), or fix origin.url.',
    };
  }
}

export async function checkOriginIsImmich(config: ResolvedConfig): Promise<CheckResult> {
  const name = 'origin answers like Immich';
  if (config.tunnel.enabled) return { name, verdict: 'skip', detail: 'tunnel mode: see the connector check; the connector reaches Immich at home' };
  const origin = createDirectOrigin(new URL(config.origin.url));
  try {
    const { status, body } = await getJson(origin, '/api/server/ping');
    if (status !== 200 || (body as { res?: unknown })?.res !== 'pong') {
      return {
        name,
        verdict: 'fail',
        detail: `${config.origin.url}/api/server/ping answered ${status}, not Immich's pong`,
        fix: 'origin.url points at something else: use the immich-server container and its port (2283).',
      };
    }
    const version = await getJson(origin, '/api/server/version').catch(() => null);
    const v = version?.body as { major?: unknown; minor?: unknown; patch?: unknown } | undefined;
    if (!v || typeof v.major !== 'number' || typeof v.minor !== 'number') {
      return { name, verdict: 'warn', detail: `${config.origin.url} answered pong but not its version`, fix: 'Check that this is Immich (GET /api/server/version).' };
    }
    const text = `v${v.major}.${v.minor}.${String(v.patch ?? 0)}`;
    const tested = (TESTED_IMMICH_VERSIONS as readonly string[]).includes(`${v.major}.${v.minor}`);
    return tested
      ? { name, verdict: 'pass', detail: `${config.origin.url} is Immich ${text} (a version Porthole was tested with)` }
      : {
          name,
          verdict: 'warn',
          detail: `${config.origin.url} is Immich ${text}; Porthole was tested with ${TESTED_IMMICH_VERSIONS.map((t) => `v${t}`).join(' and ')}`,
          fix: 'It will probably work; a newer Immich may add share-page calls the share host does not know yet (they get a 404). Check the release notes for Porthole.',
        };
  } catch (error) {
    const e = toOriginError(error);
    const reason = e instanceof OriginUnreachableError ? e.reason : null;
    const fix =
      reason === 'connection-refused'
        ? 'Nothing listens there: is Immich running, and is the port in origin.url the one it listens on (2283)?'
        : e.code === 'ORIGIN_TIMEOUT'
          ? 'No answer: a firewall may drop the traffic, or the host is wrong.'
          : reason === 'name-not-found'
            ? "The origin host name does not resolve: put Porthole on Immich's Docker network, or fix origin.url."
            : 'See the error code; check origin.url.';
    return { name, verdict: 'fail', detail: `cannot reach ${config.origin.url} (${e.systemCode ?? e.code})`, fix };
  } finally {
    await origin.close();
  }
}

/** Writable without writing: access(2) on the folder, or on the nearest existing parent if it is not there yet. */
export async function checkDataDir(config: ResolvedConfig): Promise<CheckResult> {
  const name = 'data directory is writable';
  const dir = config.dataDir;
  let existing = dir;
  while (!fs.existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  try {
    if (!fs.statSync(existing).isDirectory()) {
      return { name, verdict: 'fail', detail: `${existing} is a file, not a folder`, fix: 'Point dataDir at a folder.' };
    }
    fs.accessSync(existing, fs.constants.W_OK | fs.constants.X_OK);
  } catch (error) {
    return {
      name,
      verdict: 'fail',
      detail: `${existing}: ${(error as NodeJS.ErrnoException).code}${existing === dir ? '' : ` (${dir} does not exist yet and cannot be created there)`}`,
      fix: 'Create it and give the user Porthole runs as write access (mount a volume in Docker).',
    };
  }
  if (existing !== dir) return { name, verdict: 'pass', detail: `${dir} does not exist yet; it will be created at the first start` };
  const mode = fs.statSync(dir).mode & 0o777;
  if (mode & 0o007) {
    return { name, verdict: 'warn', detail: `${dir} is readable by other users (mode ${mode.toString(8)})`, fix: `chmod 700 ${dir}` };
  }
  return { name, verdict: 'pass', detail: dir };
}

/** Whether what answers on a taken port is a Porthole gateway for these hosts (then the port is ours). */
async function isPortholeListening(config: ResolvedConfig, port: number, secure: boolean): Promise<boolean> {
  const host = config.listen.address === '0.0.0.0' ? '127.0.0.1' : config.listen.address === '::' ? '::1' : config.listen.address;
  return new Promise((settle) => {
    // The probe never keeps a connection open to whatever answered.
    const resolve = (ours: boolean) => {
      settle(ours);
      req.destroy();
    };
    const options = { host, port, path: '/.porthole/login', method: 'GET', headers: { host: config.hosts.private }, timeout: TIMEOUT_MS, agent: false as const };
    const onResponse = (res: http.IncomingMessage) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text.length < 64 * 1024 ? (text += chunk) : undefined));
      res.on('end', () => resolve(/Protected by Porthole/.test(text)));
      res.on('error', () => resolve(false));
    };
    const req = secure
      ? (() => {
          // Only asking who answers; the certificate is judged by its own check.
          const socket = tls.connect({ host, port, servername: config.hosts.private, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
          socket.on('error', () => settle(false));
          return http.request({ ...options, createConnection: () => socket }, onResponse);
        })()
      : http.request(options, onResponse);
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export async function checkPort(config: ResolvedConfig, which: 'http' | 'https'): Promise<CheckResult> {
  const port = which === 'http' ? config.listen.httpPort : config.listen.httpsPort;
  const key = which === 'http' ? 'listen.httpPort' : 'listen.httpsPort';
  const name = `${which.toUpperCase()} port is free`;
  const { address } = config.listen;
  if (port === undefined) return { name, verdict: 'skip', detail: `${key} is not set${config.publicScheme === 'https' ? ': a TLS proxy in front of Porthole is expected' : ''}` };
  if (port === 0) return { name, verdict: 'pass', detail: `${key} is 0: any free port` };
  const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    const probe = net.createServer();
    probe.once('error', resolve);
    probe.listen(port, address, () => probe.close(() => resolve(null)));
  });
  if (!error) return { name, verdict: 'pass', detail: `${address}:${port}` };
  if (error.code === 'EADDRINUSE') {
    if (await isPortholeListening(config, port, which === 'https'))
      return { name, verdict: 'pass', detail: `${address}:${port} is in use by a running Porthole for ${config.hosts.private}` };
    return { name, verdict: 'fail', detail: `${address}:${port} is taken by another program`, fix: `Stop it (\`ss -ltnp 'sport = :${port}'\` names it) or change ${key}.` };
  }
  if (error.code === 'EACCES')
    return {
      name,
      verdict: 'fail',
      detail: `${address}:${port}: EACCES`,
      fix: 'Ports below 1024 need privileges: run with CAP_NET_BIND_SERVICE, or use a higher port behind a port forward.',
    };
  if (error.code === 'EADDRNOTAVAIL')
    return { name, verdict: 'fail', detail: `${address}: not an address of this machine`, fix: "Use 0.0.0.0, or one of this machine's addresses, in listen.address." };
  return { name, verdict: 'fail', detail: `${address}:${port}: ${error.code}`, fix: `Check ${key} and listen.address.` };
}

const DAY_MS = 86_400_000;

/** The certificate the HTTPS port will present: readable, matching its key, covering both hosts, not expiring. */
export function checkCertificate(config: ResolvedConfig, now = Date.now()): CheckResult {
  const name = 'HTTPS certificate';
  if (config.listen.httpsPort === undefined) return { name, verdict: 'skip', detail: 'no HTTPS port (listen.httpsPort)' };
  const hosts = [config.hosts.private, config.hosts.share].filter((h): h is string => Boolean(h));
  let certPem: string;
  let selfSigned = false;
  if (config.tls.certFile && config.tls.keyFile) {
    try {
      certPem = fs.readFileSync(config.tls.certFile, 'utf8');
      const keyPem = fs.readFileSync(config.tls.keyFile, 'utf8');
      tls.createSecureContext({ cert: certPem, key: keyPem });
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      return {
        name,
        verdict: 'fail',
        detail: e.code ? `${e.path ?? 'tls file'}: ${e.code}` : `the certificate and key do not fit together (${e.message})`,
        fix: 'Check tls.certFile and tls.keyFile: both readable PEM files of one pair.',
      };
    }
  } else {
    const certFile = path.join(config.dataDir, 'tls', 'gateway-cert.pem');
    if (!fs.existsSync(certFile)) {
      return {
        name,
        verdict: config.tunnel.enabled ? 'pass' : 'warn',
        detail: 'no tls.certFile: a self-signed certificate will be made at the first start' + (config.tunnel.enabled ? ' (connectors pin it through their token)' : ''),
        fix: config.tunnel.enabled ? undefined : 'Browsers warn about a self-signed certificate: set tls.certFile and tls.keyFile, or put a TLS proxy in front.',
      };
    }
    certPem = fs.readFileSync(certFile, 'utf8');
    selfSigned = true;
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (error) {
    return { name, verdict: 'fail', detail: `not a certificate (${(error as Error).message})`, fix: 'tls.certFile must be a PEM certificate (the full chain).' };
  }
  const expires = Date.parse(cert.validTo);
  const days = Math.floor((expires - now) / DAY_MS);
  const uncovered = hosts.filter((h) => cert.checkHost(h) === undefined);
  const what = `${selfSigned ? 'self-signed, ' : ''}valid until ${new Date(expires).toISOString().slice(0, 10)}`;
  if (expires <= now) return { name, verdict: 'fail', detail: `expired on ${new Date(expires).toISOString().slice(0, 10)}`, fix: 'Renew the certificate (and reload Porthole).' };
  if (uncovered.length > 0 && !selfSigned)
    return { name, verdict: 'fail', detail: `${what}, but not for ${uncovered.join(', ')}`, fix: 'Get a certificate that names both hosts (or a wildcard).' };
  if (days < 14) return { name, verdict: 'warn', detail: `${what}: ${days} days left`, fix: 'Renew it soon.' };
  if (selfSigned && !config.tunnel.enabled)
    return { name, verdict: 'warn', detail: what, fix: 'Browsers warn about a self-signed certificate: set tls.certFile and tls.keyFile, or put a TLS proxy in front.' };
  return { name, verdict: 'pass', detail: what };
}

/** Tunnel mode: an active token exists, the gateway runs, and a home connector is attached to it. */
export function checkTunnel(config: ResolvedConfig, now = Date.now()): CheckResult[] {
  if (!config.tunnel.enabled) return [{ name: 'tunnel', verdict: 'skip', detail: 'tunnel.enabled is false (direct mode)' }];
  const results: CheckResult[] = [];
  const db = path.join(config.dataDir, 'porthole.db');
  let active = 0;
  if (fs.existsSync(db)) {
    const handle = new Database(db, { readonly: true, fileMustExist: true });
    try {
      const table = handle.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'tunnel_tokens'").get();
      if (table) active = (handle.prepare('SELECT count(*) AS n FROM tunnel_tokens WHERE revoked_at IS NULL').get() as { n: number }).n;
    } finally {
      handle.close();
    }
  }
  results.push(
    active > 0
      ? { name: 'tunnel token', verdict: 'pass', detail: `${active} active token${active === 1 ? '' : 's'}` }
      : {
          name: 'tunnel token',
          verdict: 'fail',
          detail: 'no active tunnel token',
          fix: 'Create one: porthole tunnel token create --config <this file>, and use it with `porthole connect` at home.',
        },
  );
  if (!config.tunnel.publicAddress) {
    results.push({
      name: 'tunnel address',
      verdict: 'warn',
      detail: 'tunnel.publicAddress is not set',
      fix: 'Set it to host:port connectors dial (e.g. gateway.example.com:443) so tokens carry it.',
    });
  }
  const status = readStatusFileSafely(statusFilePath(config.dataDir));
  const name = 'home connector attached';
  if (!status || now - Date.parse(status.writtenAt) > STATUS_STALE_MS) {
    results.push({
      name,
      verdict: 'fail',
      detail: status ? `the gateway has not reported since ${status.writtenAt}: it is not running` : 'the gateway has not run with the tunnel on',
      fix: 'Start it: porthole serve --config <this file>.',
    });
  } else if (status.connectors.length === 0) {
    results.push({
      name,
      verdict: 'fail',
      detail: status.offlineSince ? `no connector attached (offline since ${status.offlineSince})` : 'no connector has attached yet',
      fix: 'At home, next to Immich, run: porthole connect --token <token> --origin http://immich-server:2283 (and check it can reach this gateway).',
    });
  } else {
    results.push({ name, verdict: 'pass', detail: status.connectors.map((c) => `${c.name} from ${c.remoteAddress} since ${c.since}`).join('; ') });
  }
  return results;
}

function readStatusFileSafely(file: string) {
  try {
    return readStatusFile(file);
  } catch {
    return null;
  }
}

export async function checkMail(config: ResolvedConfig, secretMissing: boolean, sendTo?: string): Promise<CheckResult[]> {
  const name = 'mail server accepts us';
  if (config.mail.transport === 'console') {
    return [
      { name, verdict: 'warn', detail: 'mail.transport is console: codes are printed to the log, not sent', fix: 'Configure mail.smtp and set mail.transport: smtp for real use.' },
    ];
  }
  const smtp = config.mail.smtp!;
  if (secretMissing) {
    // Without the password, still find out whether the server can be reached and TLS negotiated.
    const probe = createSmtpTransport({ ...smtp, user: undefined }, TIMEOUT_MS);
    try {
      await probe.verify();
      return [{ name, verdict: 'warn', detail: `${smtp.host}:${smtp.port} answers (${smtp.security}); the login was not tried: the password is missing (see secrets)` }];
    } catch (error) {
      return [mailFailure(name, smtp, error)];
    } finally {
      probe.close();
    }
  }
  const transport = createSmtpTransport(smtp, TIMEOUT_MS);
  const results: CheckResult[] = [];
  try {
    await transport.verify();
    results.push({ name, verdict: 'pass', detail: `${smtp.host}:${smtp.port} (${smtp.security}${smtp.user ? ', signed in' : ''})` });
    if (sendTo) results.push(await sendTestMail(config, transport, sendTo));
  } catch (error) {
    results.push(mailFailure(name, smtp, error));
    if (sendTo) results.push({ name: 'test mail sent', verdict: 'skip', detail: 'the mail server did not accept the login' });
  } finally {
    transport.close();
  }
  return results;
}

function mailFailure(name: string, smtp: NonNullable<ResolvedConfig['mail']['smtp']>, error: unknown): CheckResult {
  const e = error as Error & { code?: string };
  const fix =
    e.code === 'EAUTH'
      ? 'The SMTP user or password is wrong (many providers need an app password).'
      : e.code === 'ESOCKET' || e.code === 'ECONNECTION' || e.code === 'ETIMEDOUT'
        ? 'Cannot connect or negotiate TLS: check host, port and security (587 = starttls, 465 = tls).'
        : 'Check the mail.smtp settings.';
  return { name, verdict: 'fail', detail: `${smtp.host}:${smtp.port}: ${e.code ?? ''} ${e.message.split('\n')[0]}`.trim(), fix };
}

async function sendTestMail(config: ResolvedConfig, transport: ReturnType<typeof createSmtpTransport>, to: string): Promise<CheckResult> {
  const name = 'test mail sent';
  try {
    const info = await transport.sendMail({
      from: config.mail.from,
      to,
      subject: 'Porthole test mail',
      text: `This is a test from \`porthole doctor\` on ${config.hosts.private}. Sign-in codes will come from this sender.\n`,
      headers: { 'Auto-Submitted': 'auto-generated' },
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    const refused = info.rejected.length > 0;
    return refused
      ? { name, verdict: 'fail', detail: `the server refused ${to}`, fix: 'Check the address; some servers only relay for their own domains.' }
      : { name, verdict: 'pass', detail: `accepted for ${to} (${info.messageId}); check that it arrives and is not in spam` };
  } catch (error) {
    return {
      ...mailFailure(name, config.mail.smtp!, error),
      fix: 'The server took the login but not the mail: check mail.from (many servers only send from the signed-in account).',
    };
  }
}

export function checkSettings(config: ResolvedConfig): CheckResult[] {
  const results: CheckResult[] = [];
  if (config.publicScheme === 'http') {
    results.push({
      name: 'cookies are Secure',
      verdict: 'warn',
      detail: 'publicScheme is http: session cookies travel without the Secure flag',
      fix: 'Serve Porthole over HTTPS and set publicScheme: https.',
    });
  }
  if (!config.hosts.share) {
    results.push({
      name: 'share host',
      verdict: 'warn',
      detail: 'hosts.share is not set: share links need a signed-in session',
      fix: "Add hosts.share and point Immich's External Domain at it.",
    });
  }
  if (config.allowImmichSetup) {
    results.push({
      name: 'Immich setup endpoints',
      verdict: 'warn',
      detail: 'allowImmichSetup is on: the first-admin sign-up passes',
      fix: 'Turn it off once Immich has an admin.',
    });
  }
  return results;
}

/** Every check on a loaded config; a missing secret only skips what needs it. */
export async function runDoctor(config: ResolvedConfig, options: { secretProblems?: string[]; sendTest?: string } = {}): Promise<CheckResult[]> {
  const secretProblems = options.secretProblems ?? [];
  // In tunnel mode Immich is at home, out of the gateway's reach: the tunnel checks stand in for the origin's.
  const tunnel = config.tunnel.enabled;
  const [privateDns, shareDns, originName, immich, dataDir, mail, httpPort, httpsPort, acmeNames, sharedCertificates, redisStore] = await Promise.all([
    checkHostDns(config, 'private'),
    checkHostDns(config, 'share'),
    tunnel ? undefined : checkOriginName(config),
    tunnel ? undefined : checkOriginIsImmich(config),
    checkDataDir(config),
    checkMail(config, secretProblems.length > 0, options.sendTest),
    checkPort(config, 'http'),
    checkPort(config, 'https'),
    checkPublicNames(config),
    config.tls.acme && config.store.kind === 'redis' && config.listen.httpsPort !== undefined ? sharedAcmeCertificates(config) : undefined,
    checkRedisStore(config),
  ]);
  const secrets: CheckResult =
    secretProblems.length === 0
      ? { name: 'secrets are readable', verdict: 'pass', detail: config.mail.smtp?.password ? 'mail.smtp.password' : 'none needed' }
      : {
          name: 'secrets are readable',
          verdict: 'fail',
          detail: secretProblems.join('; '),
          fix: "Set the environment variable (or write the file) before starting Porthole, e.g. in the service's Environment= or Docker secrets.",
        };
  return [
    secrets,
    checkPlaceholders(config),
    privateDns,
    shareDns,
    httpPort,
    httpsPort,
    // ACME certificates (issued and renewed by the gateway) are judged by the deployment checks.
    ...(!config.tls.acme
      ? [checkCertificate(config)]
      : sharedCertificates && !(sharedCertificates instanceof Map)
        ? [sharedCertificates]
        : checkCertificates(config, Date.now(), sharedCertificates)),
    ...acmeNames,
    ...(tunnel ? [] : [originName!, immich!]),
    ...checkTunnel(config),
    dataDir,
    ...(redisStore ? [redisStore] : []),
    ...mail,
    ...checkSettings(config),
  ];
}

/** Loads the file (a bad one is one FAIL, nothing else can run) and runs every check. */
export async function runDoctorOnFile(file: string, options: DoctorOptions = {}): Promise<CheckResult[]> {
  let loaded;
  try {
    loaded = loadConfigFileDetailed(file, options.env ?? process.env, 'collect');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [
      { name: 'config is valid', verdict: 'fail', detail: error.message, fix: 'Fix the lines named above; `porthole init` writes a fresh file.' },
      { name: 'other checks', verdict: 'skip', detail: 'they need a valid config' },
    ];
  }
  const results = await runDoctor(loaded.config, { secretProblems: loaded.secretProblems, sendTest: options.sendTest });
  return [{ name: 'config is valid', verdict: 'pass', detail: path.resolve(file) }, ...results];
}

export function formatResults(results: CheckResult[]): string {
  const mark: Record<Verdict, string> = { pass: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' };
  const lines = results.map((r) => {
    const detail = r.detail.includes('\n')
      ? `\n${r.detail
          .split('\n')
          .map((l) => `       ${l}`)
          .join('\n')}`
      : ` ${r.detail}`;
    return `[${mark[r.verdict]}] ${r.name}:${detail}${r.fix && r.verdict !== 'pass' && r.verdict !== 'skip' ? `\n       fix: ${r.fix}` : ''}`;
  });
  const failed = results.filter((r) => r.verdict === 'fail').length;
  const warned = results.filter((r) => r.verdict === 'warn').length;
  lines.push(
    '',
    failed
      ? `${failed} check${failed === 1 ? '' : 's'} failed, ${warned} warning${warned === 1 ? '' : 's'}.`
      : `All checks passed${warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}.`,
  );
  return lines.join('\n');
}
