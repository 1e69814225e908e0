// `porthole doctor`: the checks behind the common failures people hit when putting Immich online
// (502 because the gateway cannot reach Immich, PIN mail that never arrives, a data dir that cannot be written).
// Each check says what it found and, when something is wrong, the most likely fix.
import dns from 'node:dns/promises';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { ResolvedConfig } from '../config/load.js';
import { createSmtpTransport } from '../mail/smtp.js';
import { checkCertificates, checkConnector, checkPublicNames } from './deploy-checks.js';

export type Verdict = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  verdict: Verdict;
  detail: string;
  fix?: string;
}

const TIMEOUT_MS = 5_000;

function getJson(url: URL): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: TIMEOUT_MS, headers: { accept: 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (text.length > 64 * 1024) req.destroy(new Error('answer too large'));
      });
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: text });
        }
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
  });
}

export async function checkOriginName(config: ResolvedConfig): Promise<CheckResult> {
  const { hostname } = new URL(config.origin.url);
  const name = 'origin host name resolves';
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
  try {
    const { status, body } = await getJson(new URL('/api/server/ping', config.origin.url));
    if (status === 200 && (body as { res?: unknown })?.res === 'pong') return { name, verdict: 'pass', detail: `${config.origin.url} answered pong` };
    return {
      name,
      verdict: 'fail',
      detail: `${config.origin.url}/api/server/ping answered ${status}, not Immich's pong`,
      fix: 'origin.url points at something else: use the immich-server container and its port (2283).',
    };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const fix =
      code === 'ECONNREFUSED'
        ? 'Nothing listens there: is Immich running, and is the port in origin.url the one it listens on (2283)?'
        : code === 'ETIMEDOUT'
          ? 'No answer: a firewall may drop the traffic, or the host is wrong.'
          : 'See the error code; check origin.url.';
    return { name, verdict: 'fail', detail: `cannot reach ${config.origin.url} (${code ?? (error as Error).message})`, fix };
  }
}

export async function checkDataDir(config: ResolvedConfig): Promise<CheckResult> {
  const name = 'data directory is writable';
  try {
    fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const probe = path.join(config.dataDir, `.doctor-${process.pid}`);
    fs.writeFileSync(probe, 'ok');
    fs.rmSync(probe);
    const mode = fs.statSync(config.dataDir).mode & 0o777;
    if (mode & 0o007) {
      return { name, verdict: 'warn', detail: `${config.dataDir} is readable by other users (mode ${mode.toString(8)})`, fix: `chmod 700 ${config.dataDir}` };
    }
    return { name, verdict: 'pass', detail: config.dataDir };
  } catch (error) {
    return { name, verdict: 'fail', detail: `${config.dataDir}: ${(error as NodeJS.ErrnoException).code}`, fix: 'Create it and give the user Porthole runs as write access (mount a volume in Docker).' };
  }
}

export async function checkMail(config: ResolvedConfig): Promise<CheckResult> {
  const name = 'mail server accepts us';
  if (config.mail.transport === 'console') {
    return { name, verdict: 'warn', detail: 'mail.transport is console: codes are printed to the log, not sent', fix: 'Configure mail.smtp for real use.' };
  }
  const smtp = config.mail.smtp!;
  const transport = createSmtpTransport(smtp, TIMEOUT_MS);
  try {
    await transport.verify();
    return { name, verdict: 'pass', detail: `${smtp.host}:${smtp.port} (${smtp.security}${smtp.user ? ', authenticated' : ''})` };
  } catch (error) {
    const e = error as Error & { code?: string; responseCode?: number };
    const fix =
      e.code === 'EAUTH'
        ? 'The SMTP user or password is wrong (many providers need an app password).'
        : e.code === 'ESOCKET' || e.code === 'ECONNECTION'
          ? 'Cannot connect or negotiate TLS: check host, port and security (587 = starttls, 465 = tls).'
          : 'Check the mail.smtp settings.';
    return { name, verdict: 'fail', detail: `${smtp.host}:${smtp.port}: ${e.code ?? ''} ${e.message.split('\n')[0]}`.trim(), fix };
  } finally {
    transport.close();
  }
}

export async function checkPortFree(config: ResolvedConfig): Promise<CheckResult> {
  const name = 'listen port is free';
  const { address, httpPort } = config.listen;
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      const fix = error.code === 'EADDRINUSE' ? 'Another program (or a running Porthole) uses it; stop it or change listen.httpPort.' : error.code === 'EACCES' ? 'Ports below 1024 need privileges; use a higher port.' : undefined;
      resolve({ name, verdict: error.code === 'EADDRINUSE' ? 'warn' : 'fail', detail: `${address}:${httpPort}: ${error.code}`, fix });
    });
    probe.listen(httpPort, address, () => probe.close(() => resolve({ name, verdict: 'pass', detail: `${address}:${httpPort}` })));
  });
}

export function checkSettings(config: ResolvedConfig): CheckResult[] {
  const results: CheckResult[] = [];
  if (config.publicScheme === 'http') {
    results.push({ name: 'cookies are Secure', verdict: 'warn', detail: 'publicScheme is http: session cookies travel without the Secure flag', fix: 'Serve Porthole over HTTPS and set publicScheme: https.' });
  }
  if (!config.hosts.share) {
    results.push({ name: 'share host', verdict: 'warn', detail: 'hosts.share is not set: share links need a signed-in session', fix: 'Add hosts.share and point Immich\'s External Domain at it.' });
  }
  if (config.allowImmichSetup) {
    results.push({ name: 'Immich setup endpoints', verdict: 'warn', detail: 'allowImmichSetup is on: the first-admin sign-up passes', fix: 'Turn it off once Immich has an admin.' });
  }
  return results;
}

export async function runDoctor(config: ResolvedConfig): Promise<CheckResult[]> {
  // In tunnel mode Immich is at home, out of the gateway's reach: the connector check stands in for it.
  const tunnel = config.tunnel.enabled;
  const [name, immich, dataDir, mail, port, names] = await Promise.all([
    tunnel ? undefined : checkOriginName(config),
    tunnel ? undefined : checkOriginIsImmich(config),
    checkDataDir(config),
    checkMail(config),
    checkPortFree(config),
    checkPublicNames(config),
  ]);
  const origin = tunnel ? checkConnector(config) : [name!, immich!];
  return [...origin, dataDir, mail, port, ...names, ...checkCertificates(config), ...checkSettings(config)];
}

export function formatResults(results: CheckResult[]): string {
  const mark: Record<Verdict, string> = { pass: 'ok  ', warn: 'warn', fail: 'FAIL' };
  return results
    .map((r) => `[${mark[r.verdict]}] ${r.name}: ${r.detail}${r.fix && r.verdict !== 'pass' ? `\n       fix: ${r.fix}` : ''}`)
    .join('\n');
}
