// The database file holds addresses, client IPs and the audit log: it and its -wal/-shm files are the owner's
// alone (0600) whatever the data directory's mode, including a directory that already exists with 0755 (a Docker
// volume); a directory Porthole creates itself is 0700; an older world-readable file is tightened on open.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-perm-test-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const modeOf = (file: string) => (fs.statSync(file).mode & 0o777).toString(8);

/** Opens the store, writes (so SQLite makes its -wal and -shm files) and returns the modes while it is open. */
function modesAfterWriting(dataDir: string): Record<string, string> {
  const store = openSqliteStore(dataDir);
  try {
    store.audit.record({ type: 'session.created', email: 'alice@example.com', ip: '192.0.2.1', detail: 'x' });
    const db = path.join(dataDir, 'porthole.db');
    assert.ok(fs.existsSync(`${db}-wal`) && fs.existsSync(`${db}-shm`), 'WAL mode keeps -wal and -shm files while open');
    return { db: modeOf(db), wal: modeOf(`${db}-wal`), shm: modeOf(`${db}-shm`) };
  } finally {
    store.close();
  }
}

test('a pre-existing 0755 data directory: porthole.db, -wal and -shm are 0600', () => {
  const dataDir = path.join(root, 'volume');
  fs.mkdirSync(dataDir, { mode: 0o755 });
  fs.chmodSync(dataDir, 0o755);
  const previous = process.umask(0o022);
  try {
    assert.deepEqual(modesAfterWriting(dataDir), { db: '600', wal: '600', shm: '600' });
  } finally {
    process.umask(previous);
  }
  assert.equal(modeOf(dataDir), '755', 'a folder Porthole did not create is left as it is');
});

test('a data directory Porthole creates is 0700, its database 0600', () => {
  const dataDir = path.join(root, 'fresh', 'data');
  const previous = process.umask(0o022);
  try {
    assert.deepEqual(modesAfterWriting(dataDir), { db: '600', wal: '600', shm: '600' });
  } finally {
    process.umask(previous);
  }
  assert.equal(modeOf(dataDir), '700');
});

test('a world-readable database left by an older version is tightened when opened', () => {
  const dataDir = path.join(root, 'old');
  openSqliteStore(dataDir).close();
  const db = path.join(dataDir, 'porthole.db');
  fs.chmodSync(db, 0o644);
  assert.deepEqual(modesAfterWriting(dataDir), { db: '600', wal: '600', shm: '600' });
});
