// Test harness for the gate: the sample Immich, a real gateway on an ephemeral port with a temp data dir,
// an in-process SMTP server (STARTTLS with a self-signed certificate, AUTH required) that the gateway's real
// nodemailer transport delivers to, a cookie jar, and a settable clock.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { SMTPServer } from 'smtp-server';
import { parseConfig, type ResolvedConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { decodePending, encodePending } from '../../src/gate/pending.js';
import type { CodeRecord } from '../../src/store/store.js';
import { deriveKeys } from '../../src/gate/secret.js';
import { cookieNames } from '../../src/gate/session.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { createSmtpMailer } from '../../src/mail/smtp.js';
import { startSampleImmich, type SampleImmich } from '../../src/demo/sample-immich/server.js';

export const PRIVATE_HOST = 'photos.localhost';
export const SHARE_HOST = 'share.localhost';
const SMTP_USER = 'porthole';
const SMTP_PASS = 'correct horse battery staple';

export interface ReceivedMail {
  to: string[];
  raw: string;
  subject: string;
  text: string;
  html: string;
  code: string;
  link: string;
}

function decodeQuotedPrintable(text: string): string {
  const bytes = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function decodeHeader(value: string): string {
  return value.replace(/\s*=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_, kind: string, data: string) =>
    kind.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQuotedPrintable(data.replace(/_/g, ' ')),
  );
}

/** Just enough MIME to read what the gate sends: multipart/alternative with text and HTML parts. */
export function parseMail(raw: string, to: string[]): ReceivedMail {
  const [head = '', ...rest] = raw.split(/\r?\n\r?\n/);
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const subject = decodeHeader(/^subject: (.*)$/im.exec(unfolded)?.[1] ?? '');
  const body = rest.join('\r\n\r\n');
  const part = (type: string) => {
    const at = body.search(new RegExp(`content-type: ${type}`, 'i'));
    if (at < 0) return '';
    const section = body.slice(at).split(/\r?\n--/)[0]!;
    const [partHead = '', ...partBody] = section.split(/\r?\n\r?\n/);
    const content = partBody.join('\r\n\r\n');
    if (/content-transfer-encoding: quoted-printable/i.test(partHead)) return decodeQuotedPrintable(content);
    if (/content-transfer-encoding: base64/i.test(partHead)) return Buffer.from(content.replace(/\s+/g, ''), 'base64').toString('utf8');
    return content;
  };
  const text = part('text/plain');
  const html = part('text/html');
  return {
    to,
    raw,
    subject,
    text,
    html,
    code: /^ {4}(\d{6})\r?$/m.exec(text)?.[1] ?? '',
    link: /https?:\/\/\S+\/\.porthole\/link\?t=[A-Za-z0-9_-]{43}/.exec(text)?.[0] ?? '',
  };
}

export interface TestSmtp {
  readonly port: number;
  readonly mails: ReceivedMail[];
  /** Successful AUTH exchanges and whether the session was upgraded with STARTTLS first. */
  readonly logins: Array<{ user: string; secure: boolean }>;
  /** Resolves with the next mail to `to` after `after` mails were already seen for it. */
  next(to: string, after?: number): Promise<ReceivedMail>;
  count(to: string): number;
  close(): Promise<void>;
}

let certificate: Promise<{ key: string; cert: string }> | undefined;
const selfSigned = () =>
  (certificate ??= generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec', curve: 'P-256', notAfterDate: new Date(Date.now() + 2 * 86_400_000) }).then((pems) => ({
    key: pems.private,
    cert: pems.cert,
  })));

export async function startTestSmtp(): Promise<TestSmtp> {
  const { key, cert } = await selfSigned();
  const mails: ReceivedMail[] = [];
  const logins: Array<{ user: string; secure: boolean }> = [];
  const waiters = new Set<() => void>();
  const server = new SMTPServer({
    key,
    cert,
    authMethods: ['PLAIN', 'LOGIN'],
    // Plaintext AUTH is refused by smtp-server unless the session is TLS: this proves STARTTLS happened.
    allowInsecureAuth: false,
    logger: false,
    onAuth(auth, session, callback) {
      if (auth.username !== SMTP_USER || auth.password !== SMTP_PASS) return callback(new Error('Invalid username or password'));
      logins.push({ user: auth.username!, secure: Boolean(session.secure) });
      callback(null, { user: auth.username });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        mails.push(
          parseMail(
            Buffer.concat(chunks).toString('latin1'),
            session.envelope.rcptTo.map((r) => r.address),
          ),
        );
        for (const wake of waiters) wake();
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  const forAddress = (to: string) => mails.filter((m) => m.to.includes(to));
  return {
    port,
    mails,
    logins,
    count: (to) => forAddress(to).length,
    next(to, after = forAddress(to).length) {
      return new Promise((resolve, reject) => {
        const guard = setTimeout(() => (waiters.delete(check), reject(new Error(`no mail to ${to} arrived`))), 30_000);
        const check = () => {
          const list = forAddress(to);
          if (list.length > after) {
            clearTimeout(guard);
            waiters.delete(check);
            resolve(list[after]!);
          }
        };
        waiters.add(check);
        check();
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A minimal browser-like cookie jar for one host. */
export class CookieJar {
  readonly cookies = new Map<string, string>();
  /** Every Set-Cookie header seen, for checking flags. */
  readonly seen: string[] = [];
  store(setCookie: string[] | undefined): void {
    for (const line of setCookie ?? []) {
      this.seen.push(line);
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/;\s*max-age=0(;|$)/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface TestGate {
  readonly port: number;
  readonly gateway: Gateway;
  readonly origin: SampleImmich;
  readonly smtp: TestSmtp;
  readonly config: ResolvedConfig;
  readonly dataDir: string;
  /** The gate's clock; tests move it instead of sleeping. */
  clock: { now: number };
  /** Host header value the tests use (with the port, like a browser). */
  readonly host: string;
  /** `from` binds the client end to that loopback address (127.0.0.2, …), so the gateway sees another client. */
  request(method: string, target: string, options?: { headers?: http.OutgoingHttpHeaders; body?: string; jar?: CookieJar; host?: string; from?: string }): Promise<Response>;
  /** Submits a gate form the way a same-origin browser would (CSRF token from the page, Origin header). */
  submit(pagePath: string, fields: Record<string, string>, jar: CookieJar, headers?: http.OutgoingHttpHeaders, from?: string): Promise<Response>;
  /** A jar holding a valid pending-sign-in cookie for `email`, as if a code had been asked for just now (bound to `codeId` if given). */
  pendingJar(email: string, codeId?: string): CookieJar;
  /** The stored code the jar's pending cookie is bound to, if any. */
  pendingCode(jar: CookieJar): CodeRecord | undefined;
  /** The whole flow for an allowed address: returns the jar holding the session. */
  signIn(email: string, jar?: CookieJar): Promise<CookieJar>;
  /** Recipients of every mail the gate handed to its mailer, in order, at the moment it did. */
  readonly mailsHandedOver: readonly string[];
  /**
   * Resolves once the gate has done the after-response work of the n-th code request for `email` (counted from
   * the gate's start): the code is stored and, for an allowed address, the mail handed to the mailer. The event
   * to wait on before checking that no mail went out, instead of sleeping.
   */
  codeHandled(email: string, nth: number): Promise<void>;
  /** How many code requests for `email` the gate has finished handling so far. */
  codesHandled(email: string): number;
  close(): Promise<void>;
}

export type GateOverrides = Partial<Omit<ConfigInput, 'gate' | 'mail'>> & { gate?: Partial<ConfigInput['gate']>; mail?: { codeInSubject?: boolean } };

export function csrfFrom(html: string): string {
  const token = /name="csrf" value="([0-9a-f]{64})"/.exec(html)?.[1];
  if (!token) throw new Error(`no CSRF token on the page:\n${html.slice(0, 400)}`);
  return token;
}

/**
 * logger: where the gateway logs (silent by default); tests that count log lines pass their own. gateKey: the
 * installation secret to start with (gateways sharing one state share it, as an operator copies gate.key).
 */
export async function startTestGate(overrides: GateOverrides = {}, options: { logger?: Logger; gateKey?: Buffer } = {}): Promise<TestGate> {
  const origin = await startSampleImmich();
  const smtp = await startTestSmtp();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-gate-test-'));
  if (options.gateKey) fs.writeFileSync(path.join(dataDir, 'gate.key'), options.gateKey, { mode: 0o600 });
  const { gate: gateOverrides, mail: mailOverrides, ...rest } = overrides;
  const config = parseConfig(
    {
      listen: { address: '127.0.0.1', httpPort: 0 },
      hosts: { private: PRIVATE_HOST, share: SHARE_HOST },
      publicScheme: 'http',
      origin: { url: origin.url },
      gate: { allow: ['alice@example.com', '*@family.example'], ...gateOverrides },
      mail: {
        from: 'Porthole <porthole@example.com>',
        transport: 'smtp',
        smtp: { host: '127.0.0.1', port: smtp.port, security: 'starttls', user: SMTP_USER, password: SMTP_PASS, allowInvalidCertificate: true },
        ...mailOverrides,
      },
      dataDir,
      ...rest,
    },
    'test config',
  );
  const clock = { now: Date.now() };
  const smtpMailer = createSmtpMailer(config.mail, silentLogger);
  const mailsHandedOver: string[] = [];
  const mailer = {
    send(mail: Parameters<typeof smtpMailer.send>[0]) {
      mailsHandedOver.push(mail.to);
      return smtpMailer.send(mail);
    },
    close: () => smtpMailer.close(),
  };
  const gateway = await startGateway(config, mailer, options.logger ?? silentLogger, { now: () => clock.now });
  // The gate stores each code (allowed address or not) right before deciding whether to mail it.
  const codesStored: string[] = [];
  const codeWaiters = new Set<() => void>();
  const codes = gateway.deps.store.codes;
  const put = codes.put.bind(codes);
  codes.put = (record) => {
    put(record);
    codesStored.push(record.email);
    for (const wake of [...codeWaiters]) wake();
  };
  const codesHandled = (email: string) => codesStored.filter((e) => e === email).length;
  const codeHandled = (email: string, nth: number) =>
    new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => (codeWaiters.delete(check), reject(new Error(`the gate never handled code request ${nth} for ${email}`))), 30_000);
      const check = () => {
        if (codesHandled(email) < nth) return;
        clearTimeout(guard);
        codeWaiters.delete(check);
        resolve();
      };
      codeWaiters.add(check);
      check();
    });
  const port = gateway.httpPort;
  const host = `${PRIVATE_HOST}:${port}`;

  const request: TestGate['request'] = (method, target, options = {}) =>
    new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { host: options.host ?? host, ...options.headers };
      const cookie = options.jar?.header();
      if (cookie && headers.cookie === undefined) headers.cookie = cookie;
      if (options.body !== undefined) headers['content-length'] = Buffer.byteLength(options.body);
      const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent: false, localAddress: options.from }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          options.jar?.store(res.headers['set-cookie']);
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(options.body);
    });

  const submit: TestGate['submit'] = async (pagePath, fields, jar, headers = {}, from) => {
    const page = await request('GET', pagePath, { jar, headers: { accept: 'text/html' }, from });
    const action = /<form method="post" action="([^"]+)"/.exec(page.body)?.[1];
    if (!action) throw new Error(`no form on ${pagePath} (status ${page.status}):\n${page.body.slice(0, 400)}`);
    const body = new URLSearchParams({ csrf: csrfFrom(page.body), ...Object.fromEntries(hiddenFields(page.body)), ...fields }).toString();
    return request('POST', action, {
      jar,
      body,
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: `http://${host}`, 'sec-fetch-site': 'same-origin', accept: 'text/html', ...headers },
      from,
    });
  };

  const signIn: TestGate['signIn'] = async (email, jar = new CookieJar()) => {
    const before = smtp.count(email);
    const requested = await submit('/.porthole/login', { email }, jar);
    if (requested.status !== 303) throw new Error(`code request answered ${requested.status}`);
    const mail = await smtp.next(email, before);
    const verified = await submit('/.porthole/code', { code: mail.code }, jar);
    if (verified.status !== 303) throw new Error(`code entry answered ${verified.status}: ${verified.body.slice(0, 300)}`);
    return jar;
  };

  const keys = deriveKeys(fs.readFileSync(path.join(dataDir, 'gate.key')));
  const pendingJar = (email: string, codeId?: string) => {
    const jar = new CookieJar();
    const value = encodePending(keys.pending, { email, expiresAt: clock.now + config.gate.codeLifetime, codeId });
    jar.cookies.set(cookieNames(config).pending, value);
    return jar;
  };

  const pendingCode = (jar: CookieJar) => {
    const codeId = decodePending(keys.pending, jar.cookies.get(cookieNames(config).pending), clock.now)?.codeId;
    return codeId ? gateway.deps.store.codes.get(codeId) : undefined;
  };

  return {
    port,
    gateway,
    mailsHandedOver,
    codeHandled,
    codesHandled,
    pendingJar,
    pendingCode,
    origin,
    smtp,
    config,
    dataDir,
    clock,
    host,
    request,
    submit,
    signIn,
    async close() {
      await gateway.close();
      await origin.close();
      await smtp.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function hiddenFields(html: string): Array<[string, string]> {
  return [...html.matchAll(/<input type="hidden" name="([a-z]+)" value="([^"]*)">/g)]
    .filter((m) => m[1] !== 'csrf')
    .map((m) => [
      m[1]!,
      m[2]!
        .replace(/&amp;/g, '&')
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'")
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>'),
    ]);
}

/** An upload the way curl sends one over 1 MiB: headers first, the body only after "100 Continue". */
export function expectUpload(gate: TestGate, headers: http.OutgoingHttpHeaders, body: Buffer): Promise<{ status: number; continued: boolean; body: string }> {
  return new Promise((resolve, reject) => {
    const all: http.OutgoingHttpHeaders = { host: gate.host, expect: '100-continue', 'content-type': 'application/octet-stream', 'content-length': body.length, ...headers };
    let continued = false;
    const req = http.request({ host: '127.0.0.1', port: gate.port, method: 'POST', path: '/api/debug/upload', headers: all, agent: false });
    req.on('continue', () => ((continued = true), req.end(body)));
    req.on('response', (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, continued, body: text }));
      if (!continued) req.destroy();
    });
    req.on('error', (error) => (continued ? reject(error) : undefined));
    req.flushHeaders();
  });
}
