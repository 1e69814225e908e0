// Where tunnel tokens live on the gateway: an interface (so a future shared store can implement it) and
// its SQLite implementation in its own table, created by migrateTunnelTables(). Only secret hashes are kept.
import type Database from 'better-sqlite3';
import { hashSecret, newSecret, newTokenId, parseCredential, secretMatches } from './token.js';
import { MAX_NAME_LENGTH } from './protocol.js';

export interface TunnelTokenRecord {
  id: string;
  name: string;
  createdAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

export interface TunnelTokenStore {
  insert(record: { id: string; name: string; secretHash: string; createdAt: number }): void;
  list(): TunnelTokenRecord[];
  /** Returns false when no such token exists or it was already revoked. */
  revoke(id: string, at: number): boolean;
  findHash(id: string): { secretHash: string; revokedAt: number | null } | undefined;
  touch(id: string, at: number): void;
}

/** Idempotent; the tunnel's table is separate from the core schema so the two evolve independently. */
export function migrateTunnelTables(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS tunnel_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_used_at INTEGER
  )`);
}

interface Row {
  id: string;
  name: string;
  secret_hash: string;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

export function sqliteTunnelTokenStore(db: Database.Database): TunnelTokenStore {
  migrateTunnelTables(db);
  const insert = db.prepare('INSERT INTO tunnel_tokens (id, name, secret_hash, created_at) VALUES (?, ?, ?, ?)');
  const list = db.prepare('SELECT * FROM tunnel_tokens ORDER BY created_at');
  const revoke = db.prepare('UPDATE tunnel_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
  const find = db.prepare('SELECT secret_hash, revoked_at FROM tunnel_tokens WHERE id = ?');
  const touch = db.prepare('UPDATE tunnel_tokens SET last_used_at = ? WHERE id = ?');
  return {
    insert: (r) => void insert.run(r.id, r.name, r.secretHash, r.createdAt),
    list: () =>
      (list.all() as Row[]).map((row) => ({
        id: row.id,
        name: row.name,
        createdAt: row.created_at,
        revokedAt: row.revoked_at,
        lastUsedAt: row.last_used_at,
      })),
    revoke: (id, at) => revoke.run(at, id).changes > 0,
    findHash: (id) => {
      const row = find.get(id) as Pick<Row, 'secret_hash' | 'revoked_at'> | undefined;
      return row && { secretHash: row.secret_hash, revokedAt: row.revoked_at };
    },
    touch: (id, at) => void touch.run(at, id),
  };
}

export function validateTokenName(name: string): string {
  const trimmed = name.trim();
  if (!/^[\p{L}\p{N} ._@-]{1,64}$/u.test(trimmed) || trimmed.length > MAX_NAME_LENGTH) {
    throw new Error('token name: 1-64 letters, digits, spaces or . _ @ -');
  }
  return trimmed;
}

/** Creates a token; the returned secret is shown once and never stored. */
export function createTunnelToken(store: TunnelTokenStore, name: string, now = Date.now()): { id: string; secret: string } {
  const id = newTokenId();
  const secret = newSecret();
  store.insert({ id, name: validateTokenName(name), secretHash: hashSecret(secret), createdAt: now });
  return { id, secret };
}

export interface TokenVerifier {
  /** The token id when the credential is valid and not revoked, else null. */
  verify(credential: string): Promise<string | null> | string | null;
  /** Whether a token accepted earlier is still valid (polled to drop revoked connectors). */
  stillValid(tokenId: string): Promise<boolean> | boolean;
}

export function storeTokenVerifier(store: TunnelTokenStore): TokenVerifier {
  return {
    verify(credential) {
      const parsed = parseCredential(credential);
      if (!parsed) return null;
      const found = store.findHash(parsed.id);
      if (!found || found.revokedAt !== null) {
        // Same work as a hit, so the answer time says nothing about which ids exist.
        secretMatches(parsed.secret, '0'.repeat(64));
        return null;
      }
      if (!secretMatches(parsed.secret, found.secretHash)) return null;
      store.touch(parsed.id, Date.now());
      return parsed.id;
    },
    stillValid(tokenId) {
      const found = store.findHash(tokenId);
      return !!found && found.revokedAt === null;
    },
  };
}
