// The ACME state of one gateway (store.kind: sqlite, or no store at all): the account key and certificates stay
// the owner-only files they always were, in dataDir/acme/<CA tag>/ (account.key.pem, certs/<name>.{crt,key}.pem),
// so nothing moves and nothing is imported. Challenge answers and the renewal lock live in the SQLite database
// when one is given (ACME_MIGRATION), otherwise in memory; with one gateway either answers exactly as before.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { AcmeCertificatePair, AcmeChallengeAnswer, AcmeStore, AcmeStoreEvent } from './store.js';

/**
 * Challenge answers and renewal locks, each with its expiry: migration 9 of src/store/sqlite.ts (after tunnel
 * presence, 8). IF NOT EXISTS like 8, so the migration tests that rebuild older schemas can run it again.
 */
export const ACME_MIGRATION = `CREATE TABLE IF NOT EXISTS acme_challenges (
     type TEXT NOT NULL,
     id TEXT NOT NULL,
     value TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (type, id)
   );
   CREATE TABLE IF NOT EXISTS acme_locks (
     name TEXT PRIMARY KEY,
     holder TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );`;

/** dataDir/acme/<tag>: the folder of one CA's account and certificates. */
export function acmeFilesDir(dataDir: string, ca: string): string {
  return path.join(dataDir, 'acme', ca);
}

/** What a single gateway keeps for one CA in dataDir/acme/<tag>, read without creating or changing anything. */
export interface AcmeFiles {
  ca: string;
  accountKey?: string;
  /** By name (as the file is named); `pair` is absent when its certificate or key file is missing or empty. */
  certificates: { name: string; pair?: AcmeCertificatePair }[];
}

/** Every CA's account key and certificates in dataDir/acme (`porthole store migrate` copies them), sorted. */
export function readAcmeFiles(dataDir: string): AcmeFiles[] {
  const list = (dir: string, isWanted: (entry: fs.Dirent) => boolean): string[] => {
    try {
      return fs
        .readdirSync(dir, { withFileTypes: true })
        .filter(isWanted)
        .map((entry) => entry.name)
        .sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  };
  return list(path.join(dataDir, 'acme'), (entry) => entry.isDirectory()).map((ca) => {
    const dir = acmeFilesDir(dataDir, ca);
    const certs = path.join(dir, 'certs');
    const names = list(certs, (entry) => entry.isFile() && entry.name.endsWith('.crt.pem')).map((file) => file.slice(0, -'.crt.pem'.length));
    return {
      ca,
      accountKey: readOrUndefined(path.join(dir, 'account.key.pem')) || undefined,
      certificates: names.map((name) => {
        const cert = readOrUndefined(path.join(certs, `${name}.crt.pem`));
        const key = readOrUndefined(path.join(certs, `${name}.key.pem`));
        return { name, pair: cert && key ? { cert, key } : undefined };
      }),
    };
  });
}

/** Owner-only directory, even when it already existed with looser bits. */
function privateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

function writePrivate(file: string, text: string): void {
  fs.writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  fs.chmodSync(`${file}.tmp`, 0o600);
  fs.renameSync(`${file}.tmp`, file);
}

/** Writes `file` only if it does not exist yet (atomically: a link fails on an existing name); returns what it holds. */
function createPrivateOnce(file: string, text: string): string {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  try {
    fs.linkSync(tmp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    fs.unlinkSync(tmp);
  }
  return fs.readFileSync(file, 'utf8');
}

function readOrUndefined(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Answers and locks with an expiry: rows in the database, or a map in memory. */
interface Expiring {
  put(type: string, id: string, value: string, expiresAt: number): void;
  get(type: string, id: string, now: number): string | undefined;
  remove(type: string, id: string): void;
  lock(name: string, holder: string, expiresAt: number, now: number): boolean;
  unlock(name: string, holder: string): void;
}

function inMemory(): Expiring {
  const answers = new Map<string, { value: string; expiresAt: number }>();
  const locks = new Map<string, { holder: string; expiresAt: number }>();
  return {
    put: (type, id, value, expiresAt) => void answers.set(`${type} ${id}`, { value, expiresAt }),
    get(type, id, now) {
      const found = answers.get(`${type} ${id}`);
      return found && found.expiresAt > now ? found.value : undefined;
    },
    remove: (type, id) => void answers.delete(`${type} ${id}`),
    lock(name, holder, expiresAt, now) {
      const held = locks.get(name);
      if (held && held.holder !== holder && held.expiresAt > now) return false;
      locks.set(name, { holder, expiresAt });
      return true;
    },
    unlock(name, holder) {
      if (locks.get(name)?.holder === holder) locks.delete(name);
    },
  };
}

function inDatabase(db: Database.Database): Expiring {
  const put = db.prepare(
    'INSERT INTO acme_challenges (type, id, value, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (type, id) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at',
  );
  const get = db.prepare('SELECT value FROM acme_challenges WHERE type = ? AND id = ? AND expires_at > ?').pluck();
  const remove = db.prepare('DELETE FROM acme_challenges WHERE type = ? AND id = ?');
  const sweep = db.prepare('DELETE FROM acme_challenges WHERE expires_at <= ?');
  const lock = db.prepare(
    `INSERT INTO acme_locks (name, holder, expires_at) VALUES (?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
     WHERE acme_locks.holder = excluded.holder OR acme_locks.expires_at <= ?`,
  );
  const unlock = db.prepare('DELETE FROM acme_locks WHERE name = ? AND holder = ?');
  return {
    put(type, id, value, expiresAt) {
      sweep.run(Date.now());
      put.run(type, id, value, expiresAt);
    },
    get: (type, id, now) => get.get(type, id, now) as string | undefined,
    remove: (type, id) => void remove.run(type, id),
    lock: (name, holder, expiresAt, now) => lock.run(name, holder, expiresAt, now).changes === 1,
    unlock: (name, holder) => void unlock.run(name, holder),
  };
}

/** The one-gateway ACME store: files in `dataDir`, answers and locks in `db` (or in memory without one). */
export function fileAcmeStore(dataDir: string, db?: Database.Database): AcmeStore {
  const expiring = db ? inDatabase(db) : inMemory();
  const events = new EventEmitter();
  const certFiles = (ca: string, name: string) => {
    const dir = path.join(acmeFilesDir(dataDir, ca), 'certs');
    return { dir, cert: path.join(dir, `${name}.crt.pem`), key: path.join(dir, `${name}.key.pem`) };
  };
  return {
    shared: false,
    async accountKey(ca, create) {
      const dir = acmeFilesDir(dataDir, ca);
      privateDir(dir);
      const file = path.join(dir, 'account.key.pem');
      const stored = readOrUndefined(file);
      if (stored) return stored;
      // Two creators at once (a second process on the same dataDir) both end up with the first one's key.
      return createPrivateOnce(file, await create());
    },
    async certificate(ca, name) {
      const f = certFiles(ca, name);
      const cert = readOrUndefined(f.cert);
      const key = readOrUndefined(f.key);
      return cert && key ? { cert, key } : undefined;
    },
    async saveCertificate(ca, name, pair) {
      const f = certFiles(ca, name);
      privateDir(acmeFilesDir(dataDir, ca));
      privateDir(f.dir);
      writePrivate(f.key, pair.key);
      writePrivate(f.cert, pair.cert);
      events.emit('event', { kind: 'certificate', ca, name } satisfies AcmeStoreEvent);
    },
    async putChallenge(answer: AcmeChallengeAnswer, ttlMs) {
      const expiresAt = Date.now() + ttlMs;
      if (answer.type === 'http-01') expiring.put(answer.type, answer.token, answer.keyAuthorization, expiresAt);
      else expiring.put(answer.type, answer.name.toLowerCase(), JSON.stringify({ cert: answer.cert, key: answer.key }), expiresAt);
    },
    async removeChallenge(type, id) {
      expiring.remove(type, type === 'http-01' ? id : id.toLowerCase());
    },
    async httpChallenge(token) {
      return expiring.get('http-01', token, Date.now());
    },
    async alpnChallenge(name) {
      const value = expiring.get('tls-alpn-01', name.toLowerCase(), Date.now());
      return value === undefined ? undefined : (JSON.parse(value) as AcmeCertificatePair);
    },
    async lock(ca, name, holder, ttlMs) {
      const now = Date.now();
      return expiring.lock(`${ca} ${name}`, holder, now + ttlMs, now);
    },
    async unlock(ca, name, holder) {
      expiring.unlock(`${ca} ${name}`, holder);
    },
    watch(listener) {
      events.on('event', listener);
      return () => void events.off('event', listener);
    },
  };
}
