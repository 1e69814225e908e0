// Prometheus metrics for one gateway: the registry, every metric Porthole exports, and the observers that feed
// them from the listeners (requests, latency, bytes, WebSockets), the audit log (PIN outcomes, lock-outs), the
// share host's link cache and the tunnel hub. Label values come only from fixed sets (host role, decision,
// status code, refusal kind, audit type): never an address, key, slug, path or email, so a visitor cannot grow
// the series count or read anything personal off the scrape. Everything counts this gateway alone (each gateway
// is its own scrape target), except two tunnel gauges read from the store shared by several gateways. The
// endpoint itself lives in ./server.ts.
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import client from 'prom-client';
import { parseHostHeader } from '../hosts/dispatch.js';
import { AUDIT_EVENT_TYPES, type AuditLog, type Store } from '../store/store.js';
import type { TunnelStatus } from '../tunnel/status.js';
import { decisionOf, rateLimitOfUpgrade, whenWebSocketOpens } from './tags.js';

/** Which face a request was for; anything else (unknown or missing Host) is "other". */
export type HostRole = 'private' | 'share' | 'other';
export type LinkCacheResult = 'hit' | 'miss' | 'joined';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const SIGN_IN_VIA = new Set(['code', 'link', 'passkey']);
const KNOWN_AUDIT_TYPES = new Set<string>(AUDIT_EVENT_TYPES);

export interface GatewayMetrics {
  readonly registry: client.Registry;
  /** Counts requests, latency, bytes and WebSockets of a listener (plain HTTP or HTTPS). */
  observe(server: http.Server): void;
  /** The same store, whose audit log also counts each event by type (PIN outcomes, lock-outs, refusals). */
  withAuditCounts(store: Store): Store;
  /** The share host's link cache: a fresh answer (hit), a lookup at Immich (miss) or one already on its way. */
  linkCache(result: LinkCacheResult): void;
  /**
   * Reports the tunnel's connectors and streams at each scrape: this gateway's own, and with `others` (the other
   * gateways sharing the store, as they last said) how many gateways and connector links there are in all.
   */
  watchTunnel(status: () => TunnelStatus, others?: () => TunnelStatus[]): void;
  /** Reports at each scrape whether the store can answer (a shared Redis store may not). */
  watchStore(store: Pick<Store, 'unavailable'>): void;
}

export function createGatewayMetrics(hosts: { private: string; share?: string }): GatewayMetrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'porthole_' });
  const registers = [registry];

  const requests = new client.Counter({
    name: 'porthole_http_requests_total',
    help: 'Requests answered, by host (private, share, other), decision (proxied, refused, answered, aborted) and status code.',
    labelNames: ['host', 'decision', 'status'] as const,
    registers,
  });
  const duration = new client.Histogram({
    name: 'porthole_http_request_duration_seconds',
    help: 'Time from the request head to the last byte of the answer, by host and decision.',
    labelNames: ['host', 'decision'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const refusals = new client.Counter({
    name: 'porthole_http_refusals_total',
    help: 'Refusals by host and reason (the refusal kind; on the share host most look like the same 404 to the client).',
    labelNames: ['host', 'reason'] as const,
    registers,
  });
  const rateLimited = new client.Counter({
    name: 'porthole_rate_limit_hits_total',
    help: 'Requests (and WebSocket upgrades) refused because a rate limit or lock-out was reached, by host and limit (request-rate: the per-client flood cap; share-password; other: sign-in codes, unknown share links).',
    labelNames: ['host', 'limit'] as const,
    registers,
  });
  const received = new client.Counter({
    name: 'porthole_http_received_bytes_total',
    help: 'Bytes read from clients (headers and bodies, WebSocket traffic included), by host.',
    labelNames: ['host'] as const,
    registers,
  });
  const sent = new client.Counter({
    name: 'porthole_http_sent_bytes_total',
    help: 'Bytes written to clients (headers and bodies, WebSocket traffic included), by host.',
    labelNames: ['host'] as const,
    registers,
  });
  const webSocketsOpen = new client.Gauge({
    name: 'porthole_websockets_open',
    help: 'WebSockets currently spliced to Immich, by host.',
    labelNames: ['host'] as const,
    registers,
  });
  const webSockets = new client.Counter({
    name: 'porthole_websockets_total',
    help: 'Upgrade requests by host and result (opened, or not: refused by Porthole or declined by Immich).',
    labelNames: ['host', 'result'] as const,
    registers,
  });
  const auditEvents = new client.Counter({
    name: 'porthole_audit_events_total',
    help: 'Audit events by type (see `porthole audit --type`).',
    labelNames: ['type'] as const,
    registers,
  });
  const pinOutcomes = new client.Counter({
    name: 'porthole_pin_outcomes_total',
    help: 'Sign-in code outcomes: right (signed in with the code), link (with the mailed link), wrong, expired, locked.',
    labelNames: ['outcome'] as const,
    registers,
  });
  const linkCache = new client.Counter({
    name: 'porthole_share_link_cache_total',
    help: 'Share-link state lookups by result: hit (cached), miss (asked Immich), joined (waited for a lookup already on its way).',
    labelNames: ['result'] as const,
    registers,
  });

  // Bound children, found by a short key: prom-client hashes a label object on every call, a child does not.
  const children = new Map<string, { inc(by?: number): void } & { observe?(value: number): void }>();
  const child = <T extends { inc(by?: number): void } | { observe(value: number): void }>(key: string, make: () => T): T => {
    let found = children.get(key) as T | undefined;
    if (!found) children.set(key, (found = make()) as never);
    return found;
  };

  const roleOf = (req: http.IncomingMessage): HostRole => {
    const name = parseHostHeader(req.headers.host)?.name;
    return name === hosts.private ? 'private' : name !== undefined && name === hosts.share ? 'share' : 'other';
  };

  // Bytes are counted per connection, attributed to the request that ends (or the WebSocket that closes):
  // each byte exactly once, keep-alive and pipelining included, without touching the body streams.
  const counted = new WeakMap<object, { read: number; written: number }>();
  const countBytes = (socket: Duplex | null, host: HostRole, connection: object | null = socket) => {
    if (!socket || !connection) return;
    const s = socket as Socket;
    const before = counted.get(connection) ?? { read: 0, written: 0 };
    let now: { read: number; written: number };
    try {
      now = { read: s.bytesRead ?? before.read, written: s.bytesWritten ?? before.written };
    } catch {
      // An HTTP/2 stream's socket guard throws once its session is gone: nothing more to count.
      return;
    }
    if (now.read > before.read) child(`in|${host}`, () => received.labels(host)).inc(now.read - before.read);
    if (now.written > before.written) child(`out|${host}`, () => sent.labels(host)).inc(now.written - before.written);
    counted.set(connection, now);
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = process.hrtime.bigint();
    const socket = req.socket;
    // HTTP/2: each stream has its own socket guard; the session is the connection whose bytes are counted.
    const connection = req.httpVersionMajor === 2 ? ((req as unknown as { stream?: { session?: object } }).stream?.session ?? socket) : socket;
    const host = roleOf(req);
    const record = () => {
      const tag = decisionOf(res);
      const decision = res.writableFinished ? tag.decision : 'aborted';
      const status = res.headersSent ? String(res.statusCode) : 'none';
      child(`r|${host}|${decision}|${status}`, () => requests.labels(host, decision, status)).inc();
      child(`d|${host}|${decision}`, () => duration.labels(host, decision)).observe(Number(process.hrtime.bigint() - started) / 1e9);
      if (tag.refusal) {
        refusals.inc({ host, reason: tag.refusal });
        if (tag.refusal === 'rate-limited') rateLimited.inc({ host, limit: tag.limit ?? 'other' });
      }
      countBytes(socket, host, connection);
    };
    // 'close' follows 'finish' on a completed answer and also comes alone when the connection drops first.
    res.once('close', record);
  };

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex) => {
    const host = roleOf(req);
    let opened = false;
    whenWebSocketOpens(socket, () => {
      opened = true;
      webSocketsOpen.inc({ host });
      webSockets.inc({ host, result: 'opened' });
    });
    socket.once('close', () => {
      if (opened) webSocketsOpen.dec({ host });
      else webSockets.inc({ host, result: 'not-opened' });
      const limit = rateLimitOfUpgrade(socket);
      if (limit) rateLimited.inc({ host, limit });
      countBytes(socket, host);
    });
  };

  const countAudit = (type: string, detail: string | null | undefined) => {
    auditEvents.inc({ type: KNOWN_AUDIT_TYPES.has(type) ? type : 'other' });
    if (type === 'code.wrong') pinOutcomes.inc({ outcome: 'wrong' });
    else if (type === 'code.expired') pinOutcomes.inc({ outcome: 'expired' });
    else if (type === 'code.locked') pinOutcomes.inc({ outcome: 'locked' });
    else if (type === 'session.created') {
      // The gate writes "<how>; session <id>" (a passkey: "passkey <id>; session <id>"): only the fixed first word is read.
      const via = (detail ?? '').split(/[ ;]/)[0]!;
      pinOutcomes.inc({ outcome: via === 'code' ? 'right' : SIGN_IN_VIA.has(via) ? via : 'other' });
    }
  };

  return {
    registry,
    observe(server) {
      // Prepended so the clock starts before the handler runs.
      server.prependListener('request', onRequest);
      server.prependListener('checkContinue', onRequest);
      server.prependListener('upgrade', onUpgrade);
    },
    withAuditCounts(store) {
      const audit: AuditLog = new Proxy(store.audit, {
        get(target, property, receiver) {
          if (property !== 'record') return Reflect.get(target, property, receiver);
          return (event: Parameters<AuditLog['record']>[0]) => {
            target.record(event);
            countAudit(event.type, event.detail);
          };
        },
      });
      return new Proxy(store, { get: (target, property) => (property === 'audit' ? audit : Reflect.get(target, property, target)) });
    },
    linkCache(result) {
      linkCache.inc({ result });
    },
    watchStore(store) {
      new client.Gauge({
        name: 'porthole_store_available',
        help: '1 while the store can answer (always, for SQLite); 0 while a shared Redis store is unreachable or reloading, when the gate refuses with 503.',
        registers,
        collect() {
          this.set(store.unavailable?.() ? 0 : 1);
        },
      });
    },
    watchTunnel(status, others) {
      // Per-connector totals only grow while it is attached; growth since the last scrape is added to
      // gateway-wide counters so they stay monotonic across reconnects.
      let last = new Map<string, { streams: number; bytesIn: number; bytesOut: number }>();
      const totals = { streams: 0, bytesIn: 0, bytesOut: 0 };
      let snapshot: TunnelStatus | undefined;
      const refresh = () => {
        snapshot = status();
        const next = new Map<string, { streams: number; bytesIn: number; bytesOut: number }>();
        for (const c of snapshot.connectors) {
          const before = last.get(c.id) ?? { streams: 0, bytesIn: 0, bytesOut: 0 };
          totals.streams += Math.max(0, c.streamsTotal - before.streams);
          totals.bytesIn += Math.max(0, c.bytesIn - before.bytesIn);
          totals.bytesOut += Math.max(0, c.bytesOut - before.bytesOut);
          next.set(c.id, { streams: c.streamsTotal, bytesIn: c.bytesIn, bytesOut: c.bytesOut });
        }
        last = next;
      };
      // Each collect refreshes; a second refresh in the same scrape finds nothing grown, so order does not matter.
      const gauge = (name: string, help: string, value: (s: TunnelStatus) => number) =>
        new client.Gauge({
          name,
          help,
          registers,
          collect() {
            refresh();
            this.set(value(snapshot!));
          },
        });
      gauge('porthole_tunnel_connectors', 'Home connectors attached now.', (s) => s.connectors.length);
      gauge('porthole_tunnel_up', '1 while at least one home connector is attached, else 0 (Immich unreachable).', (s) => (s.connectors.length > 0 ? 1 : 0));
      gauge('porthole_tunnel_offline_since_seconds', 'When the last connector went away (Unix time); 0 while connected or if none ever came.', (s) =>
        s.connectors.length === 0 && s.offlineSince ? Date.parse(s.offlineSince) / 1000 : 0,
      );
      gauge('porthole_tunnel_streams_open', 'Tunnel streams open now (each carries one pooled connection to Immich, reused by many requests).', (s) =>
        s.connectors.reduce((sum, c) => sum + c.openStreams, 0),
      );
      const counter = (name: string, help: string, value: () => number) => {
        let seen = 0;
        new client.Counter({
          name,
          help,
          registers,
          collect() {
            refresh();
            const now = value();
            if (now > seen) this.inc(now - seen);
            seen = now;
          },
        });
      };
      counter('porthole_tunnel_streams_total', 'Tunnel streams opened (one per pooled connection to Immich or WebSocket; counted at scrapes).', () => totals.streams);
      counter('porthole_tunnel_received_bytes_total', 'Bytes received from home connectors (TLS records).', () => totals.bytesIn);
      counter('porthole_tunnel_sent_bytes_total', 'Bytes sent to home connectors (TLS records).', () => totals.bytesOut);
      if (!others) return;
      // Shared figures: every gateway on the store reports the same ones (aggregate them with max, not sum).
      // Without labels: a gateway's id names its host and address, which stay out of the scrape.
      const everyGateway = (): TunnelStatus[] | null => {
        try {
          return [status(), ...others()];
        } catch {
          // The store could not be read: no figure rather than this gateway's alone passed off as everyone's.
          return null;
        }
      };
      new client.Gauge({
        name: 'porthole_tunnel_gateways',
        help: 'Gateways sharing this store with the tunnel on, this one included (from the status each shares in the store; a stopped one drops out within 10 s). The same on every gateway.',
        registers,
        collect() {
          this.set(everyGateway()?.length ?? NaN);
        },
      });
      new client.Gauge({
        name: 'porthole_tunnel_connectors_all_gateways',
        help: 'Home connector links attached to any gateway sharing this store (a connector attached to two gateways counts twice). The same on every gateway.',
        registers,
        collect() {
          this.set(everyGateway()?.reduce((sum, g) => sum + g.connectors.length, 0) ?? NaN);
        },
      });
    },
  };
}
