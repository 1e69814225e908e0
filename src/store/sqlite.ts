// The SQLite implementation of the store (better-sqlite3), with forward-only schema migrations.
// Synchronous and in-process: a session lookup is a prepared-statement point query on the hot path.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { RateLimiterSQLite, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ACME_MIGRATION, fileAcmeStore } from './acme-files.js';
import { guardAudit } from './audit-guard.js';
import { LINK_RECORDS_MIGRATION, openLinkRecords } from './link-records.js';
import crypto from 'node:crypto';
import { createSqliteChangeFeed, type SqliteChangeFeed } from './sqlite-changes.js';
import type {
  AuditEvent,
  AuditLog,
  CodeRecord,
  CodeStore,
  DeviceRecord,
  DeviceStore,
  LimiterOptions,
  PasskeyRecord,
  PasskeyStore,
  SessionRecord,
  SessionStore,
  Store,
  TunnelPresenceStore,
  TunnelTokenStore,
} from './store.js';

/** The default of config auditRowsPerHour. */
export const DEFAULT_AUDIT_ROWS_PER_HOUR = 600;

/** Each entry moves the schema one version forward; never edit a shipped entry, append a new one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE sessions (
     id TEXT PRIMARY KEY,
     token_hash TEXT NOT NULL UNIQUE,
     email TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     last_seen_at INTEGER NOT NULL,
     ip TEXT,
     user_agent TEXT
   );
   CREATE INDEX sessions_email ON sessions(email);
   CREATE TABLE codes (
     email TEXT PRIMARY KEY,
     code_hash TEXT NOT NULL,
     link_token_hash TEXT NOT NULL UNIQUE,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     failed_attempts INTEGER NOT NULL DEFAULT 0,
     return_to TEXT NOT NULL,
     locale TEXT NOT NULL
   );
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     type TEXT NOT NULL,
     email TEXT,
     ip TEXT,
     detail TEXT
   );
   CREATE INDEX audit_at ON audit(at);`,
  `CREATE TABLE devices (
     id TEXT PRIMARY KEY,
     token_hash TEXT NOT NULL UNIQUE,
     email TEXT NOT NULL,
     name TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     last_used_at INTEGER,
     last_ip TEXT,
     revoked_at INTEGER
   );
   CREATE INDEX devices_email ON devices(email);`,
  // Folded refusals and dropped-event counters: one row stands for `count` events.
  `ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;`,
  // One code per request instead of one per address (codes live minutes: pending ones are simply dropped).
  `DROP TABLE codes;
   CREATE TABLE codes (
     id TEXT PRIMARY KEY,
     email TEXT NOT NULL,
     code_hash TEXT NOT NULL,
     link_token_hash TEXT NOT NULL UNIQUE,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     failed_attempts INTEGER NOT NULL DEFAULT 0,
     return_to TEXT NOT NULL,
     locale TEXT NOT NULL
   );
   CREATE INDEX codes_email ON codes(email);`,
  // passkeys: WebAuthn credentials, the random user handle per address, and single-use ceremony challenges.
  `CREATE TABLE passkeys (
     id TEXT PRIMARY KEY,
     credential_id TEXT NOT NULL UNIQUE,
     public_key BLOB NOT NULL,
     counter INTEGER NOT NULL,
     email TEXT NOT NULL,
     name TEXT NOT NULL,
     transports TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     last_used_at INTEGER
   );
   CREATE INDEX passkeys_email ON passkeys(email);
   CREATE TABLE passkey_users (
     email TEXT PRIMARY KEY,
     handle TEXT NOT NULL UNIQUE
   );
   CREATE TABLE passkey_challenges (
     challenge TEXT PRIMARY KEY,
     purpose TEXT NOT NULL,
     binding TEXT NOT NULL,
     email TEXT,
     expires_at INTEGER NOT NULL
   );
   CREATE INDEX passkey_challenges_expiry ON passkey_challenges(expires_at);`,
  // Tunnel tokens join the schema (gateways before this made the table themselves, outside it: a file that has
  // it keeps its tokens), and one revision row per kind of credential, moved by triggers in the same transaction
  // as any revocation by any program: the change feed (sqlite-changes.ts) watches these rows.
  `CREATE TABLE IF NOT EXISTS tunnel_tokens (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     secret_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     revoked_at INTEGER,
     last_used_at INTEGER
   );
   CREATE TABLE revisions (
     kind TEXT PRIMARY KEY,
     revision INTEGER NOT NULL DEFAULT 0
   );
   INSERT INTO revisions (kind) VALUES ('session'), ('device'), ('passkey'), ('tunnel-token');
   CREATE TRIGGER sessions_removed AFTER DELETE ON sessions
     BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'session'; END;
   CREATE TRIGGER devices_revoked AFTER UPDATE OF revoked_at ON devices WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
     BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'device'; END;
   CREATE TRIGGER devices_removed AFTER DELETE ON devices
     BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'device'; END;
   CREATE TRIGGER passkeys_removed AFTER DELETE ON passkeys
     BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'passkey'; END;
   CREATE TRIGGER tunnel_tokens_revoked AFTER UPDATE OF revoked_at ON tunnel_tokens WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
     BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'tunnel-token'; END;
   CREATE TRIGGER tunnel_tokens_removed AFTER DELETE ON tunnel_tokens
     BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'tunnel-token'; END;`,
  // 7: the record per share link (src/store/link-records.ts).
  LINK_RECORDS_MIGRATION,
  // 8: which connectors each gateway sharing this file has attached (renewed every few seconds, with an expiry).
  `CREATE TABLE IF NOT EXISTS tunnel_presence (
     gateway_id TEXT PRIMARY KEY,
     snapshot TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );`,
  // 9: ACME challenge answers and renewal locks (src/store/acme-files.ts).
  ACME_MIGRATION,
  // 10: share links changed at Immich, announced to every process's link cache: one numbered row per announcement
  // (the ids it names as JSON, NULL for every link), whose insert moves the `link` revision row the change feed
  // watches (sqlite-changes.ts); only the newest rows are kept.
  `CREATE TABLE IF NOT EXISTS link_changes (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     ids TEXT
   );
   INSERT OR IGNORE INTO revisions (kind) VALUES ('link');
   CREATE TRIGGER IF NOT EXISTS link_changes_added AFTER INSERT ON link_changes
     BEGIN UPDATE revisions SET revision = revision + 1 WHERE kind = 'link'; END;`,
];

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`the data directory was written by a newer Porthole (schema ${current}, this one knows ${MIGRATIONS.length})`);
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}

interface SessionRow {
  id: string;
  token_hash: string;
  email: string;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
  ip: string | null;
  user_agent: string | null;
}

const toSession = (row: SessionRow): SessionRecord => ({
  id: row.id,
  tokenHash: row.token_hash,
  email: row.email,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  lastSeenAt: row.last_seen_at,
  ip: row.ip,
  userAgent: row.user_agent,
});

const sessionIds = (rows: readonly SessionRecord[]) => rows.map((row) => row.id);

function sessionStore(db: Database.Database, changes: SqliteChangeFeed): SessionStore {
  const insert = db.prepare(
    `INSERT INTO sessions (id, token_hash, email, created_at, expires_at, last_seen_at, ip, user_agent)
     VALUES (@id, @tokenHash, @email, @createdAt, @expiresAt, @lastSeenAt, @ip, @userAgent)`,
  );
  const byToken = db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE token_hash = ?');
  const touch = db.prepare('UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?');
  const list = db.prepare<[number], SessionRow>('SELECT * FROM sessions WHERE expires_at > ? ORDER BY created_at');
  const deleteReturning = (where: string) => db.prepare<unknown[], SessionRow>(`DELETE FROM sessions ${where} RETURNING *`);
  const revokeById = deleteReturning('WHERE id = ?');
  const revokeByEmail = deleteReturning('WHERE email = ?');
  const revokeAll = deleteReturning('');
  const deleteExpired = db.prepare<[number], SessionRow>('DELETE FROM sessions WHERE expires_at <= ? RETURNING *');
  const revoke = (write: () => SessionRow[]) => changes.revoke('session', () => write().map(toSession), sessionIds);
  return {
    create: (session) => void insert.run(session),
    findByTokenHash: (tokenHash) => {
      const row = byToken.get(tokenHash);
      return row && toSession(row);
    },
    touch: (id, lastSeenAt, expiresAt) => void touch.run(lastSeenAt, expiresAt, id),
    list: (now) => list.all(now).map(toSession),
    revokeById: (id) => revoke(() => revokeById.all(id))[0],
    revokeByEmail: (email) => revoke(() => revokeByEmail.all(email.toLowerCase())),
    revokeAll: () => revoke(() => revokeAll.all()),
    deleteExpired: (now) => revoke(() => deleteExpired.all(now)).length,
  };
}

interface CodeRow {
  id: string;
  email: string;
  code_hash: string;
  link_token_hash: string;
  created_at: number;
  expires_at: number;
  failed_attempts: number;
  return_to: string;
  locale: string;
}

const toCode = (row: CodeRow): CodeRecord => ({
  id: row.id,
  email: row.email,
  codeHash: row.code_hash,
  linkTokenHash: row.link_token_hash,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  failedAttempts: row.failed_attempts,
  returnTo: row.return_to,
  locale: row.locale,
});

function codeStore(db: Database.Database): CodeStore {
  const put = db.prepare(
    `INSERT OR REPLACE INTO codes (id, email, code_hash, link_token_hash, created_at, expires_at, failed_attempts, return_to, locale)
     VALUES (@id, @email, @codeHash, @linkTokenHash, @createdAt, @expiresAt, @failedAttempts, @returnTo, @locale)`,
  );
  const get = db.prepare<[string], CodeRow>('SELECT * FROM codes WHERE id = ?');
  const byLink = db.prepare<[string], CodeRow>('SELECT * FROM codes WHERE link_token_hash = ?');
  const fail = db.prepare<[string], { failed_attempts: number }>('UPDATE codes SET failed_attempts = failed_attempts + 1 WHERE id = ? RETURNING failed_attempts');
  const remove = db.prepare('DELETE FROM codes WHERE id = ?');
  const deleteExpired = db.prepare('DELETE FROM codes WHERE expires_at <= ?');
  return {
    put: (code) => void put.run(code),
    get: (id) => {
      const row = get.get(id);
      return row && toCode(row);
    },
    getByLinkTokenHash: (hash) => {
      const row = byLink.get(hash);
      return row && toCode(row);
    },
    recordFailure: (id) => fail.get(id)?.failed_attempts ?? 0,
    delete: (id) => void remove.run(id),
    deleteExpired: (now) => deleteExpired.run(now).changes,
  };
}

interface DeviceRow {
  id: string;
  token_hash: string;
  email: string;
  name: string;
  created_at: number;
  last_used_at: number | null;
  last_ip: string | null;
  revoked_at: number | null;
}

const toDevice = (row: DeviceRow): DeviceRecord => ({
  id: row.id,
  tokenHash: row.token_hash,
  email: row.email,
  name: row.name,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
  lastIp: row.last_ip,
  revokedAt: row.revoked_at,
});

const deviceIds = (rows: readonly DeviceRecord[]) => rows.map((row) => row.id);

function deviceStore(db: Database.Database, changes: SqliteChangeFeed): DeviceStore {
  const insert = db.prepare(
    `INSERT INTO devices (id, token_hash, email, name, created_at, last_used_at, last_ip, revoked_at)
     VALUES (@id, @tokenHash, @email, @name, @createdAt, @lastUsedAt, @lastIp, @revokedAt)`,
  );
  const byToken = db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE token_hash = ?');
  const touch = db.prepare('UPDATE devices SET last_used_at = ?, last_ip = ? WHERE id = ?');
  const listActive = db.prepare<[], DeviceRow>('SELECT * FROM devices WHERE revoked_at IS NULL ORDER BY created_at, id');
  const listAll = db.prepare<[], DeviceRow>('SELECT * FROM devices ORDER BY created_at, id');
  const countActive = db.prepare<[string], number>('SELECT count(*) FROM devices WHERE email = ? AND revoked_at IS NULL').pluck();
  const revoke = (where: string) => db.prepare<unknown[], DeviceRow>(`UPDATE devices SET revoked_at = ? WHERE revoked_at IS NULL ${where} RETURNING *`);
  const revokeById = revoke('AND id = ?');
  const revokeByEmail = revoke('AND email = ?');
  const revokeAll = revoke('');
  const revoked = (write: () => DeviceRow[]) => changes.revoke('device', () => write().map(toDevice), deviceIds);
  return {
    create: (device) => void insert.run(device),
    findByTokenHash: (tokenHash) => {
      const row = byToken.get(tokenHash);
      return row && toDevice(row);
    },
    touch: (id, lastUsedAt, lastIp) => void touch.run(lastUsedAt, lastIp, id),
    list: (options = {}) => (options.includeRevoked ? listAll : listActive).all().map(toDevice),
    countActive: (email) => countActive.get(email.toLowerCase()) as number,
    revokeById: (id, at) => revoked(() => revokeById.all(at, id))[0],
    revokeByEmail: (email, at) => revoked(() => revokeByEmail.all(at, email.toLowerCase())),
    revokeAll: (at) => revoked(() => revokeAll.all(at)),
  };
}

interface PasskeyRow {
  id: string;
  credential_id: string;
  public_key: Buffer;
  counter: number;
  email: string;
  name: string;
  transports: string;
  created_at: number;
  last_used_at: number | null;
}

const toPasskey = (row: PasskeyRow): PasskeyRecord => ({
  id: row.id,
  credentialId: row.credential_id,
  publicKey: row.public_key,
  counter: row.counter,
  email: row.email,
  name: row.name,
  transports: row.transports,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
});

const passkeyIds = (rows: readonly PasskeyRecord[]) => rows.map((row) => row.id);

function passkeyStore(db: Database.Database, changes: SqliteChangeFeed): PasskeyStore {
  const insert = db.prepare(
    `INSERT INTO passkeys (id, credential_id, public_key, counter, email, name, transports, created_at, last_used_at)
     VALUES (@id, @credentialId, @publicKey, @counter, @email, @name, @transports, @createdAt, @lastUsedAt)`,
  );
  const byCredential = db.prepare<[string], PasskeyRow>('SELECT * FROM passkeys WHERE credential_id = ?');
  const byId = db.prepare<[string], PasskeyRow>('SELECT * FROM passkeys WHERE id = ?');
  const listAll = db.prepare<[], PasskeyRow>('SELECT * FROM passkeys ORDER BY created_at, id');
  const listFor = db.prepare<[string], PasskeyRow>('SELECT * FROM passkeys WHERE email = ? ORDER BY created_at, id');
  const used = db.prepare('UPDATE passkeys SET counter = ?, last_used_at = ? WHERE id = ?');
  const revokeById = db.prepare<[string], PasskeyRow>('DELETE FROM passkeys WHERE id = ? RETURNING *');
  const revokeByEmail = db.prepare<[string], PasskeyRow>('DELETE FROM passkeys WHERE email = ? RETURNING *');
  const revokeAll = db.prepare<[], PasskeyRow>('DELETE FROM passkeys RETURNING *');
  const handleOf = db.prepare<[string], string>('SELECT handle FROM passkey_users WHERE email = ?').pluck();
  const addHandle = db.prepare('INSERT OR IGNORE INTO passkey_users (email, handle) VALUES (?, ?)');
  const putChallenge = db.prepare('INSERT INTO passkey_challenges (challenge, purpose, binding, email, expires_at) VALUES (?, ?, ?, ?, ?)');
  const dropExpired = db.prepare('DELETE FROM passkey_challenges WHERE expires_at <= ?');
  const removed = (write: () => PasskeyRow[]) => changes.revoke('passkey', () => write().map(toPasskey), passkeyIds);
  const take = db.prepare<[string], { purpose: string; binding: string; email: string | null; expires_at: number }>(
    'DELETE FROM passkey_challenges WHERE challenge = ? RETURNING purpose, binding, email, expires_at',
  );
  return {
    create: (passkey) => void insert.run(passkey),
    findByCredentialId: (credentialId) => {
      const row = byCredential.get(credentialId);
      return row && toPasskey(row);
    },
    list: (email) => (email === undefined ? listAll.all() : listFor.all(email.toLowerCase())).map(toPasskey),
    used: (id, counter, at) => void used.run(counter, at, id),
    revokeById: (id, email) => {
      const row = byId.get(id);
      if (!row || (email !== undefined && row.email !== email.toLowerCase())) return undefined;
      return removed(() => revokeById.all(id))[0];
    },
    revokeByEmail: (email) => removed(() => revokeByEmail.all(email.toLowerCase())),
    revokeAll: () => removed(() => revokeAll.all()),
    userHandle: (email) => {
      const address = email.toLowerCase();
      addHandle.run(address, crypto.randomBytes(32).toString('base64url'));
      return handleOf.get(address) as string;
    },
    putChallenge: (challenge, purpose, binding, email, expiresAt, now) => {
      // Abandoned ceremonies are swept here, so the table only ever holds the last few minutes' worth.
      dropExpired.run(now);
      putChallenge.run(challenge, purpose, binding, email, expiresAt);
    },
    takeChallenge: (challenge, purpose, binding, now) => {
      const row = take.get(challenge);
      if (!row || row.purpose !== purpose || row.binding !== binding || row.expires_at <= now) return undefined;
      return { email: row.email };
    },
  };
}

interface TunnelTokenRow {
  id: string;
  name: string;
  secret_hash: string;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

function tunnelTokenStore(db: Database.Database, changes: SqliteChangeFeed): TunnelTokenStore {
  const insert = db.prepare('INSERT INTO tunnel_tokens (id, name, secret_hash, created_at) VALUES (?, ?, ?, ?)');
  const list = db.prepare<[], TunnelTokenRow>('SELECT * FROM tunnel_tokens ORDER BY created_at, id');
  const revoke = db.prepare('UPDATE tunnel_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
  const find = db.prepare<[string], Pick<TunnelTokenRow, 'secret_hash' | 'revoked_at'>>('SELECT secret_hash, revoked_at FROM tunnel_tokens WHERE id = ?');
  const touch = db.prepare('UPDATE tunnel_tokens SET last_used_at = ? WHERE id = ?');
  return {
    insert: (r) => void insert.run(r.id, r.name, r.secretHash, r.createdAt),
    list: () => list.all().map((row) => ({ id: row.id, name: row.name, createdAt: row.created_at, revokedAt: row.revoked_at, lastUsedAt: row.last_used_at })),
    revoke: (id, at) =>
      changes.revoke(
        'tunnel-token',
        () => revoke.run(at, id).changes > 0,
        () => [id],
      ),
    findHash: (id) => {
      const row = find.get(id);
      return row && { secretHash: row.secret_hash, revokedAt: row.revoked_at };
    },
    touch: (id, at) => void touch.run(at, id),
  };
}

function tunnelPresenceStore(db: Database.Database): TunnelPresenceStore {
  const upsert = db.prepare(
    'INSERT INTO tunnel_presence (gateway_id, snapshot, expires_at) VALUES (?, ?, ?) ON CONFLICT (gateway_id) DO UPDATE SET snapshot = excluded.snapshot, expires_at = excluded.expires_at',
  );
  const dropExpired = db.prepare('DELETE FROM tunnel_presence WHERE expires_at <= ?');
  const list = db.prepare<[number], { gateway_id: string; snapshot: string; expires_at: number }>(
    'SELECT gateway_id, snapshot, expires_at FROM tunnel_presence WHERE expires_at > ? ORDER BY gateway_id',
  );
  const remove = db.prepare('DELETE FROM tunnel_presence WHERE gateway_id = ?');
  return {
    upsert: (gatewayId, snapshot, expiresAt) =>
      db.transaction(() => {
        // Crashed gateways' entries are swept by the living ones, so the table holds only the last few seconds.
        dropExpired.run(Date.now());
        upsert.run(gatewayId, snapshot, expiresAt);
      })(),
    list: (now) => list.all(now).map((row) => ({ gatewayId: row.gateway_id, snapshot: row.snapshot, expiresAt: row.expires_at })),
    remove: (gatewayId) => void remove.run(gatewayId),
  };
}

export function auditLog(db: Database.Database): AuditLog {
  const insert = db.prepare('INSERT INTO audit (at, type, email, ip, detail, count) VALUES (?, ?, ?, ?, ?, ?)');
  const deleteOlder = db.prepare('DELETE FROM audit WHERE at < ?');
  return {
    deleteOlderThan: (before) => deleteOlder.run(before).changes,
    record: (event) => void insert.run(event.at ?? Date.now(), event.type, event.email ?? null, event.ip ?? null, event.detail ?? null, event.count ?? 1),
    flush: () => undefined,
    list: (filter = {}) => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.type) (where.push('type = ?'), params.push(filter.type));
      if (filter.email) (where.push('email = ?'), params.push(filter.email.toLowerCase()));
      if (filter.sinceMs !== undefined) (where.push('at >= ?'), params.push(filter.sinceMs));
      const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
      params.push(Math.min(Math.max(filter.limit ?? 100, 1), 10_000));
      return db.prepare<unknown[], AuditEvent>(sql).all(...params);
    },
  };
}

/**
 * The database holds addresses, client IPs and the audit log: readable by its owner only, whatever the folder's
 * mode (a Docker volume usually exists already, 0755). Created 0600 before SQLite opens it, because SQLite gives
 * its -wal and -shm files the database file's mode; an older world-readable file is tightened.
 */
function ownerOnlyDatabaseFile(file: string): void {
  fs.closeSync(fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600));
  for (const name of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if ((fs.statSync(name).mode & 0o077) !== 0) fs.chmodSync(name, 0o600);
    } catch (error) {
      // Gone, or another user's file (a command run by someone else): nothing this process may change.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EPERM') throw error;
    }
  }
}

export interface SqliteStoreOptions {
  /** Audit rows per hour that requests without a session may add (config auditRowsPerHour). */
  auditRowsPerHour?: number;
  /** The audit guard's clock for its windows (tests); the wall clock otherwise. */
  auditClock?: () => number;
  /** How often other processes' revocations are looked for while anyone listens (FOREIGN_CHANGE_CHECK_MS). */
  changeCheckMs?: number;
  /** Bounds of the per-link record (config share.linkRecords). */
  linkRecords?: { rowsPerHour: number; maxRowsPerLink: number };
}

/** How long a write waits for another connection's lock (the gateway and a command beside it) before failing. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * The one opener of `<dataDir>/porthole.db` (creating it if needed), for the gateway and every command alike;
 * ':memory:' for throwaway stores.
 */
export function openSqliteStore(dataDir: string | ':memory:', options: SqliteStoreOptions = {}): Store {
  let file = ':memory:';
  if (dataDir !== ':memory:') {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    file = path.join(dataDir, 'porthole.db');
    ownerOnlyDatabaseFile(file);
  }
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  // The gateway and a command run beside it share the file: a writer waits this long for the other's lock.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  migrate(db);
  const changes = createSqliteChangeFeed(db, options.changeCheckMs);
  const limiters = new Map<string, RateLimiterAbstract>();
  const limiterTables = new Set<string>();
  const audit = guardAudit(auditLog(db), { rowsPerHour: options.auditRowsPerHour ?? DEFAULT_AUDIT_ROWS_PER_HOUR, clock: options.auditClock, timer: true });
  const linkRecords = openLinkRecords(db, { rowsPerHour: 120, maxRowsPerLink: 5000, ...options.linkRecords, clock: options.auditClock, timer: true });
  return {
    sessions: sessionStore(db, changes),
    codes: codeStore(db),
    devices: deviceStore(db, changes),
    passkeys: passkeyStore(db, changes),
    tunnelTokens: tunnelTokenStore(db, changes),
    tunnelPresence: tunnelPresenceStore(db),
    audit,
    changes: { subscribe: (listener) => changes.subscribe(listener) },
    linkChanged: (ids) => changes.linkChanged(ids),
    linkRecords,
    acme: dataDir === ':memory:' ? undefined : fileAcmeStore(dataDir, db),
    limiter(name: string, options: LimiterOptions) {
      let limiter = limiters.get(name);
      if (!limiter) {
        const tableName = `ratelimit_${name.replace(/[^a-z0-9_]/gi, '_')}`;
        // The library creates its table asynchronously and refuses to count until then; created here
        // (its own schema), the limiter works from the first request after start.
        db.exec(`CREATE TABLE IF NOT EXISTS ${tableName} (key TEXT PRIMARY KEY, points INTEGER NOT NULL DEFAULT 0, expire INTEGER)`);
        limiter = new RateLimiterSQLite({
          storeClient: db,
          storeType: 'better-sqlite3',
          tableCreated: true,
          tableName,
          keyPrefix: name,
          points: options.points,
          duration: options.durationSeconds,
          blockDuration: options.blockSeconds ?? 0,
        });
        limiters.set(name, limiter);
        limiterTables.add(tableName);
      }
      return limiter;
    },
    deleteExpiredLimits(now: number) {
      let removed = 0;
      for (const table of limiterTables) removed += db.prepare(`DELETE FROM ${table} WHERE expire < ?`).run(now).changes;
      return removed;
    },
    close: () => {
      changes.close();
      try {
        audit.close();
        linkRecords.close();
      } finally {
        db.close();
      }
    },
  };
}
