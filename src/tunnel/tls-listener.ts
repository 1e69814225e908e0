// The gateway's HTTPS port: its certificate (from files, or self-signed once and kept in the data dir) and
// a TLS server that sends sockets negotiating the tunnel ALPN to the hub and every other socket to the
// HTTP server. The certificate's SHA-256 fingerprint is what connectors pin when it is self-signed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { TUNNEL_ALPN } from './protocol.js';

export interface GatewayCertificate {
  cert: string;
  key: string;
  /** SHA-256 of the leaf certificate's DER, lowercase hex. */
  fingerprint: string;
  selfSigned: boolean;
  certFile: string;
  keyFile: string;
}

export function certificateFingerprint(certPem: string): string {
  const leaf = new crypto.X509Certificate(certPem);
  return crypto.createHash('sha256').update(leaf.raw).digest('hex');
}

/** "ab:cd:..." for people comparing by eye. */
export function formatFingerprint(hex: string): string {
  return hex.toUpperCase().match(/../g)!.join(':');
}

export interface CertificateOptions {
  /** PEM files from an operator; both or neither. */
  certFile?: string;
  keyFile?: string;
  /** Where a generated certificate is kept (tls/ below it). */
  dataDir: string;
  /** Names the self-signed certificate is issued for (DNS names or IP addresses). */
  hostnames: string[];
}

export async function loadGatewayCertificate(options: CertificateOptions): Promise<GatewayCertificate> {
  if (options.certFile || options.keyFile) {
    if (!options.certFile || !options.keyFile) throw new Error('tls: give both certFile and keyFile, or neither');
    const cert = readPem(options.certFile, 'certificate');
    const key = readPem(options.keyFile, 'private key');
    tls.createSecureContext({ cert, key }); // fails early on a mismatched pair
    return { cert, key, fingerprint: certificateFingerprint(cert), selfSigned: false, certFile: options.certFile, keyFile: options.keyFile };
  }
  const dir = path.join(options.dataDir, 'tls');
  const certFile = path.join(dir, 'gateway-cert.pem');
  const keyFile = path.join(dir, 'gateway-key.pem');
  if (!fs.existsSync(certFile) || !fs.existsSync(keyFile)) {
    await generateSelfSigned(dir, certFile, keyFile, options.hostnames);
  }
  const cert = readPem(certFile, 'certificate');
  const key = readPem(keyFile, 'private key');
  return { cert, key, fingerprint: certificateFingerprint(cert), selfSigned: true, certFile, keyFile };
}

function readPem(file: string, what: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`tls: cannot read ${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!text.includes('-----BEGIN')) throw new Error(`tls: ${file} is not a PEM ${what}`);
  return text;
}

async function generateSelfSigned(dir: string, certFile: string, keyFile: string, hostnames: string[]): Promise<void> {
  const names = hostnames.length > 0 ? hostnames : ['localhost'];
  const notBefore = new Date(Date.now() - 60_000);
  // Long-lived on purpose: connectors pin this exact certificate, so renewing it means re-enrolling them.
  const notAfter = new Date(notBefore.getTime() + 10 * 365 * 24 * 3600_000);
  // Loaded only when a certificate is made: its crypto stack costs ~15 MiB a gateway with files never needs.
  const { default: selfsigned } = await import('selfsigned');
  const pems = await selfsigned.generate([{ name: 'commonName', value: names[0]! }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: notBefore,
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: names.map((n) => (net.isIP(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n })),
      },
    ],
  });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Write to temporary names first so a crash never leaves a key without its certificate.
  fs.writeFileSync(`${keyFile}.tmp`, pems.private, { mode: 0o600 });
  fs.writeFileSync(`${certFile}.tmp`, pems.cert, { mode: 0o644 });
  fs.renameSync(`${keyFile}.tmp`, keyFile);
  fs.renameSync(`${certFile}.tmp`, certFile);
}

export interface GatewayTlsServerOptions {
  certificate: Pick<GatewayCertificate, 'cert' | 'key'>;
  /** ALPN offered to browsers after the tunnel's (default http/1.1 only); the gateway passes ['h2', 'http/1.1'] with HTTP/2 on. */
  httpAlpn?: string[];
  /** Sockets that negotiated the tunnel ALPN (give them to hub.handleSecureSocket). */
  onTunnelSocket: (socket: tls.TLSSocket) => void;
  /** Every other socket: acceptSecureSocket(httpServer, socket) (src/listener/server.ts). */
  onHttpSocket: (socket: tls.TLSSocket) => void;
  /** Bound on the TLS handshake, against idle half-open clients. */
  handshakeTimeoutMs?: number;
  /** Certificates chosen per name and swapped live (src/tls/live.ts); without it `certificate` serves every name. */
  live?: { serverOptions(alpn: string[]): Pick<tls.TlsOptions, 'SNICallback' | 'ALPNCallback' | 'ALPNProtocols'> };
  /** Admission of each raw TCP connection before any TLS work (per-address caps); false: refused and destroyed. */
  admitConnection?: (socket: net.Socket) => boolean;
}

/**
 * TLS 1.2 and 1.3 only; on 1.2 only forward-secret AEAD suites (what RFC 9113 asks of HTTP/2 and every current
 * browser offers). Session resumption: TLS 1.3 tickets and 1.2 session tickets, keyed per server process.
 */
export const GATEWAY_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export function createGatewayTlsServer(options: GatewayTlsServerOptions): tls.Server {
  const alpn = [TUNNEL_ALPN, ...(options.httpAlpn ?? ['http/1.1'])];
  const server = tls.createServer({
    cert: options.certificate.cert,
    key: options.certificate.key,
    ...(options.live ? options.live.serverOptions(alpn) : { ALPNProtocols: alpn }),
    handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: GATEWAY_CIPHERS,
    honorCipherOrder: true,
  });
  const admit = options.admitConnection;
  if (admit) server.on('connection', (socket: net.Socket) => void admit(socket));
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    if (socket.alpnProtocol === TUNNEL_ALPN) options.onTunnelSocket(socket);
    else options.onHttpSocket(socket);
  });
  // A failed handshake is the client's problem; keep the listener up.
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  return server;
}
