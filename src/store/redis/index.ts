// The Redis implementation of the store, for several gateways sharing one state (config store.kind: redis).
//
// Records (sessions, codes, devices, passkeys, tunnel tokens) are answered synchronously from an in-process
// mirror (mirror.ts) loaded at start and kept current by pub/sub; writes go through Lua scripts that change
// Redis's copy and publish the result under a global sequence number (scripts.ts). Audit events and link
// records are appended to capped streams with a local copy for reading (events.ts). Rate limits are
// rate-limiter-flexible's RateLimiterRedis: counted in Redis, so a limit counted on one gateway applies on all.
//
// Consistency, where it matters for security:
// - A revocation is never lost or undone. It runs in Redis over Redis's own records ("delete/revoke what
//   matches"), so it also reaches records this mirror has not seen. Updates (touch, last use) are applied by
//   Redis to what it holds and never resurrect a deleted record or clear a revoked-at; in a mirror, a deleted
//   id never comes back and a revoked-at is never cleared by a later message (mirror.ts).
// - Revocations reach every gateway's caches and open WebSockets through the change feed within the pub/sub
//   delay (milliseconds; the tests require under a second); so do share links announced as changed (a notice
//   numbered in the same sequence, carrying no records). A missed message shows as a gap in the sequence
//   and reloads the mirror; after any reload every kind is announced as changed, so caches and open
//   connections are checked again against the reloaded state.
// - A credential made on gateway A and used on B before B's mirror has it (the browser was faster than
//   pub/sub): the gate asks catchUp() before turning a credential away, which reads Redis's sequence number and
//   waits (bounded) until B has applied every write up to it, then decides again. So a fresh session works on
//   B; an unknown one costs one round trip to Redis and is then refused as before. Codes and passkey
//   challenges are not waited for: a person reads a mail or touches a key for far longer than pub/sub takes.
// - Counters kept in records (a code's wrong tries, a challenge taken once) are exact per gateway and in Redis,
//   but two gateways answering the same code within the pub/sub delay may each count from the same value; the
//   rate limits in front of them (counted in Redis) bound what that could give an attacker.
// - Fail closed: while Redis is unreachable, a connection is lost, or the mirror is reloading, unavailable()
//   says so and the gate answers 503 'store-unavailable' instead of trusting a mirror that may have missed a
//   revocation; limiters refuse at once (rejectIfRedisNotReady, no offline queue). Logged once a minute.
//   When Redis answers again the mirror is reloaded and the store is available again, without a restart.
// - Started before Redis (compose, a power cut): the gateway opens with whenUnreachable 'start-unavailable';
//   when the first attempt fails (or Redis is silent for connectTimeoutMs) it starts in that same state, with an
//   empty mirror nothing is decided on, keeps dialling and loads the mirror when Redis answers. A wrong password is treated the same way (Redis may be the one to change) and
//   said plainly: the log and unavailable() say "Redis refused the password". The command line keeps 'reject':
//   a command that cannot reach Redis has nothing to do and says why at once.
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { createLogThrottle, type Logger } from '../../log.js';
import { redisAcme, redisAcmeKeys } from './acme.js';
import { guardAudit } from '../audit-guard.js';
import { openLinkRecords } from '../link-records.js';
import { DEFAULT_AUDIT_ROWS_PER_HOUR } from '../sqlite.js';
import { CHANGE_KINDS, linkChangeIds } from '../sqlite-changes.js';
import type { ChangeKind, LimiterOptions, Store, StoreChange, StoreUnavailable } from '../store.js';
import { HeldRows, LocalEvents, READ_PAGE, localAudit, type EventMessage } from './events.js';
import { RECORD_KINDS, RecordMirror, type RecordKind, type RecordMessage, type WireRecord } from './mirror.js';
import { redisCodes, redisDevices, redisPasskeys, redisSessions, redisTunnelPresence, redisTunnelTokens, type WriteOp } from './records.js';
import { ANNOUNCE_CHANGE, APPEND_EVENT, LEARN_LINK, WRITE_RECORDS } from './scripts.js';
import { notifyAll } from '../change-listeners.js';

export interface RedisStoreOptions {
  /** redis://[user@]host:port[/db] or rediss:// (TLS). */
  url: string;
  /** Given separately (config store.password, a secret reference), never in the URL of a config file. */
  password?: string;
  /** Prefix of every key and channel, so several installations can share one Redis. */
  keyPrefix?: string;
  /** Entries kept in the audit stream (approximately: Redis trims whole nodes). */
  maxAuditEvents?: number;
  /** Entries kept in the link-record stream. */
  maxLinkEvents?: number;
  auditRowsPerHour?: number;
  auditClock?: () => number;
  linkRecords?: { rowsPerHour: number; maxRowsPerLink: number };
  logger?: Pick<Logger, 'error' | 'warn' | 'info'>;
  /** How long opening waits for Redis before failing (ms). */
  connectTimeoutMs?: number;
  /** How long catchUp() waits for this mirror to reach Redis's sequence number (ms). */
  catchUpMs?: number;
  /** Longest pause between reconnection attempts (ms). */
  maxReconnectDelayMs?: number;
  /**
   * Redis cannot be reached (or refuses the password) at opening: 'reject' (default, the command line) fails at
   * the first error or after connectTimeoutMs; 'start-unavailable' (the gateway) then returns with unavailable()
   * saying why, keeps trying, and loads the mirror when Redis answers. Both return loaded when Redis answers.
   */
  whenUnreachable?: 'reject' | 'start-unavailable';
}

export const DEFAULT_KEY_PREFIX = 'porthole:';
export const DEFAULT_MAX_AUDIT_EVENTS = 100_000;
export const DEFAULT_MAX_LINK_EVENTS = 200_000;
const PING_MS = 2_000;
/** Pause before loading the mirror again after a load failed on connections that stayed up. */
const RESYNC_RETRY_MS = 5_000;
const LIMIT_COMMAND_TIMEOUT_MS = 2_000;

/** The keys one installation uses in Redis (also for the migration command). */
export function redisKeys(prefix = DEFAULT_KEY_PREFIX) {
  return {
    records: (kind: RecordKind) => `${prefix}records:${kind}`,
    seq: `${prefix}seq`,
    recordChannel: `${prefix}records`,
    eventChannel: `${prefix}events`,
    audit: `${prefix}audit`,
    links: `${prefix}link-events`,
    linkNames: `${prefix}link-names`,
    limits: `${prefix}limit:`,
    acmeChannel: redisAcmeKeys(prefix).channel,
  };
}

interface Scripted {
  portholeWrite(hash: string, seq: string, channel: string, origin: string, kind: string, op: string, payload: string): Promise<number>;
  portholeAppend(stream: string, channel: string, origin: string, type: string, maxlen: string, payload: string): Promise<string>;
  portholeLearn(names: string, channel: string, origin: string, tag: string, linkId: string): Promise<number>;
  portholeAnnounce(seq: string, channel: string, origin: string, kind: string, ids: string): Promise<number>;
}

function withScripts(client: Redis): Redis & Scripted {
  client.defineCommand('portholeWrite', { numberOfKeys: 2, lua: WRITE_RECORDS });
  client.defineCommand('portholeAppend', { numberOfKeys: 1, lua: APPEND_EVENT });
  client.defineCommand('portholeLearn', { numberOfKeys: 1, lua: LEARN_LINK });
  client.defineCommand('portholeAnnounce', { numberOfKeys: 1, lua: ANNOUNCE_CHANGE });
  return client as Redis & Scripted;
}

/** Where a Redis URL points, without its password, for messages. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return 'an unparsable URL';
  }
}

/** Why Redis cannot be used, in words safe to show anywhere (no address, no secret), and what to check. */
export interface RedisProblem {
  reason: string;
  check: string;
}

/** What any connection error not recognised below means. */
const UNREACHABLE: RedisProblem = { reason: 'cannot reach Redis', check: 'that Redis runs and store.url names its host and port (and that nothing in between blocks it)' };

/** Puts a connection or command error from ioredis into words an operator can act on. */
export function redisProblem(error: Error): RedisProblem {
  const message = error.message;
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (/^WRONGPASS|invalid password|invalid username-password/i.test(message))
    return { reason: 'Redis refused the password', check: "store.password must be Redis's password (requirepass, or that of the ACL user named in store.url)" };
  if (/^NOAUTH/i.test(message)) return { reason: 'Redis wants a password and none is set', check: "set store.password to Redis's password" };
  if (/^NOPERM/i.test(message))
    return { reason: 'the Redis user may not run the commands needed', check: 'the ACL user named in store.url needs the commands and keys of the key prefix' };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { reason: 'the Redis host name does not resolve', check: 'the host name in store.url' };
  if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || /certificate|SSL routines|TLS/i.test(message))
    return { reason: 'the TLS connection to Redis failed', check: 'rediss:// needs TLS on that Redis port and a certificate this machine trusts; redis:// needs it off' };
  return UNREACHABLE;
}

export function redisClientOptions(options: Pick<RedisStoreOptions, 'password' | 'connectTimeoutMs' | 'maxReconnectDelayMs'>): RedisOptions {
  const maxDelay = options.maxReconnectDelayMs ?? 2_000;
  return {
    password: options.password,
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    retryStrategy: (times) => Math.min(times * 100, maxDelay),
    // The store reports its own state; ioredis's "Unhandled error event" lines would repeat every retry.
    showFriendlyErrorStack: false,
  };
}

/** Resolves when the client is ready; rejects at the first failure (whenUnreachable 'reject': the command line). */
function waitReady(client: Redis, timeoutMs: number, where: string): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const fail = (reason: string, why: string) => (cleanup(), reject(new Error(`${reason} at ${where} (${why})`)));
    const onError = (error: Error) => fail(redisProblem(error).reason, error.message);
    const timer = setTimeout(() => fail('cannot reach Redis', `no answer within ${timeoutMs} ms`), timeoutMs);
    timer.unref();
    const onReady = () => (cleanup(), resolve());
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
    };
    client.on('ready', onReady);
    client.on('error', onError);
    if (client.status === 'wait') client.connect().catch(onError);
  });
}

export interface RedisStore extends Store {
  unavailable(): StoreUnavailable | null;
  catchUp(): Promise<void>;
  drain(): Promise<void>;
  /** drain(), then closes the connections. */
  closeAsync(): Promise<void>;
}

/** Connects, loads the mirror and the local copies, and returns the store; rejects when Redis cannot be reached. */
export async function openRedisStore(options: RedisStoreOptions): Promise<RedisStore> {
  const keys = redisKeys(options.keyPrefix);
  const where = describeRedisUrl(options.url);
  const logger = options.logger;
  const origin = randomBytes(8).toString('hex');
  const clientOptions = redisClientOptions(options);
  // Three connections: records and streams (writes queue while Redis is away and are sent when it returns),
  // rate limits (refuse at once while away: a request must never wait on a limit), and the subscription.
  const commands = withScripts(new Redis(options.url, { ...clientOptions, maxRetriesPerRequest: null, enableOfflineQueue: true }));
  const limits = new Redis(options.url, { ...clientOptions, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: LIMIT_COMMAND_TIMEOUT_MS });
  const subscriber = new Redis(options.url, { ...clientOptions, maxRetriesPerRequest: null, autoResubscribe: true });
  const clients = [commands, limits, subscriber];
  for (const client of clients) client.on('error', () => undefined);

  const mirror = new RecordMirror();
  // ACME steps fail fast while Redis is away (the limits connection has no offline queue) and are retried later.
  const acme = redisAcme(limits, options.keyPrefix ?? DEFAULT_KEY_PREFIX);
  const listeners = new Set<(change: StoreChange) => void>();
  const emit = (change: StoreChange) => notifyAll(listeners, change);

  // --- availability ---
  // Reasons are a few fixed words (readiness may show them): the address and error text go to the log only.
  let down: StoreUnavailable | null = { since: Date.now(), reason: 'connecting to Redis' };
  let pingFailed = false;
  let closed = false;
  /** A line said the store is unavailable since it was last available, so its return is worth a line too. */
  let saidDown = false;
  let loadedOnce = false;
  /** The next attempt to load the mirror after one failed on connections that stayed up. */
  let retryTimer: NodeJS.Timeout | undefined;
  let startTimer: NodeJS.Timeout | undefined;
  /** Ends the wait at opening ('start-unavailable') once the mirror is loaded. */
  let onFirstLoad: (() => void) | undefined;
  const failureLog = createLogThrottle(60_000);
  const markDown = (reason: string, about: { check?: string; detail?: string } = {}) => {
    if (closed) return;
    // The first cause dates the outage; a more precise later one (a reconnection's own error) replaces its words.
    down = { since: down?.since ?? Date.now(), reason };
    saidDown = true;
    // Once per reason and minute: the clients retry every few seconds, each retry failing the same way.
    failureLog.pass(`down: ${reason}`, (suppressed) =>
      logger?.error({ reason, redis: where, check: about.check, detail: about.detail, suppressed }, `store unavailable: ${reason} (${where}); refusing until Redis answers again`),
    );
  };
  /** A client's connection error: while unavailable, it says best why (refused password, nothing listening, ...). */
  const onClientError = (error: Error) => {
    if (closed || !down) return;
    const problem = redisProblem(error);
    markDown(problem.reason, { check: problem.check, detail: error.message });
  };

  // --- writes ---
  const pending = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>, what: string) => {
    const tracked = promise.then(
      () => undefined,
      (error: unknown) => {
        failureLog.pass(`write ${what}`, (suppressed) => logger?.error({ err: error, redis: where, suppressed }, `store: ${what} failed`));
      },
    );
    pending.add(tracked);
    void tracked.finally(() => pending.delete(tracked));
  };
  const write = (kind: RecordKind, op: WriteOp) =>
    track(commands.portholeWrite(keys.records(kind), keys.seq, keys.recordChannel, origin, kind, op.op, JSON.stringify(op)), `${op.op} ${kind}`);

  const held = new HeldRows();
  const maxlen = { audit: String(options.maxAuditEvents ?? DEFAULT_MAX_AUDIT_EVENTS), link: String(options.maxLinkEvents ?? DEFAULT_MAX_LINK_EVENTS) };
  const streamOf = (type: 'audit' | 'link') => (type === 'audit' ? keys.audit : keys.links);
  const sendRow = (type: 'audit' | 'link', entry: Record<string, unknown>) =>
    track(commands.portholeAppend(streamOf(type), keys.eventChannel, origin, type, maxlen[type], JSON.stringify(entry)), `append ${type}`);
  const sink = {
    append(type: 'audit' | 'link', entry: Record<string, unknown>) {
      // Not queued inside the client while Redis is away: that queue has no bound.
      if (commands.status === 'ready') sendRow(type, entry);
      else held.hold(type, entry);
    },
    learn(tag: string, linkId: string | null) {
      track(commands.portholeLearn(keys.linkNames, keys.eventChannel, origin, tag, linkId ?? ''), 'learn link');
    },
  };
  const local = new LocalEvents(sink);

  // --- the subscription and the mirror ---
  let buffer: RecordMessage[] | undefined = [];
  const waiters = new Set<{ seq: number; wake: () => void }>();
  const wakeWaiters = () => {
    for (const waiter of [...waiters]) if (mirror.applied >= waiter.seq) (waiters.delete(waiter), waiter.wake());
  };
  /** True while the messages buffered during a reload are applied: then some are already in the snapshot. */
  let replaying = false;
  const applyRecords = (message: RecordMessage) => {
    const result = mirror.apply(message);
    if (result === 'old' && replaying) return;
    // Outside a replay an old number means Redis's sequence went back (its data was flushed or replaced).
    if (result === 'old' || result === 'gap') {
      markDown('missed changes: reloading');
      void resync();
      return;
    }
    if (message.k === 'link') {
      // Own announcements were delivered here when made; a second one would only empty the link cache again.
      if (message.o !== origin) emit(result.ids.length > 0 ? { kind: 'link', ids: result.ids } : { kind: 'link' });
      wakeWaiters();
      return;
    }
    // Own revocations were announced when made; announcing again is harmless (caches empty, sockets re-checked).
    if (result.ids.length > 0 && (CHANGE_KINDS as readonly string[]).includes(message.k)) emit({ kind: message.k as ChangeKind, ids: result.ids });
    wakeWaiters();
  };
  subscriber.on('message', (channel: string, text: string) => {
    try {
      if (channel === keys.recordChannel) {
        const message = JSON.parse(text) as RecordMessage;
        if (buffer) buffer.push(message);
        else applyRecords(message);
      } else if (channel === keys.eventChannel) {
        const message = JSON.parse(text) as EventMessage;
        if (message.t === 'link-name') {
          if (message.o !== origin) local.applyName(message.tag!, message.linkId || null);
        } else if (message.o === origin) local.seen(message.t, message.id!);
        else local.applyEntry(message.t, message.id!, message.e!);
      } else if (channel === keys.acmeChannel) acme.receive(text);
    } catch (error) {
      failureLog.pass('message', (suppressed) => logger?.error({ err: error, suppressed }, 'store: a change message could not be applied: reloading'));
      markDown('a change message could not be applied');
      void resync();
    }
  });

  async function snapshot(): Promise<void> {
    const multi = commands.multi().get(keys.seq);
    for (const kind of RECORD_KINDS) multi.hgetall(keys.records(kind));
    const results = (await multi.exec()) ?? [];
    for (const [error] of results) if (error) throw error;
    const seq = Number(results[0]![1] ?? 0);
    const records = new Map<RecordKind, WireRecord[]>();
    RECORD_KINDS.forEach((kind, i) => {
      const hash = results[i + 1]![1] as Record<string, string>;
      records.set(
        kind,
        Object.values(hash).map((json) => JSON.parse(json) as WireRecord),
      );
    });
    mirror.load(seq, records);
  }

  /** Reads stream entries after the last one applied (all of them at start). */
  async function readStream(type: 'audit' | 'link'): Promise<void> {
    for (;;) {
      const start = local.lastIds[type] === '0' ? '-' : `(${local.lastIds[type]}`;
      const entries = await commands.xrange(streamOf(type), start, '+', 'COUNT', READ_PAGE);
      for (const [id, fields] of entries) {
        const o = fields[fields.indexOf('o') + 1];
        const e = fields[fields.indexOf('e') + 1];
        if (o === origin) local.seen(type, id);
        else if (e !== undefined) local.applyEntry(type, id, JSON.parse(e) as Record<string, unknown>);
      }
      if (entries.length < READ_PAGE) return;
    }
  }

  async function readNames(): Promise<void> {
    const names = await commands.hgetall(keys.linkNames);
    for (const [tag, linkId] of Object.entries(names)) local.applyName(tag, linkId || null);
  }

  let resyncing: Promise<void> | undefined;
  let again = false;
  /** Reloads the mirror and catches up the local copies; the store is available again when it succeeds. */
  function resync(): Promise<void> {
    if (resyncing) {
      again = true;
      return resyncing;
    }
    resyncing = (async () => {
      do {
        again = false;
        buffer = [];
        try {
          await subscriber.subscribe(keys.recordChannel, keys.eventChannel, keys.acmeChannel);
          await snapshot();
          const buffered = buffer;
          buffer = undefined;
          replaying = true;
          try {
            for (const message of buffered) applyRecords(message);
          } finally {
            replaying = false;
          }
          for (const row of held.take()) sendRow(row.type, row.entry);
          if (held.lost > 0) {
            logger?.warn({ lost: held.lost }, 'store: audit and link rows written while Redis was away were over the hold limit and are lost');
            held.lost = 0;
          }
          await readNames();
          await readStream('audit');
          await readStream('link');
          if (again || subscriber.status !== 'ready' || commands.status !== 'ready') continue;
          const wasDown = down;
          down = pingFailed ? down : null;
          if (wasDown && !down) {
            if (saidDown)
              logger?.info(
                { redis: where, downMs: Date.now() - wasDown.since },
                loadedOnce ? 'store available again: mirror reloaded from Redis' : 'store available: Redis answers, mirror loaded',
              );
            saidDown = false;
            loadedOnce = true;
            onFirstLoad?.();
          }
          // Anything may have been revoked while this mirror was not listening: every cache and open connection checks again.
          for (const kind of CHANGE_KINDS) emit({ kind });
          acme.resynced();
          wakeWaiters();
        } catch (error) {
          buffer = undefined;
          if (closed) return;
          // An error with a name of its own (a refused password) or on a lost connection is said as such; an
          // unnamed one on connections that stayed up (a refused command, a record that would not parse) is a failed load.
          const problem = redisProblem(error as Error);
          const connected = subscriber.status === 'ready' && commands.status === 'ready';
          markDown(problem === UNREACHABLE && connected ? 'loading the records from Redis failed' : problem.reason, { check: problem.check, detail: (error as Error).message });
          // A connection coming back starts the next attempt; one that stayed up (a refused command, a record that
          // would not parse) would never come back, so try again after a pause rather than stay unavailable.
          clearTimeout(retryTimer);
          retryTimer = setTimeout(regained, RESYNC_RETRY_MS);
          retryTimer.unref();
          return;
        }
      } while (again);
    })().finally(() => (resyncing = undefined));
    return resyncing;
  }

  const lost = (name: string) => () => {
    if (closed) return;
    buffer = [];
    // Already unavailable: each failed reconnection closes again, and its error says more than this would.
    if (!down) markDown(`lost the ${name} connection to Redis`);
  };
  function regained(): void {
    if (closed || subscriber.status !== 'ready' || commands.status !== 'ready') return;
    void resync();
  }
  const watchConnections = () => {
    for (const client of clients) client.on('error', onClientError);
    subscriber.on('close', lost('subscription'));
    commands.on('close', lost('command'));
    subscriber.on('ready', regained);
    commands.on('ready', regained);
  };

  if (options.whenUnreachable === 'start-unavailable') {
    // Returns loaded when Redis answers (as 'reject' does: no 503s right after a normal start), or unavailable at
    // the first failure or after connectTimeoutMs; ioredis keeps dialling after a failed attempt (retryStrategy)
    // and the first load makes the store available.
    watchConnections();
    await new Promise<void>((resolve) => {
      const settle = () => {
        clearTimeout(startTimer);
        for (const client of clients) client.off('error', settle);
        onFirstLoad = undefined;
        resolve();
      };
      onFirstLoad = settle;
      for (const client of clients) client.once('error', settle);
      // A failed connection says why (onClientError); one that neither fails nor answers is said here.
      startTimer = setTimeout(() => {
        if (down && !saidDown)
          markDown('Redis has not answered yet', { check: 'that Redis runs and store.url names its host and port (a Redis loading a large dataset answers when done)' });
        settle();
      }, options.connectTimeoutMs ?? 5_000);
      for (const client of clients) client.connect().catch(() => undefined);
    });
  } else {
    try {
      await Promise.all(clients.map((client) => waitReady(client, options.connectTimeoutMs ?? 5_000, where)));
    } catch (error) {
      for (const client of clients) client.disconnect();
      local.close();
      throw error;
    }
    await resync();
    if (down) {
      clearTimeout(retryTimer);
      for (const client of clients) client.disconnect();
      local.close();
      throw new Error(`cannot load the shared state from Redis at ${where} (${(down as StoreUnavailable).reason})`);
    }
    watchConnections();
  }

  // A Redis that stops answering without closing its connections (a paused process, a dead network path) is
  // noticed by a ping with a timeout on the limits connection.
  const pinger = setInterval(() => {
    if (limits.status !== 'ready') return;
    limits.ping().then(
      () => {
        if (!pingFailed) return;
        pingFailed = false;
        regained();
      },
      () => {
        pingFailed = true;
        markDown('Redis does not answer');
      },
    );
  }, PING_MS);
  pinger.unref();

  const limiters = new Map<string, RateLimiterAbstract>();
  const audit = guardAudit(
    localAudit(local, sink, (before) => track(commands.xtrim(keys.audit, 'MINID', '~', `${before}-0`), 'trim audit')),
    { rowsPerHour: options.auditRowsPerHour ?? DEFAULT_AUDIT_ROWS_PER_HOUR, clock: options.auditClock, timer: true },
  );
  const linkRecords = openLinkRecords(local.db, { rowsPerHour: 120, maxRowsPerLink: 5000, ...options.linkRecords, clock: options.auditClock, timer: true });
  const context = { mirror, write, emit };

  const drain = async () => {
    while (pending.size > 0) await Promise.allSettled([...pending]);
  };
  const shutDown = () => {
    if (closed) return;
    try {
      audit.close();
      linkRecords.close();
    } finally {
      closed = true;
      clearInterval(pinger);
      clearTimeout(retryTimer);
      clearTimeout(startTimer);
      for (const waiter of waiters) waiter.wake();
      waiters.clear();
    }
  };
  const disconnect = async () => {
    // Writes wait in the client's queue while Redis is away: worth a few seconds only when it is there to take them.
    if (commands.status === 'ready') await Promise.race([drain(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    if (pending.size > 0) logger?.warn({ writes: pending.size, redis: where }, 'store: closing with writes Redis has not taken; they are lost');
    for (const client of clients) client.disconnect();
    local.close();
  };

  return {
    sessions: redisSessions(context),
    codes: redisCodes(context),
    devices: redisDevices(context),
    passkeys: redisPasskeys(context),
    tunnelTokens: redisTunnelTokens(context),
    tunnelPresence: redisTunnelPresence(context),
    audit,
    linkRecords,
    acme,
    changes: {
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
    linkChanged(ids) {
      const kept = linkChangeIds(ids);
      emit(kept ? { kind: 'link', ids: kept } : { kind: 'link' });
      // Queued while Redis is away and sent when it returns; the other gateways reload then and forget everything anyway.
      track(commands.portholeAnnounce(keys.seq, keys.recordChannel, origin, 'link', JSON.stringify(kept ?? [])), 'announce changed links');
    },
    limiter(name: string, limiterOptions: LimiterOptions) {
      let limiter = limiters.get(name);
      if (!limiter) {
        limiter = new RateLimiterRedis({
          storeClient: limits,
          rejectIfRedisNotReady: true,
          keyPrefix: `${keys.limits}${name}`,
          points: limiterOptions.points,
          duration: limiterOptions.durationSeconds,
          blockDuration: limiterOptions.blockSeconds ?? 0,
        });
        limiters.set(name, limiter);
      }
      return limiter;
    },
    // Redis expires counters itself (every key has its window as TTL).
    deleteExpiredLimits: () => 0,
    unavailable: () => (closed ? { since: Date.now(), reason: 'closed' } : down),
    catchUp() {
      if (down || closed) return Promise.resolve();
      // Bounded whatever Redis does: a request waits at most catchUpMs, then is decided on what the mirror has.
      return new Promise<void>((resolve) => {
        let waiter: { seq: number; wake: () => void } | undefined;
        const done = () => {
          clearTimeout(timer);
          if (waiter) waiters.delete(waiter);
          resolve();
        };
        const timer = setTimeout(done, options.catchUpMs ?? 2_000);
        commands.get(keys.seq).then((value) => {
          waiter = { seq: Number(value ?? 0), wake: done };
          waiters.add(waiter);
          wakeWaiters();
        }, done);
      });
    },
    drain,
    close() {
      shutDown();
      void disconnect();
    },
    async closeAsync() {
      shutDown();
      await disconnect();
    },
  };
}
