// The SQLite implementation of the store (better-sqlite3), with forward-only schema migrations.
// Synchronous and in-process: a session lookup is a prepared-statement point query on the hot path.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { RateLimiterSQLite, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { guardAudit } from './audit-guard.js';
import { LINK_RECORDS_MIGRATION, openLinkRecords } from './link-records.js';
import crypto from 'node:crypto';
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
  // 6: the record per share link (src/store/link-records.ts).
  LINK_RECORDS_MIGRATION,
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

/** How often, at most, the store asks SQLite whether another connection (the CLI) changed anything. */
const FOREIGN_CHANGE_POLL_MS = 200;

function sessionStore(db: Database.Database): SessionStore {
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
  const deleteExpired = db.prepare('DELETE FROM sessions WHERE expires_at <= ?');
  // data_version moves only when another connection commits; our own writes bump `local` instead.
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let local = 0;
  let seenVersion = dataVersion.get() as number;
  let polledAt = Date.now();
  const changed = <T>(result: T): T => (local++, result);
  return {
    create: (session) => void insert.run(session),
    findByTokenHash: (tokenHash) => {
      const row = byToken.get(tokenHash);
      return row && toSession(row);
    },
    touch: (id, lastSeenAt, expiresAt) => void touch.run(lastSeenAt, expiresAt, id),
    list: (now) => list.all(now).map(toSession),
    revokeById: (id) => {
      const row = revokeById.get(id);
      return changed(row && toSession(row));
    },
    revokeByEmail: (email) => changed(revokeByEmail.all(email.toLowerCase()).map(toSession)),
    revokeAll: () => changed(revokeAll.all().map(toSession)),
    deleteExpired: (now) => changed(deleteExpired.run(now).changes),
    revision: () => {
      const wall = Date.now();
      if (wall - polledAt >= FOREIGN_CHANGE_POLL_MS || wall < polledAt) {
        polledAt = wall;
        const version = dataVersion.get() as number;
        if (version !== seenVersion) ((seenVersion = version), local++);
      }
      return local;
    },
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

function deviceStore(db: Database.Database): DeviceStore {
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
  const foreign = foreignChanges(db);
  let local = 0;
  const changed = <T>(result: T): T => (local++, result);
  return {
    create: (device) => void insert.run(device),
    findByTokenHash: (tokenHash) => {
      const row = byToken.get(tokenHash);
      return row && toDevice(row);
    },
    touch: (id, lastUsedAt, lastIp) => void touch.run(lastUsedAt, lastIp, id),
    list: (options = {}) => (options.includeRevoked ? listAll : listActive).all().map(toDevice),
    countActive: (email) => countActive.get(email.toLowerCase()) as number,
    revokeById: (id, at) => {
      const row = revokeById.get(at, id);
      return changed(row && toDevice(row));
    },
    revokeByEmail: (email, at) => changed(revokeByEmail.all(at, email.toLowerCase()).map(toDevice)),
    revokeAll: (at) => changed(revokeAll.all(at).map(toDevice)),
    revision: () => local + foreign(),
  };
}

/**
 * Counts commits by other connections (the CLI), asking SQLite at most every FOREIGN_CHANGE_POLL_MS.
 * The count only grows, so adding it to a local counter gives a revision that moves on either.
 */
function foreignChanges(db: Database.Database): () => number {
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let seenVersion = dataVersion.get() as number;
  let polledAt = Date.now();
  let count = 0;
  return () => {
    const wall = Date.now();
    if (wall - polledAt >= FOREIGN_CHANGE_POLL_MS || wall < polledAt) {
      polledAt = wall;
      const version = dataVersion.get() as number;
      if (version !== seenVersion) ((seenVersion = version), count++);
    }
    return count;
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

function passkeyStore(db: Database.Database): PasskeyStore {
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
      const removed = revokeById.get(id);
      return removed && toPasskey(removed);
    },
    revokeByEmail: (email) => revokeByEmail.all(email.toLowerCase()).map(toPasskey),
    revokeAll: () => revokeAll.all().map(toPasskey),
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

function auditLog(db: Database.Database): AuditLog {
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
  /** Bounds of the per-link record (config share.linkRecords). */
  linkRecords?: { rowsPerHour: number; maxRowsPerLink: number };
}

/** Opens (creating if needed) the store at `<dataDir>/porthole.db`; ':memory:' for throwaway stores. */
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
  db.pragma('busy_timeout = 2000');
  migrate(db);
  const limiters = new Map<string, RateLimiterAbstract>();
  const limiterTables = new Set<string>();
  const audit = guardAudit(auditLog(db), { rowsPerHour: options.auditRowsPerHour ?? DEFAULT_AUDIT_ROWS_PER_HOUR, clock: options.auditClock, timer: true });
  const linkRecords = openLinkRecords(db, { rowsPerHour: 120, maxRowsPerLink: 5000, ...options.linkRecords, clock: options.auditClock, timer: true });
  return {
    sessions: sessionStore(db),
    codes: codeStore(db),
    devices: deviceStore(db),
    passkeys: passkeyStore(db),
    audit,
    linkRecords,
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
      try {
        audit.close();
        linkRecords.close();
      } finally {
        db.close();
      }
    },
  };
}
