// HTTP/2 clients for the tests in this folder: a node:http2 session to a gateway's HTTPS port (self-signed
// certificate, SNI for the host asked for), one request helper that collects the answer, and the same request
// over HTTP/1.1 on the same port (for comparing bytes).
import http2 from 'node:http2';
import https from 'node:https';
import type http from 'node:http';
import type tls from 'node:tls';
import type { CookieJar } from '../gate/harness.js';

const AUTHORITY = new WeakMap<http2.ClientHttp2Session, string>();

export interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader;
  body: Buffer;
  text: string;
}

/** Opens an HTTP/2 session to 127.0.0.1:port for `host`; resolves once ALPN settled on h2. */
export function connectH2(port: number, host: string, options: http2.SecureClientSessionOptions = {}): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    // Loopback whatever the resolver says about *.localhost; the host goes in SNI and :authority.
    const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: host, ...options });
    AUTHORITY.set(session, `${host}:${port}`);
    session.once('error', reject);
    session.once('connect', () => {
      session.off('error', reject);
      session.on('error', () => undefined);
      const alpn = (session.socket as tls.TLSSocket).alpnProtocol;
      if (alpn !== 'h2') return reject(new Error(`ALPN settled on ${String(alpn)}, not h2`));
      resolve(session);
    });
  });
}

export interface H2RequestOptions {
  method?: string;
  headers?: http2.OutgoingHttpHeaders;
  body?: string | Buffer;
  jar?: CookieJar;
}

export function h2request(session: http2.ClientHttp2Session, path: string, options: H2RequestOptions = {}): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = { ':method': options.method ?? 'GET', ':path': path, ':authority': AUTHORITY.get(session), ...options.headers };
    const cookie = options.jar?.header();
    if (cookie && headers.cookie === undefined) headers.cookie = cookie;
    if (options.body !== undefined && headers['content-length'] === undefined) headers['content-length'] = Buffer.byteLength(options.body);
    const stream = session.request(headers, { endStream: options.body === undefined });
    const chunks: Buffer[] = [];
    let head: H2Reply['headers'] | undefined;
    stream.on('response', (h) => (head = h));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      if (!head) return reject(new Error('stream ended without a response'));
      const setCookie = head['set-cookie'];
      options.jar?.store(setCookie === undefined ? undefined : Array.isArray(setCookie) ? setCookie : [setCookie]);
      const body = Buffer.concat(chunks);
      resolve({ status: Number(head[':status']), headers: head, body, text: body.toString('utf8') });
    });
    stream.on('error', reject);
    if (options.body !== undefined) stream.end(options.body);
  });
}

/** The same request over HTTP/1.1 on the HTTPS port (a client offering no ALPN, as node:https does). */
export function h1request(
  port: number,
  host: string,
  path: string,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, servername: host, rejectUnauthorized: false, agent: false, headers: { host, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), alpn: (res.socket as tls.TLSSocket).alpnProtocol }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves when the session is closed (by either side); with the GOAWAY code the server sent, if any. */
export function sessionClosed(session: http2.ClientHttp2Session): Promise<{ goawayCode: number | null }> {
  return new Promise((resolve) => {
    let goawayCode: number | null = null;
    session.on('goaway', (code: number) => (goawayCode = code));
    if (session.destroyed) return resolve({ goawayCode });
    session.once('close', () => resolve({ goawayCode }));
  });
}
