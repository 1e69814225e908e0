// Keeps the audit log's growth bounded whatever clients send. Fields are cut to a fixed size (with a short hash
// of what was cut, so equal long values still match). Refusals are folded: one row per client, type and address
// per minute is written at once, the rest of that minute becomes one row carrying a count. Rows that requests
// without a session or token can cause are capped per hour; what the cap leaves out is counted and written as
// one `audit.dropped` row when the hour ends. Events only an operator, a signed-in person or a connector with
// its token can cause pass unchanged, so an attack can hide in counts but never push those out.
import { LRUCache } from 'lru-cache';
import crypto from 'node:crypto';
import { unmapIPv4 } from '../http/client-address.js';
import { clientBucket } from '../http/client-bucket.js';
import type { AuditEvent, AuditEventType, AuditLog } from './store.js';

/** Refusals of one client, type and address within this window become one counted row. */
export const FOLD_WINDOW_MS = 60_000;
/** The cap on unauthenticated rows counts within this period; what it dropped is recorded when it ends. */
export const CAP_PERIOD_MS = 3_600_000;
/** Per client and type and window, at most this many addresses get rows of their own; the rest share one. */
export const ADDRESSES_PER_CLIENT = 4;
export const MAX_DETAIL = 300;
const MAX_EMAIL = 254;
const MAX_IP = 64;
/** Open folds kept in memory; past this the oldest is written out early. */
const MAX_OPEN_FOLDS = 10_000;
const TICK_MS = 5_000;

/** Events a request without a session, device token or tunnel token can cause: these count against the cap. */
const UNAUTHENTICATED: ReadonlySet<AuditEventType> = new Set<AuditEventType>([
  'code.requested',
  'code.refused',
  'code.sent',
  'code.send-failed',
  'code.wrong',
  'code.locked',
  'code.expired',
  'rate.limited',
  'csrf.rejected',
  'device.refused',
  'share.refused',
  'share.password-wrong',
  'share.locked',
  'tunnel.refused',
]);

/** Of those, the refusals a client can repeat at will (the rest sit behind the gate's own rate limits): folded. */
const FOLDED: ReadonlySet<AuditEventType> = new Set<AuditEventType>([
  'rate.limited',
  'csrf.rejected',
  'device.refused',
  'share.refused',
  'share.password-wrong',
  'share.locked',
  'tunnel.refused',
]);

/** `text` if it fits in `max` characters, else its start and a note naming its length and a short SHA-256. */
export function boundText(text: string, max: number): string {
  if (text.length <= max) return text;
  const hash = crypto.createHash('sha256').update(text).digest('base64url').slice(0, 12);
  const note = `… [${text.length} chars, sha256 ${hash}]`;
  return text.slice(0, Math.max(0, max - note.length)) + note;
}

const bound = (value: string | null | undefined, max: number) => (value === null || value === undefined ? null : boundText(value, max));

export interface AuditGuardOptions {
  /** Rows per hour that requests without a session may add. */
  rowsPerHour: number;
  /** The clock for windows and periods (rows keep the time their event gave). */
  clock?: () => number;
  /** Tick on a timer (the running gateway); tests call tick() themselves. */
  timer?: boolean;
}

export interface GuardedAuditLog extends AuditLog {
  /** Writes the folded counts held back so far (the CLI in another process sees them then). */
  flush(): void;
  /** Writes folds whose window ended and, when the period ended, the dropped count. */
  tick(): void;
  /** flush() and the dropped count; stops the timer. */
  close(): void;
}

interface Fold {
  type: AuditEventType;
  ip: string | null;
  email: string | null;
  until: number;
  /** Events held back since the row written when the fold opened. */
  count: number;
  lastAt: number;
  lastDetail: string | null;
}

export function guardAudit(inner: AuditLog, options: AuditGuardOptions): GuardedAuditLog {
  const clock = options.clock ?? Date.now;
  // A full table writes out the fold used longest ago early, rather than losing its count.
  const folds = new LRUCache<string, Fold>({
    max: MAX_OPEN_FOLDS,
    dispose: (fold, _key, reason) => {
      if (reason === 'evict') writeFold(fold);
    },
  });
  /** Addresses that opened their own fold, per client and type, within the window. */
  const fans = new LRUCache<string, { until: number; addresses: number }>({ max: MAX_OPEN_FOLDS });
  const dropped = new Map<AuditEventType, number>();
  let periodStart = clock();
  let periodRows = 0;

  /** Takes one row from this period's allowance, or counts `events` as dropped. */
  function admit(type: AuditEventType, events: number): boolean {
    if (periodRows < options.rowsPerHour) return (periodRows++, true);
    dropped.set(type, (dropped.get(type) ?? 0) + events);
    return false;
  }

  function writeDropped(at: number): void {
    if (dropped.size === 0) return;
    const total = [...dropped.values()].reduce((sum, n) => sum + n, 0);
    const byType = [...dropped].map(([type, n]) => `${type} ${n}`).join(', ');
    dropped.clear();
    inner.record({ type: 'audit.dropped', at, count: total, detail: `not recorded past the cap of ${options.rowsPerHour} rows per hour: ${byType}` });
  }

  function rollPeriod(now: number): void {
    if (now - periodStart < CAP_PERIOD_MS && now >= periodStart) return;
    writeDropped(now);
    periodStart = now;
    periodRows = 0;
  }

  function writeFold(fold: Fold): void {
    if (fold.count > 0 && admit(fold.type, fold.count)) {
      inner.record({ type: fold.type, at: fold.lastAt, email: fold.email, ip: fold.ip, detail: fold.lastDetail, count: fold.count });
    }
  }

  function closeFold(key: string, fold: Fold): void {
    folds.delete(key);
    writeFold(fold);
  }

  function fold(event: AuditEvent, now: number): void {
    // Raw socket addresses (the tunnel's) may be IPv4-mapped: unmapped, they are the client they name.
    const bucket = event.ip ? clientBucket(unmapIPv4(event.ip)) : '-';
    const client = `${event.type}\n${bucket}`;
    let key = `${client}\n${event.email ?? ''}`;
    let email = event.email ?? null;
    let open = folds.get(key);
    if (!open) {
      // A client naming many addresses shares one fold for all but the first few.
      let fan = fans.get(client);
      if (!fan || now >= fan.until || now < fan.until - FOLD_WINDOW_MS) {
        fans.set(client, (fan = { until: now + FOLD_WINDOW_MS, addresses: 0 }));
      }
      if (fan.addresses >= ADDRESSES_PER_CLIENT) {
        key = `${client}\n*`;
        email = null;
        open = folds.get(key);
      } else fan.addresses++;
    }
    if (open && now < open.until && now >= open.until - FOLD_WINDOW_MS) {
      open.count++;
      open.lastAt = event.at;
      open.lastDetail = event.detail ?? null;
      return;
    }
    if (open) closeFold(key, open);
    if (!admit(event.type, 1)) return;
    inner.record({ ...event, email });
    folds.set(key, { type: event.type, ip: event.ip ?? null, email, until: now + FOLD_WINDOW_MS, count: 0, lastAt: event.at, lastDetail: event.detail ?? null });
  }

  function flush(): void {
    for (const [key, open] of [...folds]) closeFold(key, open);
  }

  function tick(): void {
    const now = clock();
    for (const [key, open] of [...folds]) if (now >= open.until || now < open.until - FOLD_WINDOW_MS) closeFold(key, open);
    rollPeriod(now);
  }

  // A failed write on the timer (the store closing, a full disk) must not take the gateway down; the next tick
  // or close() tries again with whatever is still held.
  const timer = options.timer
    ? setInterval(() => {
        try {
          tick();
        } catch {
          /* retried on the next tick */
        }
      }, TICK_MS)
    : undefined;
  timer?.unref();

  return {
    record(event) {
      const bounded: AuditEvent = {
        type: event.type,
        at: event.at ?? Date.now(),
        email: bound(event.email, MAX_EMAIL),
        ip: bound(event.ip, MAX_IP),
        detail: bound(event.detail, MAX_DETAIL),
        count: Math.max(1, Math.floor(event.count ?? 1)),
      };
      if (!UNAUTHENTICATED.has(event.type)) return inner.record(bounded);
      const now = clock();
      rollPeriod(now);
      if (FOLDED.has(event.type)) return fold(bounded, now);
      if (admit(event.type, 1)) inner.record(bounded);
    },
    list: (filter) => inner.list(filter),
    deleteOlderThan: (before) => inner.deleteOlderThan(before),
    flush,
    tick,
    close() {
      if (timer) clearInterval(timer);
      flush();
      writeDropped(clock());
    },
  };
}
