// Copies one gateway's SQLite state (dataDir/porthole.db) into a Redis, so an installation can move to several
// gateways without signing everyone out: sessions still valid, devices (revoked ones too: the audit log names
// them), passkeys with their WebAuthn user handles, tunnel tokens (their secrets' hashes), the audit log and
// the share-link records, newest kept when over the stream caps, and the ACME state in dataDir/acme (every CA's
// account key and certificates, so no gateway has to import or order them again). Sign-in codes, passkey
// challenges, ACME challenge answers and rate-limit counters live minutes and are not copied. The SQLite file
// and the ACME files are only read.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { readAcmeFiles } from '../acme-files.js';
import type { AcmeCertificatePair } from '../store.js';
import { redisAcmeKeys } from './acme.js';
import type { RecordKind } from './mirror.js';
import { APPEND_EVENT, LEARN_LINK, WRITE_RECORDS } from './scripts.js';
import { DEFAULT_KEY_PREFIX, DEFAULT_MAX_AUDIT_EVENTS, DEFAULT_MAX_LINK_EVENTS, describeRedisUrl, redisClientOptions, redisKeys, type RedisStoreOptions } from './index.js';

export interface MigrationCounts {
  sessions: number;
  devices: number;
  passkeys: number;
  passkeyUsers: number;
  tunnelTokens: number;
  auditEvents: number;
  linkEvents: number;
  linkNames: number;
  /** What became of each ACME account key and certificate found in dataDir/acme, in the order found. */
  acme: AcmeCopy[];
}

/**
 * One ACME account key (`name` null) or certificate of a CA (`ca`: the folder's tag under dataDir/acme).
 * copied: Redis had none (or, with --force, another one, now replaced); same: Redis already had this very one;
 * kept: with --force, Redis's certificate stays because it is valid for longer; unreadable: not copied.
 */
export interface AcmeCopy {
  ca: string;
  name: string | null;
  outcome: 'copied' | 'same' | 'kept' | 'unreadable';
  /** The certificate's end of validity (ms), when it could be read. */
  notAfter?: number;
  /** Why it was kept, replaced or not readable. */
  why?: string;
}

/** Why nothing was copied, and what to check (`hint`, said after the message). */
export class MigrationRefused extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

const BATCH = 500;
const FORCE_HINT = 'pass --force to copy anyway';

type Options = Pick<RedisStoreOptions, 'url' | 'password' | 'keyPrefix' | 'maxAuditEvents' | 'maxLinkEvents' | 'connectTimeoutMs'>;

/** Copies; refuses (MigrationRefused) when the SQLite file is missing or Redis already holds state, unless `force`. */
export async function migrateSqliteToRedis(dataDir: string, options: Options, migrateOptions: { force?: boolean; now?: number } = {}): Promise<MigrationCounts> {
  const file = path.join(dataDir, 'porthole.db');
  if (!fs.existsSync(file)) throw new MigrationRefused(`no SQLite state to copy: ${file} does not exist`, 'check dataDir: it must name the folder the gateway used with SQLite');
  const db = new Database(file, { readonly: true, fileMustExist: true });
  const keys = redisKeys(options.keyPrefix);
  const redis = new Redis(options.url, { ...redisClientOptions(options), retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: true });
  let lastError: Error | undefined;
  redis.on('error', (error: Error) => (lastError = error));
  redis.defineCommand('portholeWrite', { numberOfKeys: 2, lua: WRITE_RECORDS });
  redis.defineCommand('portholeAppend', { numberOfKeys: 1, lua: APPEND_EVENT });
  redis.defineCommand('portholeLearn', { numberOfKeys: 1, lua: LEARN_LINK });
  const origin = 'migration';
  try {
    try {
      await redis.connect();
    } catch (error) {
      throw new MigrationRefused(
        `cannot reach Redis at ${describeRedisUrl(options.url)}: ${(lastError ?? (error as Error)).message}`,
        'check that Redis runs, and store.url and store.password',
      );
    }
    if (!migrateOptions.force && (await redis.exists(keys.seq, keys.audit)) > 0) {
      throw new MigrationRefused(`Redis at ${describeRedisUrl(options.url)} already holds Porthole state under "${options.keyPrefix ?? 'porthole:'}"`, FORCE_HINT);
    }
    // Before anything is written, so that a refusal leaves Redis as it was.
    const acme = await planAcme(redis, dataDir, options, migrateOptions.force === true);
    const now = migrateOptions.now ?? Date.now();
    const all = <T>(sql: string, ...params: unknown[]) => db.prepare<unknown[], T>(sql).all(...params);
    const hasTable = (name: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;

    // Records go through the same write script as the gateways (numbered and announced: gateways already running
    // on this Redis take them in too).
    let pipeline = redis.pipeline();
    let queued = 0;
    const flush = async () => {
      if (queued === 0) return;
      const results = (await pipeline.exec()) ?? [];
      for (const [error] of results) if (error) throw error;
      pipeline = redis.pipeline();
      queued = 0;
    };
    const put = async (kind: RecordKind, record: Record<string, unknown>) => {
      (pipeline as unknown as { portholeWrite(...args: string[]): void }).portholeWrite(
        keys.records(kind),
        keys.seq,
        keys.recordChannel,
        origin,
        kind,
        'put',
        JSON.stringify({ op: 'put', record }),
      );
      if (++queued >= BATCH) await flush();
    };

    const sessions = all<Record<string, unknown>>('SELECT * FROM sessions WHERE expires_at > ? ORDER BY created_at', now);
    for (const r of sessions) {
      await put('session', {
        id: r.id,
        tokenHash: r.token_hash,
        email: r.email,
        createdAt: r.created_at,
        expiresAt: r.expires_at,
        lastSeenAt: r.last_seen_at,
        ip: r.ip,
        userAgent: r.user_agent,
      });
    }
    const devices = all<Record<string, unknown>>('SELECT * FROM devices ORDER BY created_at');
    for (const r of devices) {
      await put('device', {
        id: r.id,
        tokenHash: r.token_hash,
        email: r.email,
        name: r.name,
        createdAt: r.created_at,
        lastUsedAt: r.last_used_at,
        lastIp: r.last_ip,
        revokedAt: r.revoked_at,
      });
    }
    const passkeys = all<Record<string, unknown>>('SELECT * FROM passkeys ORDER BY created_at');
    for (const r of passkeys) {
      await put('passkey', {
        id: r.id,
        credentialId: r.credential_id,
        publicKey: (r.public_key as Buffer).toString('base64url'),
        counter: r.counter,
        email: r.email,
        name: r.name,
        transports: r.transports,
        createdAt: r.created_at,
        lastUsedAt: r.last_used_at,
      });
    }
    // The user handle must stay the same: authenticators return it with every passkey sign-in.
    const users = all<{ email: string; handle: string }>('SELECT email, handle FROM passkey_users');
    for (const r of users) await put('passkey-user', { id: r.email, handle: r.handle });
    const tokens = hasTable('tunnel_tokens') ? all<Record<string, unknown>>('SELECT * FROM tunnel_tokens ORDER BY created_at') : [];
    for (const r of tokens) {
      await put('tunnel-token', { id: r.id, name: r.name, secretHash: r.secret_hash, createdAt: r.created_at, revokedAt: r.revoked_at, lastUsedAt: r.last_used_at });
    }
    await flush();

    // Streams: oldest first, so Redis's own ids keep their order; only the newest up to each cap.
    const append = async (type: 'audit' | 'link', stream: string, maxlen: number, rows: Record<string, unknown>[]) => {
      for (const row of rows) {
        (pipeline as unknown as { portholeAppend(...args: string[]): void }).portholeAppend(stream, keys.eventChannel, origin, type, String(maxlen), JSON.stringify(row));
        if (++queued >= BATCH) await flush();
      }
      await flush();
    };
    const maxAudit = options.maxAuditEvents ?? DEFAULT_MAX_AUDIT_EVENTS;
    const audit = all<Record<string, unknown>>('SELECT at, type, email, ip, detail, count FROM (SELECT * FROM audit ORDER BY id DESC LIMIT ?) ORDER BY id', maxAudit);
    await append('audit', keys.audit, maxAudit, audit);
    const maxLinks = options.maxLinkEvents ?? DEFAULT_MAX_LINK_EVENTS;
    const linkEvents = hasTable('link_events')
      ? all<Record<string, unknown>>('SELECT link, at, kind, reason, client, count, detail FROM (SELECT * FROM link_events ORDER BY id DESC LIMIT ?) ORDER BY id', maxLinks)
      : [];
    await append('link', keys.links, maxLinks, linkEvents);
    const names = hasTable('link_names') ? all<{ tag: string; link_id: string | null }>('SELECT tag, link_id FROM link_names') : [];
    for (const r of names) {
      (pipeline as unknown as { portholeLearn(...args: string[]): void }).portholeLearn(keys.linkNames, keys.eventChannel, origin, r.tag, r.link_id ?? '');
      if (++queued >= BATCH) await flush();
    }
    await flush();
    await copyAcme(redis, options, acme);
    return {
      sessions: sessions.length,
      devices: devices.length,
      passkeys: passkeys.length,
      passkeyUsers: users.length,
      tunnelTokens: tokens.length,
      auditEvents: audit.length,
      linkEvents: linkEvents.length,
      linkNames: names.length,
      acme: acme.map(({ copy }) => copy),
    };
  } finally {
    db.close();
    redis.disconnect();
  }
}

const REPLACED = 'replaced the different one Redis held (--force)';

interface AcmeStep {
  copy: AcmeCopy;
  /** The Redis key and value to set, for what is copied. */
  key: string;
  value?: string;
}

/** End of validity of a PEM certificate (its first, the leaf), or undefined when it cannot be read. */
function notAfterOf(certPem: string): number | undefined {
  try {
    const end = Date.parse(new crypto.X509Certificate(certPem).validTo);
    return Number.isFinite(end) ? end : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What to do with each ACME file, judged against what Redis holds under the same key: the same one is skipped,
 * none is copied, another one refuses the migration (MigrationRefused, naming each) unless `force`: then an
 * account key is replaced, and a certificate too unless Redis's is valid for longer (the gateways would not serve
 * an older one anyway: they only ever swap in a certificate that lasts at least as long as the one they serve).
 */
async function planAcme(redis: Redis, dataDir: string, options: Options, force: boolean): Promise<AcmeStep[]> {
  const keys = redisAcmeKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX);
  const steps: AcmeStep[] = [];
  const conflicts: string[] = [];
  for (const files of readAcmeFiles(dataDir)) {
    const { ca } = files;
    if (files.accountKey !== undefined) {
      const key = keys.account(ca);
      const stored = await redis.get(key);
      if (stored === files.accountKey) steps.push({ copy: { ca, name: null, outcome: 'same' }, key });
      else {
        if (stored !== null) conflicts.push(`a different ACME account key for ${ca}`);
        const copy: AcmeCopy = { ca, name: null, outcome: 'copied', ...(stored !== null ? { why: REPLACED } : {}) };
        steps.push({ copy, key, value: files.accountKey });
      }
    }
    for (const { name, pair } of files.certificates) {
      const key = keys.cert(ca, name);
      const notAfter = pair && notAfterOf(pair.cert);
      if (!pair || notAfter === undefined) {
        const why = pair ? 'the certificate file cannot be read as a certificate' : 'its certificate or key file is missing or empty';
        steps.push({ copy: { ca, name, outcome: 'unreadable', why }, key });
        continue;
      }
      const text = await redis.get(key);
      let stored: AcmeCertificatePair | undefined;
      try {
        stored = text === null ? undefined : (JSON.parse(text) as AcmeCertificatePair);
      } catch {
        stored = undefined;
      }
      if (stored && stored.cert === pair.cert && stored.key === pair.key) {
        steps.push({ copy: { ca, name, outcome: 'same', notAfter }, key });
        continue;
      }
      if (text !== null) {
        conflicts.push(`a different ACME certificate for ${name} (${ca})`);
        const storedUntil = typeof stored?.cert === 'string' ? notAfterOf(stored.cert) : undefined;
        if (storedUntil !== undefined && storedUntil > notAfter) {
          const why = `Redis holds one valid until ${new Date(storedUntil).toISOString()}, later than this one`;
          steps.push({ copy: { ca, name, outcome: 'kept', notAfter, why }, key });
          continue;
        }
      }
      const copy: AcmeCopy = { ca, name, outcome: 'copied', notAfter, ...(text !== null ? { why: REPLACED } : {}) };
      steps.push({ copy, key, value: JSON.stringify({ cert: pair.cert, key: pair.key }) });
    }
  }
  if (conflicts.length > 0 && !force) {
    throw new MigrationRefused(`Redis at ${describeRedisUrl(options.url)} already holds ${conflicts.join(', ')}`, FORCE_HINT);
  }
  return steps;
}

/** Sets what is copied, as the gateways store it, and announces each certificate so running gateways read it. */
async function copyAcme(redis: Redis, options: Options, steps: readonly AcmeStep[]): Promise<void> {
  const keys = redisAcmeKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX);
  for (const { copy, key, value } of steps) {
    if (copy.outcome !== 'copied' || value === undefined) continue;
    await redis.set(key, value);
    if (copy.name !== null) await redis.publish(keys.channel, JSON.stringify({ kind: 'certificate', ca: copy.ca, name: copy.name.toLowerCase() }));
  }
}
