// Home side of the tunnel: dials out over TLS to the gateway (verifying its certificate by public CA or by
// the pinned fingerprint in the token), then serves HTTP/2 on that socket with roles reversed. Each stream
// the gateway opens is piped to the one origin this connector was configured with, never anywhere else.
// Reconnects with jittered backoff; a refused token stops it for good. A gateway that cannot check tokens for
// the moment (its shared store is unavailable) says "try again later": that is no verdict on the token, so the
// link redials with its backoff like a gateway that is away, and says why in the log (once a minute).
// Several gateways acting as one: the connector keeps one connection (a "link") to each gateway the token
// names, or to every address a gateway's name resolves to (looked up again now and then, so a gateway added
// to DNS is picked up). Each link has its own socket, HTTP/2 session, origin sockets, keepalive and backoff, and
// is checked against its own certificate pin: one gateway going away disturbs no other.
import dns from 'node:dns';
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { DEFAULT_KEEPALIVE, startKeepalive, type KeepaliveOptions } from './keepalive.js';
import {
  ABORT_PATH,
  FEATURE_ABORT,
  GOAWAY_TRY_LATER,
  GOAWAY_UNAUTHORIZED,
  H2_SETTINGS,
  HEADER_CONNECTOR_ID,
  HEADER_ERROR_CODE,
  HEADER_ERROR_MESSAGE,
  HEADER_FEATURES,
  HEADER_NAME,
  HEADER_STREAM_ID,
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
import { connectReadingInto } from './origin-reads.js';
import { credentialOf, decodeToken, parseGatewayAddress, tokenGateways, type GatewayPin, type TunnelToken } from './token.js';
import type { TunnelLogger } from './hub.js';

export interface ConnectorOptions {
  /** The token text from `porthole tunnel token create`. */
  token: string;
  /** The only place streams are piped to, e.g. http://immich-server:2283. */
  origin: URL;
  name?: string;
  logger?: TunnelLogger;
  /**
   * Overrides the gateway addresses in the token (gateways reachable under other names here). Each keeps the pin
   * of the token's gateway at the same place in its list, or the first one's.
   */
  gateway?: string | readonly string[];
  /** Extra CAs to trust when the token has no fingerprint (tests, private CAs). */
  ca?: string | Buffer;
  keepalive?: KeepaliveOptions;
  backoff?: { initialMs: number; maxMs: number };
  originConnectTimeoutMs?: number;
  /** Tokens that ask for every address of a name: how a name is resolved (default dns.lookup, all: true). */
  lookup?: (hostname: string) => Promise<string[]>;
  /** How often those names are resolved again (a gateway added to DNS is dialled within this). */
  resolveIntervalMs?: number;
  /** A gateway that refused the token is asked again this often, while another gateway still accepts it. */
  refusedRetryMs?: number;
}

/** Where one link stands: dialling, attached, waiting to dial again after a failure, or refused the token. */
export type GatewayLinkState = 'connecting' | 'connected' | 'retrying' | 'refused';

export interface GatewayLinkStatus {
  /** What is dialled, host:port (for a resolved name: "address:port (name)"). */
  gateway: string;
  state: GatewayLinkState;
  /** The id this gateway gave the connection, while connected. */
  connectorId: string | null;
  /** Since when the link is in this state (ms). */
  since: number;
  /** Why the last attempt or connection ended, if one did. */
  lastError: string | null;
}

export interface Connector extends EventEmitter {
  /** Resolves when stopped by stop() or rejects when every gateway refused the token (no point retrying). */
  readonly done: Promise<void>;
  /** The id a gateway gave this connector (the first attached link's), while any is connected. */
  connectorId(): string | null;
  /** Every gateway link and its state. */
  gateways(): GatewayLinkStatus[];
  stop(): Promise<void>;
}

export class TokenRefusedError extends Error {}

/** A gateway asking to try again later says so at every redial while its store is away: one line a minute. */
const TRY_LATER_LOG_MS = 60_000;

const silentLogger: TunnelLogger = { info() {}, warn() {} };

/** One gateway to dial: an address, the name it stands for (SNI and certificate check) and its pin. */
interface LinkTarget {
  key: string;
  host: string;
  port: number;
  servername: string | undefined;
  pin: string | null;
}

interface Link {
  target: LinkTarget;
  status: GatewayLinkStatus;
  /** False once the gateway's name no longer resolves to this address: it is not dialled again. */
  listed: boolean;
  close(): void;
}

/** The gateways a token (or the --gateway override) names, each with its pin. */
function gatewayPins(token: TunnelToken, override: ConnectorOptions['gateway']): GatewayPin[] {
  const fromToken = tokenGateways(token);
  if (override === undefined) return fromToken;
  const list = typeof override === 'string' ? [override] : [...override];
  if (list.length === 0) return fromToken;
  return list.map((address, i) => ({ address, fingerprint: (fromToken[i] ?? fromToken[0]!).fingerprint }));
}

export function runConnector(options: ConnectorOptions): Connector {
  const token: TunnelToken = decodeToken(options.token);
  const pins = gatewayPins(token, options.gateway).map((pin) => ({ ...pin, ...parseGatewayAddress(pin.address) }));
  if (options.origin.protocol !== 'http:') throw new Error(`origin must be http://, got ${options.origin.protocol}`);
  const originHost = options.origin.hostname.replace(/^\[(.*)\]$/, '$1');
  const originPort = options.origin.port ? Number(options.origin.port) : 80;
  const logger = options.logger ?? silentLogger;
  const keepalive = options.keepalive ?? DEFAULT_KEEPALIVE;
  const backoff = options.backoff ?? { initialMs: 100, maxMs: 1500 };
  const name = options.name ?? 'home';
  const lookup = options.lookup ?? (async (hostname: string) => (await dns.promises.lookup(hostname, { all: true })).map((a) => a.address));
  const resolveIntervalMs = options.resolveIntervalMs ?? 60_000;
  const refusedRetryMs = options.refusedRetryMs ?? 300_000;
  const emitter = new EventEmitter() as Connector;

  let stopped = false;
  const links = new Map<string, Link>();
  let resolveTimer: NodeJS.Timeout | undefined;
  let finish!: (err?: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = (err) => (err ? reject(err) : resolve());
  });
  done.catch(() => {});

  /** One line naming every gateway and its state, when there is more than one to tell apart. */
  function reportStates(): void {
    emitter.emit('gateways', emitter.gateways());
    if (links.size < 2) return;
    const states = [...links.values()].map(
      (l) =>
        `${l.status.gateway} ${l.status.state}${l.status.connectorId ? ` as ${l.status.connectorId}` : ''}${l.status.state !== 'connected' && l.status.lastError ? ` (${l.status.lastError})` : ''}`,
    );
    logger.info({ gateways: states }, `tunnel: attached to ${[...links.values()].filter((l) => l.status.state === 'connected').length} of ${links.size} gateways`);
  }

  /** Every link refused the token: it was revoked (the gateways share one store), so stop for good. */
  function checkAllRefused(why: string): void {
    if (stopped || links.size === 0 || [...links.values()].some((l) => l.status.state !== 'refused')) return;
    stopped = true;
    clearTimeout(resolveTimer);
    for (const l of links.values()) l.close();
    finish(new TokenRefusedError(`the gateway refused the tunnel token: ${why}`));
  }

  function openLink(target: LinkTarget): Link {
    const label = target.key;
    let attempt = 0;
    let socket: tls.TLSSocket | null = null;
    let session: http2.ServerHttp2Session | null = null;
    let retryTimer: NodeJS.Timeout | undefined;
    let closed = false;
    /** Why the gateway asked this attempt to try again later, if it did. */
    let tryLater: string | null = null;
    let tryLaterLoggedAt: number | null = null;
    const originSockets = new Set<net.Socket>();
    /** Open origin streams by stream id, so the gateway can ask for one to be reset (ABORT_PATH). */
    const originStreams = new Map<number, { stream: http2.ServerHttp2Stream; upstream: net.Socket }>();
    const link: Link = {
      target,
      listed: true,
      status: { gateway: label, state: 'connecting', connectorId: null, since: Date.now(), lastError: null },
      close() {
        closed = true;
        clearTimeout(retryTimer);
        session?.destroy();
        socket?.destroy();
        for (const o of originSockets) o.destroy();
      },
    };
    const setState = (state: GatewayLinkState, lastError: string | null = link.status.lastError) => {
      const before = link.status.state;
      if (state === before) return void (link.status = { ...link.status, lastError });
      link.status = { ...link.status, state, lastError, since: Date.now() };
      if (closed) return;
      // Dialling and waiting to dial again alternate every few seconds while a gateway is down: not worth a line.
      const worthALine = [state, before].some((s) => s === 'connected' || s === 'refused');
      if (worthALine) reportStates();
      else emitter.emit('gateways', emitter.gateways());
    };

    const server = http2.createServer({ settings: H2_SETTINGS, maxSessionMemory: MAX_SESSION_MEMORY_MB });
    server.on('stream', (stream, headers) => {
      const method = headers[':method'];
      if (method === 'CONNECT') return pipeToOrigin(stream);
      if (method === 'GET' && headers[':path'] === HELLO_PATH) {
        stream.respond(
          {
            ':status': 200,
            [HEADER_TOKEN]: credentialOf(token),
            [HEADER_NAME]: name,
            [HEADER_VERSION]: PROTOCOL_VERSION,
            [HEADER_FEATURES]: FEATURE_ABORT,
            [http2.sensitiveHeaders]: [HEADER_TOKEN],
          },
          { endStream: true },
        );
        return;
      }
      if (method === 'POST' && headers[':path'] === ABORT_PATH) {
        const open = originStreams.get(Number(headers[HEADER_STREAM_ID]));
        // Ids count per session: an entry left from an earlier session is not this one's.
        if (open && open.stream.session === stream.session) {
          open.upstream.resetAndDestroy();
          if (!open.stream.closed) open.stream.close(http2.constants.NGHTTP2_CANCEL);
        }
        stream.respond({ ':status': 204 }, { endStream: true });
        return;
      }
      if (method === 'POST' && headers[':path'] === WELCOME_PATH) {
        const id = headers[HEADER_CONNECTOR_ID];
        link.status.connectorId = typeof id === 'string' ? id.slice(0, 32) : '?';
        attempt = 0;
        tryLaterLoggedAt = null;
        stream.respond({ ':status': 204 }, { endStream: true });
        logger.info({ connector: link.status.connectorId, gateway: label, origin: options.origin.origin }, 'tunnel: connected to the gateway');
        emitter.emit('connected', link.status.connectorId, label);
        setState('connected', null);
        return;
      }
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    });

    function pipeToOrigin(stream: http2.ServerHttp2Stream): void {
      // Reads land in reused chunks, not a new Buffer each (origin-reads.ts); they flow once connected and answered.
      const upstream = connectReadingInto({ host: originHost, port: originPort }, stream);
      originSockets.add(upstream);
      const id = stream.id;
      if (id !== undefined) originStreams.set(id, { stream, upstream });
      upstream.setNoDelay(true);
      let connected = false;
      const connectTimer = setTimeout(() => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), options.originConnectTimeoutMs ?? 10_000);
      upstream.once('connect', () => {
        connected = true;
        clearTimeout(connectTimer);
        if (stream.destroyed) return upstream.resetAndDestroy();
        stream.respond({ ':status': 200 });
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
        if (id !== undefined && originStreams.get(id)?.stream === stream) originStreams.delete(id);
        if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR && !upstream.destroyed) upstream.resetAndDestroy();
        else if (!upstream.destroyed && !stream.readableEnded) upstream.resetAndDestroy();
      });
    }

    function scheduleReconnect(): void {
      if (stopped || closed) return;
      if (link.status.state === 'refused') {
        // Another gateway still takes the token, so this one may be set up differently (a store of its own, not
        // yet joined): ask again now and then rather than never.
        retryTimer = setTimeout(connect, refusedRetryMs);
        retryTimer.unref();
        return;
      }
      if (!link.listed) return removeLink(link);
      const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 16));
      const delay = Math.round(base / 2 + Math.random() * (base / 2));
      attempt++;
      setState('retrying');
      retryTimer = setTimeout(connect, delay);
    }

    function connect(): void {
      if (stopped || closed) return;
      if (link.status.state === 'refused' && !link.listed) return removeLink(link);
      const pinned = target.pin;
      tryLater = null;
      setState(link.status.state === 'refused' ? 'refused' : 'connecting');
      const s = tls.connect({
        host: target.host,
        port: target.port,
        servername: target.servername,
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
        clearInterval(watch);
        const id = link.status.connectorId;
        if (id) {
          logger.warn({ connector: id, gateway: label, why }, 'tunnel: disconnected from the gateway');
          emitter.emit('disconnected', id, label);
        } else if (link.status.state !== 'refused' && !tryLater) {
          logger.warn({ gateway: label, why }, 'tunnel: cannot reach the gateway');
        }
        link.status.connectorId = null;
        // The gateway's own reason says more than the connection closing after it.
        if (link.status.state !== 'refused') link.status.lastError = tryLater ?? why;
        session = null;
        for (const o of originSockets) o.resetAndDestroy();
        scheduleReconnect();
      };
      s.once('error', (err) => {
        if ((err as NodeJS.ErrnoException).code?.startsWith('ERR_TLS_CERT') || /certificate/i.test(err.message)) {
          emitter.emit('certificate-rejected', err.message, label);
        }
        lost(err.message);
      });
      s.once('close', () => lost('connection closed'));
      // The socket's 'close' is what starts a redial. Under a flood of stream resets a link once ended without
      // it, and nothing was left to dial again: look now and then as well.
      const watch = setInterval(() => {
        if (s.destroyed) lost('connection closed');
      }, keepalive.intervalMs);
      watch.unref();
      // The gateway never half-closes a tunnel: EOF means it is gone (and with HTTP/2 reading natively,
      // only a resumed JS side lets the EOF surface at all).
      s.once('end', () => s.destroy());
      s.once('secureConnect', () => {
        if (pinned) {
          const cert = s.getPeerCertificate();
          const got = cert?.fingerprint256?.replace(/:/g, '').toLowerCase();
          if (got !== pinned) {
            const msg = `gateway certificate fingerprint ${got ?? 'missing'} does not match the pinned ${pinned}`;
            logger.warn({ gateway: label }, `tunnel: refusing the gateway: ${msg}`);
            emitter.emit('certificate-rejected', msg, label);
            lost(msg);
            s.destroy();
            return;
          }
        }
        if (s.alpnProtocol !== TUNNEL_ALPN) {
          s.destroy(new Error(`the server at ${label} does not speak the Porthole tunnel (is it the gateway's HTTPS port?)`));
          return;
        }
        server.emit('connection', s);
      });
    }

    server.on('session', (sess: http2.ServerHttp2Session) => {
      session = sess;
      // This session's own socket: by the time an old session reports trouble the link may be on a new one.
      const own = socket;
      try {
        sess.setLocalWindowSize(SESSION_WINDOW);
      } catch {
        // session already gone
      }
      const stopKeepalive = startKeepalive(sess, keepalive, () => {
        if (!sess.destroyed) logger.warn({ gateway: label }, 'tunnel: the gateway stopped answering keepalive pings');
        sess.destroy();
        own?.destroy();
      });
      sess.on('error', () => own?.destroy());
      own?.resume();
      sess.once('goaway', (code: number, _last: number, data?: Buffer) => {
        if (code === GOAWAY_TRY_LATER) {
          tryLater = data?.subarray(0, 200).toString('utf8') || 'the gateway asks to try again later';
          link.status.lastError = tryLater;
          const now = Date.now();
          if (tryLaterLoggedAt === null || now - tryLaterLoggedAt >= TRY_LATER_LOG_MS) {
            tryLaterLoggedAt = now;
            logger.warn({ gateway: label, why: tryLater }, 'tunnel: the gateway cannot take this connector yet; dialling again until it can');
          }
          emitter.emit('try-later', tryLater, label);
          return;
        }
        if (code !== GOAWAY_UNAUTHORIZED) return;
        const why = data?.subarray(0, 200).toString('utf8') || 'token refused';
        logger.warn({ gateway: label, why }, 'tunnel: the gateway refused this token');
        link.status.lastError = why;
        setState('refused', why);
        emitter.emit('refused', why, label);
        checkAllRefused(why);
      });
      sess.once('close', () => {
        stopKeepalive();
        own?.destroy();
      });
    });

    connect();
    return link;
  }

  function removeLink(link: Link): void {
    if (links.get(link.target.key) !== link) return;
    link.close();
    links.delete(link.target.key);
    logger.info({ gateway: link.target.key }, 'tunnel: the gateway name no longer lists this address; not dialling it again');
    reportStates();
    checkAllRefused(link.status.lastError ?? 'token refused');
  }

  function ensureLink(target: LinkTarget): void {
    const existing = links.get(target.key);
    if (existing) {
      existing.listed = true;
      return;
    }
    links.set(target.key, openLink(target));
  }

  // Gateways named by address are dialled as they are; names with everyAddress are resolved first.
  const named = token.everyAddress ? pins.filter((p) => net.isIP(p.host) === 0) : [];
  for (const p of pins) {
    if (named.includes(p)) continue;
    ensureLink({
      key: `${p.host.includes(':') ? `[${p.host}]` : p.host}:${p.port}`,
      host: p.host,
      port: p.port,
      servername: net.isIP(p.host) ? undefined : p.host,
      pin: p.fingerprint,
    });
  }
  let failedLookups = 0;

  async function resolveNames(): Promise<void> {
    let anyFailed = false;
    for (const p of named) {
      let addresses: string[];
      try {
        addresses = [...new Set(await lookup(p.host))];
      } catch (err) {
        anyFailed = true;
        if (failedLookups === 0)
          logger.warn({ gateway: `${p.host}:${p.port}`, err: (err as Error).message }, 'tunnel: cannot resolve the gateway name; keeping the addresses it had');
        continue;
      }
      if (stopped) return;
      const keys = new Set<string>();
      for (const address of addresses) {
        const key = `${address.includes(':') ? `[${address}]` : address}:${p.port} (${p.host})`;
        keys.add(key);
        ensureLink({ key, host: address, port: p.port, servername: p.host, pin: p.fingerprint });
      }
      // An address the name no longer lists is not dialled again; one still attached keeps serving until it ends.
      for (const l of links.values()) {
        if (l.target.servername !== p.host || l.target.port !== p.port || keys.has(l.target.key) || l.target.host === p.host) continue;
        l.listed = false;
        if (l.status.state !== 'connected') removeLink(l);
      }
    }
    failedLookups = anyFailed ? failedLookups + 1 : 0;
    if (stopped) return;
    // A name that never resolved leaves nothing to serve with: try again soon rather than in a minute.
    const delay = anyFailed && links.size === 0 ? Math.min(backoff.maxMs * 4, resolveIntervalMs) : resolveIntervalMs;
    resolveTimer = setTimeout(() => void resolveNames(), delay);
  }
  if (named.length > 0) void resolveNames();

  emitter.connectorId = () => [...links.values()].find((l) => l.status.connectorId)?.status.connectorId ?? null;
  emitter.gateways = () => [...links.values()].map((l) => ({ ...l.status }));
  Object.defineProperty(emitter, 'done', { value: done });
  emitter.stop = async () => {
    stopped = true;
    clearTimeout(resolveTimer);
    for (const l of links.values()) l.close();
    finish();
  };
  return emitter;
}
