// Home side of the tunnel: dials out over TLS to the gateway (verifying its certificate by public CA or by
// the pinned fingerprint in the token), then serves HTTP/2 on that socket with roles reversed. Each stream
// the gateway opens is piped to the one origin this connector was configured with, never anywhere else.
// Reconnects with jittered backoff; a refused token stops it for good.
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { DEFAULT_KEEPALIVE, startKeepalive, type KeepaliveOptions } from './keepalive.js';
import {
  GOAWAY_UNAUTHORIZED,
  H2_SETTINGS,
  HEADER_CONNECTOR_ID,
  HEADER_ERROR_CODE,
  HEADER_ERROR_MESSAGE,
  HEADER_NAME,
  HEADER_TOKEN,
  HEADER_VERSION,
  HELLO_PATH,
  MAX_SESSION_MEMORY_MB,
  PROTOCOL_VERSION,
  SESSION_WINDOW,
  TUNNEL_ALPN,
  WELCOME_PATH,
} from './protocol.js';
import { corkingPipe } from './cork-pipe.js';
import { credentialOf, decodeToken, parseGatewayAddress, type TunnelToken } from './token.js';
import type { TunnelLogger } from './hub.js';

export interface ConnectorOptions {
  /** The token text from `porthole tunnel token create`. */
  token: string;
  /** The only place streams are piped to, e.g. http://immich-server:2283. */
  origin: URL;
  name?: string;
  logger?: TunnelLogger;
  /** Overrides the gateway address in the token (for a gateway reachable under another name here). */
  gateway?: string;
  /** Extra CAs to trust when the token has no fingerprint (tests, private CAs). */
  ca?: string | Buffer;
  keepalive?: KeepaliveOptions;
  backoff?: { initialMs: number; maxMs: number };
  originConnectTimeoutMs?: number;
}

export interface Connector extends EventEmitter {
  /** Resolves when stopped by stop() or rejects when the gateway refuses the token (no point retrying). */
  readonly done: Promise<void>;
  /** The id the gateway gave this connection, while connected. */
  connectorId(): string | null;
  stop(): Promise<void>;
}

export class TokenRefusedError extends Error {}

const silentLogger: TunnelLogger = { info() {}, warn() {} };

export function runConnector(options: ConnectorOptions): Connector {
  const token: TunnelToken = decodeToken(options.token);
  const gateway = parseGatewayAddress(options.gateway ?? token.gateway);
  if (options.origin.protocol !== 'http:') throw new Error(`origin must be http://, got ${options.origin.protocol}`);
  const originHost = options.origin.hostname.replace(/^\[(.*)\]$/, '$1');
  const originPort = options.origin.port ? Number(options.origin.port) : 80;
  const logger = options.logger ?? silentLogger;
  const keepalive = options.keepalive ?? DEFAULT_KEEPALIVE;
  const backoff = options.backoff ?? { initialMs: 100, maxMs: 1500 };
  const name = options.name ?? 'home';
  const emitter = new EventEmitter() as Connector;

  let stopped = false;
  let attempt = 0;
  let currentId: string | null = null;
  let socket: tls.TLSSocket | null = null;
  let session: http2.ServerHttp2Session | null = null;
  let retryTimer: NodeJS.Timeout | undefined;
  const originSockets = new Set<net.Socket>();
  let finish!: (err?: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = (err) => (err ? reject(err) : resolve());
  });
  done.catch(() => {});

  const server = http2.createServer({ settings: H2_SETTINGS, maxSessionMemory: MAX_SESSION_MEMORY_MB });
  server.on('stream', (stream, headers) => {
    const method = headers[':method'];
    if (method === 'CONNECT') return pipeToOrigin(stream);
    if (method === 'GET' && headers[':path'] === HELLO_PATH) {
      stream.respond(
        { ':status': 200, [HEADER_TOKEN]: credentialOf(token), [HEADER_NAME]: name, [HEADER_VERSION]: PROTOCOL_VERSION, [http2.sensitiveHeaders]: [HEADER_TOKEN] },
        { endStream: true },
      );
      return;
    }
    if (method === 'POST' && headers[':path'] === WELCOME_PATH) {
      const id = headers[HEADER_CONNECTOR_ID];
      currentId = typeof id === 'string' ? id.slice(0, 32) : '?';
      attempt = 0;
      stream.respond({ ':status': 204 }, { endStream: true });
      logger.info({ connector: currentId, gateway: `${gateway.host}:${gateway.port}`, origin: options.origin.origin }, 'tunnel: connected to the gateway');
      emitter.emit('connected', currentId);
      return;
    }
    stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  });

  function pipeToOrigin(stream: http2.ServerHttp2Stream): void {
    const upstream = net.connect({ host: originHost, port: originPort });
    originSockets.add(upstream);
    upstream.setNoDelay(true);
    let connected = false;
    const connectTimer = setTimeout(() => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), options.originConnectTimeoutMs ?? 10_000);
    upstream.once('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      if (stream.destroyed) return upstream.resetAndDestroy();
      stream.respond({ ':status': 200 });
      upstream.pipe(stream);
    });
    // Bytes the gateway sends before the origin answers wait in the socket's buffer; half-close (END_STREAM)
    // becomes a FIN to the origin via pipe's end().
    corkingPipe(stream, upstream);
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      if (stream.destroyed || stream.closed) return;
      if (!connected && !stream.headersSent) {
        stream.respond(
          { ':status': 502, [HEADER_ERROR_CODE]: err.code ?? 'EORIGIN', [HEADER_ERROR_MESSAGE]: `${err.code ?? ''} ${options.origin.host}`.trim() },
          { endStream: true },
        );
        stream.close(http2.constants.NGHTTP2_CONNECT_ERROR);
      } else {
        stream.close(http2.constants.NGHTTP2_CONNECT_ERROR);
      }
    });
    upstream.once('close', () => {
      clearTimeout(connectTimer);
      originSockets.delete(upstream);
    });
    stream.on('error', () => {});
    // A reset (or a dead tunnel) means the gateway's side broke mid-exchange: reset the origin connection so
    // it sees an abort, never a clean end of a body that was not fully sent.
    stream.once('close', () => {
      if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR && !upstream.destroyed) upstream.resetAndDestroy();
      else if (!upstream.destroyed && !stream.readableEnded) upstream.resetAndDestroy();
    });
  }

  function scheduleReconnect(): void {
    if (stopped) return;
    const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 16));
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    attempt++;
    retryTimer = setTimeout(connect, delay);
  }

  function connect(): void {
    if (stopped) return;
    const pinned = token.fingerprint;
    const s = tls.connect({
      host: gateway.host,
      port: gateway.port,
      servername: net.isIP(gateway.host) ? undefined : gateway.host,
      ALPNProtocols: [TUNNEL_ALPN],
      // With a pin the chain is not checked by a CA; the fingerprint comparison below replaces it.
      rejectUnauthorized: !pinned,
      ...(options.ca ? { ca: options.ca } : {}),
    });
    socket = s;
    s.setNoDelay(true);
    s.setKeepAlive(true, 30_000);
    let reported = false;
    const lost = (why: string) => {
      if (reported) return;
      reported = true;
      if (currentId) {
        logger.warn({ connector: currentId, why }, 'tunnel: disconnected from the gateway');
        emitter.emit('disconnected', currentId);
      } else {
        logger.warn({ gateway: `${gateway.host}:${gateway.port}`, why }, 'tunnel: cannot reach the gateway');
      }
      currentId = null;
      session = null;
      for (const o of originSockets) o.resetAndDestroy();
      scheduleReconnect();
    };
    s.once('error', (err) => {
      if ((err as NodeJS.ErrnoException).code?.startsWith('ERR_TLS_CERT') || /certificate/i.test(err.message)) {
        emitter.emit('certificate-rejected', err.message);
      }
      lost(err.message);
    });
    s.once('close', () => lost('connection closed'));
    // The gateway never half-closes a tunnel: EOF means it is gone (and with HTTP/2 reading natively,
    // only a resumed JS side lets the EOF surface at all).
    s.once('end', () => s.destroy());
    s.once('secureConnect', () => {
      if (pinned) {
        const cert = s.getPeerCertificate();
        const got = cert?.fingerprint256?.replace(/:/g, '').toLowerCase();
        if (got !== pinned) {
          const msg = `gateway certificate fingerprint ${got ?? 'missing'} does not match the pinned ${pinned}`;
          logger.warn({ gateway: `${gateway.host}:${gateway.port}` }, `tunnel: refusing the gateway: ${msg}`);
          emitter.emit('certificate-rejected', msg);
          s.destroy();
          return;
        }
      }
      if (s.alpnProtocol !== TUNNEL_ALPN) {
        s.destroy(new Error(`the server at ${gateway.host}:${gateway.port} does not speak the Porthole tunnel (is it the gateway's HTTPS port?)`));
        return;
      }
      server.emit('connection', s);
    });
  }

  server.on('session', (sess: http2.ServerHttp2Session) => {
    session = sess;
    try {
      sess.setLocalWindowSize(SESSION_WINDOW);
    } catch {
      // session already gone
    }
    const stopKeepalive = startKeepalive(sess, keepalive, () => {
      logger.warn({}, 'tunnel: the gateway stopped answering keepalive pings');
      sess.destroy();
      socket?.destroy();
    });
    sess.on('error', () => socket?.destroy());
    socket?.resume();
    sess.once('goaway', (code: number, _last: number, data?: Buffer) => {
      if (code !== GOAWAY_UNAUTHORIZED) return;
      const why = data?.subarray(0, 200).toString('utf8') || 'token refused';
      logger.warn({ why }, 'tunnel: the gateway refused this token; not retrying');
      stopped = true;
      emitter.emit('refused', why);
      finish(new TokenRefusedError(`the gateway refused the tunnel token: ${why}`));
    });
    sess.once('close', () => {
      stopKeepalive();
      socket?.destroy();
    });
  });

  emitter.connectorId = () => currentId;
  Object.defineProperty(emitter, 'done', { value: done });
  emitter.stop = async () => {
    stopped = true;
    clearTimeout(retryTimer);
    session?.destroy();
    socket?.destroy();
    for (const o of originSockets) o.destroy();
    finish();
  };
  connect();
  return emitter;
}
