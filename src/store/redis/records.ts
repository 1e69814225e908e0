// The record stores of the Redis backend (sessions, codes, devices, passkeys, tunnel tokens), answered
// synchronously from the mirror (mirror.ts) and written through to Redis by the write script (scripts.ts).
// A write is applied to this process's mirror at once, so this gateway sees its own writes immediately; Redis
// applies it to what it holds and publishes the result, which every gateway (this one too) applies in order.
// Revocations are sent as "revoke/delete what matches" and run over Redis's own records, so they also reach
// records this mirror has not seen yet; their return values (what was revoked) come from the mirror.
import crypto from 'node:crypto';
import type {
  CodeRecord,
  CodeStore,
  DeviceRecord,
  DeviceStore,
  PasskeyRecord,
  PasskeyStore,
  SessionRecord,
  SessionStore,
  StoreChange,
  TunnelPresenceEntry,
  TunnelPresenceStore,
  TunnelTokenStore,
} from '../store.js';
import type { RecordKind, RecordMirror, WireRecord } from './mirror.js';

export type WriteOp =
  | { op: 'create' | 'put'; record: WireRecord }
  | { op: 'patch'; id: string; set?: Record<string, unknown>; incr?: Record<string, number> }
  | { op: 'delete'; ids: string[] }
  | { op: 'deleteWhere'; eq?: Record<string, unknown>; lte?: Record<string, number> }
  | { op: 'revokeWhere'; at: number; eq?: Record<string, unknown> };

export interface RecordContext {
  mirror: RecordMirror;
  /** Sends one write to Redis (fire and forget: failures are logged, and the mirror is reloaded on reconnect). */
  write(kind: RecordKind, op: WriteOp): void;
  /** Announces a revocation made here to this process's listeners, before the revoking call returns. */
  emit(change: StoreChange): void;
}

const wire = (record: object) => record as unknown as WireRecord;
const byCreation = <T extends { createdAt: number; id: string }>(a: T, b: T) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export function redisSessions({ mirror, write, emit }: RecordContext): SessionStore {
  const all = () => mirror.all('session') as unknown as SessionRecord[];
  const removed = (records: SessionRecord[], op: WriteOp): SessionRecord[] => {
    for (const record of records) mirror.delete('session', record.id);
    write('session', op);
    if (records.length > 0) emit({ kind: 'session', ids: records.map((r) => r.id) });
    return records;
  };
  return {
    create(session) {
      mirror.upsert('session', wire(session));
      write('session', { op: 'create', record: wire(session) });
    },
    findByTokenHash: (tokenHash) => mirror.find('session', tokenHash) as SessionRecord | undefined,
    touch(id, lastSeenAt, expiresAt) {
      const current = mirror.get('session', id);
      if (current) mirror.upsert('session', { ...current, lastSeenAt, expiresAt });
      write('session', { op: 'patch', id, set: { lastSeenAt, expiresAt } });
    },
    list: (now) =>
      all()
        .filter((s) => s.expiresAt > now)
        .sort((a, b) => a.createdAt - b.createdAt),
    revokeById(id) {
      const record = mirror.get('session', id) as SessionRecord | undefined;
      // Sent even when this mirror has not seen the session yet: Redis deletes whatever it holds.
      removed(record ? [record] : [], { op: 'delete', ids: [id] });
      return record;
    },
    revokeByEmail(email) {
      const address = email.toLowerCase();
      return removed(
        all().filter((s) => s.email === address),
        { op: 'deleteWhere', eq: { email: address } },
      );
    },
    revokeAll: () => removed(all(), { op: 'deleteWhere' }),
    deleteExpired: (now) =>
      removed(
        all().filter((s) => s.expiresAt <= now),
        { op: 'deleteWhere', lte: { expiresAt: now } },
      ).length,
  };
}

export function redisCodes({ mirror, write }: RecordContext): CodeStore {
  return {
    put(code) {
      mirror.upsert('code', wire(code));
      write('code', { op: 'put', record: wire(code) });
    },
    get: (id) => mirror.get('code', id) as CodeRecord | undefined,
    getByLinkTokenHash: (hash) => mirror.find('code', hash) as CodeRecord | undefined,
    recordFailure(id) {
      const current = mirror.get('code', id) as CodeRecord | undefined;
      if (!current) return 0;
      const failedAttempts = current.failedAttempts + 1;
      mirror.upsert('code', wire({ ...current, failedAttempts }));
      write('code', { op: 'patch', id, incr: { failedAttempts: 1 } });
      return failedAttempts;
    },
    delete(id) {
      mirror.delete('code', id);
      write('code', { op: 'delete', ids: [id] });
    },
    deleteExpired(now) {
      const expired = (mirror.all('code') as unknown as CodeRecord[]).filter((c) => c.expiresAt <= now);
      for (const code of expired) mirror.delete('code', code.id);
      write('code', { op: 'deleteWhere', lte: { expiresAt: now } });
      return expired.length;
    },
  };
}

export function redisDevices({ mirror, write, emit }: RecordContext): DeviceStore {
  const all = () => (mirror.all('device') as unknown as DeviceRecord[]).sort(byCreation);
  const revoke = (matching: DeviceRecord[], at: number, eq: Record<string, unknown> | undefined): DeviceRecord[] => {
    const revoked = matching.filter((d) => d.revokedAt === null).map((d) => ({ ...d, revokedAt: at }));
    for (const device of revoked) mirror.upsert('device', wire(device));
    write('device', { op: 'revokeWhere', at, eq });
    if (revoked.length > 0) emit({ kind: 'device', ids: revoked.map((d) => d.id) });
    return revoked;
  };
  return {
    create(device) {
      mirror.upsert('device', wire(device));
      write('device', { op: 'create', record: wire(device) });
    },
    findByTokenHash: (tokenHash) => mirror.find('device', tokenHash) as DeviceRecord | undefined,
    touch(id, lastUsedAt, lastIp) {
      const current = mirror.get('device', id);
      if (current) mirror.upsert('device', { ...current, lastUsedAt, lastIp });
      write('device', { op: 'patch', id, set: { lastUsedAt, lastIp } });
    },
    list: (options = {}) => all().filter((d) => options.includeRevoked || d.revokedAt === null),
    countActive: (email) => all().filter((d) => d.email === email.toLowerCase() && d.revokedAt === null).length,
    revokeById: (id, at) =>
      revoke(
        all().filter((d) => d.id === id),
        at,
        { id },
      )[0],
    revokeByEmail: (email, at) =>
      revoke(
        all().filter((d) => d.email === email.toLowerCase()),
        at,
        { email: email.toLowerCase() },
      ),
    revokeAll: (at) => revoke(all(), at, undefined),
  };
}

/** Passkeys travel as JSON: the public key as base64url. */
const passkeyToWire = (p: PasskeyRecord): WireRecord => wire({ ...p, publicKey: p.publicKey.toString('base64url') });
const passkeyFromWire = (w: WireRecord | undefined): PasskeyRecord | undefined =>
  w && ({ ...(w as unknown as PasskeyRecord), publicKey: Buffer.from(w.publicKey as string, 'base64url') } as PasskeyRecord);

interface ChallengeRecord {
  id: string;
  purpose: string;
  binding: string;
  email: string | null;
  expiresAt: number;
}

export function redisPasskeys({ mirror, write, emit }: RecordContext): PasskeyStore {
  const all = () =>
    mirror
      .all('passkey')
      .map((w) => passkeyFromWire(w)!)
      .sort(byCreation);
  const removed = (records: PasskeyRecord[], op: WriteOp): PasskeyRecord[] => {
    for (const record of records) mirror.delete('passkey', record.id);
    write('passkey', op);
    if (records.length > 0) emit({ kind: 'passkey', ids: records.map((r) => r.id) });
    return records;
  };
  return {
    create(passkey) {
      mirror.upsert('passkey', passkeyToWire(passkey));
      write('passkey', { op: 'create', record: passkeyToWire(passkey) });
    },
    findByCredentialId: (credentialId) => passkeyFromWire(mirror.find('passkey', credentialId)),
    list: (email) => (email === undefined ? all() : all().filter((p) => p.email === email.toLowerCase())),
    used(id, counter, at) {
      const current = mirror.get('passkey', id);
      if (current) mirror.upsert('passkey', { ...current, counter, lastUsedAt: at });
      write('passkey', { op: 'patch', id, set: { counter, lastUsedAt: at } });
    },
    revokeById(id, email) {
      const record = passkeyFromWire(mirror.get('passkey', id));
      if (!record || (email !== undefined && record.email !== email.toLowerCase())) return undefined;
      return removed([record], { op: 'delete', ids: [id] })[0];
    },
    revokeByEmail(email) {
      const address = email.toLowerCase();
      return removed(
        all().filter((p) => p.email === address),
        { op: 'deleteWhere', eq: { email: address } },
      );
    },
    revokeAll: () => removed(all(), { op: 'deleteWhere' }),
    userHandle(email) {
      const address = email.toLowerCase();
      const known = mirror.get('passkey-user', address);
      if (known) return known.handle as string;
      // Created first by whichever gateway wins in Redis; a loser's mirror is corrected by the published winner.
      const record = { id: address, handle: crypto.randomBytes(32).toString('base64url') };
      mirror.upsert('passkey-user', record);
      write('passkey-user', { op: 'create', record });
      return record.handle;
    },
    putChallenge(challenge, purpose, binding, email, expiresAt, now) {
      // Abandoned ceremonies are swept here, so the set only ever holds the last few minutes' worth.
      const expired = (mirror.all('challenge') as unknown as ChallengeRecord[]).filter((c) => c.expiresAt <= now);
      if (expired.length > 0) {
        for (const c of expired) mirror.delete('challenge', c.id);
        write('challenge', { op: 'deleteWhere', lte: { expiresAt: now } });
      }
      const record = wire({ id: challenge, purpose, binding, email, expiresAt } satisfies ChallengeRecord);
      mirror.upsert('challenge', record);
      write('challenge', { op: 'put', record });
    },
    takeChallenge(challenge, purpose, binding, now) {
      const row = mirror.delete('challenge', challenge) as unknown as ChallengeRecord | undefined;
      write('challenge', { op: 'delete', ids: [challenge] });
      if (!row || row.purpose !== purpose || row.binding !== binding || row.expiresAt <= now) return undefined;
      return { email: row.email };
    },
  };
}

interface TunnelTokenWire {
  id: string;
  name: string;
  secretHash: string;
  createdAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

export function redisTunnelTokens({ mirror, write, emit }: RecordContext): TunnelTokenStore {
  const get = (id: string) => mirror.get('tunnel-token', id) as unknown as TunnelTokenWire | undefined;
  return {
    insert(r) {
      const record = wire({ id: r.id, name: r.name, secretHash: r.secretHash, createdAt: r.createdAt, revokedAt: null, lastUsedAt: null } satisfies TunnelTokenWire);
      mirror.upsert('tunnel-token', record);
      write('tunnel-token', { op: 'create', record });
    },
    list: () =>
      (mirror.all('tunnel-token') as unknown as TunnelTokenWire[])
        .sort(byCreation)
        .map(({ id, name, createdAt, revokedAt, lastUsedAt }) => ({ id, name, createdAt, revokedAt, lastUsedAt })),
    revoke(id, at) {
      const current = get(id);
      write('tunnel-token', { op: 'revokeWhere', at, eq: { id } });
      if (!current || current.revokedAt !== null) return false;
      mirror.upsert('tunnel-token', wire({ ...current, revokedAt: at }));
      emit({ kind: 'tunnel-token', ids: [id] });
      return true;
    },
    findHash(id) {
      const row = get(id);
      return row && { secretHash: row.secretHash, revokedAt: row.revokedAt };
    },
    touch(id, at) {
      const current = get(id);
      if (current) mirror.upsert('tunnel-token', wire({ ...current, lastUsedAt: at }));
      write('tunnel-token', { op: 'patch', id, set: { lastUsedAt: at } });
    },
  };
}

/** Each gateway's connectors, renewed every few seconds with an expiry; entries of crashed gateways are swept. */
export function redisTunnelPresence({ mirror, write }: RecordContext): TunnelPresenceStore {
  const all = () => mirror.all('tunnel-presence') as unknown as (TunnelPresenceEntry & { id: string })[];
  return {
    upsert(gatewayId, snapshot, expiresAt) {
      const now = Date.now();
      const expired = all().filter((e) => e.expiresAt <= now);
      if (expired.length > 0) {
        for (const entry of expired) mirror.delete('tunnel-presence', entry.id);
        write('tunnel-presence', { op: 'deleteWhere', lte: { expiresAt: now } });
      }
      const record = wire({ id: gatewayId, gatewayId, snapshot, expiresAt });
      mirror.upsert('tunnel-presence', record);
      write('tunnel-presence', { op: 'put', record });
    },
    list: (now) =>
      all()
        .filter((e) => e.expiresAt > now)
        .sort((a, b) => (a.gatewayId < b.gatewayId ? -1 : a.gatewayId > b.gatewayId ? 1 : 0))
        .map(({ gatewayId, snapshot, expiresAt }) => ({ gatewayId, snapshot, expiresAt })),
    remove(gatewayId) {
      mirror.delete('tunnel-presence', gatewayId);
      write('tunnel-presence', { op: 'delete', ids: [gatewayId] });
    },
  };
}
