// The per-installation secret: created once with mode 0600, stable across restarts, loose permissions
// repaired, a damaged file refused with a clear message; keys derived from it differ per purpose.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { hashCode } from '../../src/gate/codes.js';
import { deriveKeys, loadOrCreateSecret } from '../../src/gate/secret.js';

test('secret file: 0600, stable, repaired, validated', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-secret-test-'));
  try {
    const first = loadOrCreateSecret(dir);
    const file = path.join(dir, 'gate.key');
    assert.equal(first.length, 32);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(loadOrCreateSecret(dir), first);
    fs.chmodSync(file, 0o644);
    loadOrCreateSecret(dir);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    fs.writeFileSync(file, 'short');
    assert.throws(() => loadOrCreateSecret(dir), /must hold exactly 32 bytes/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('code hashes are keyed: another installation (or no key) computes different hashes', () => {
  const a = deriveKeys(Buffer.alloc(32, 1));
  const b = deriveKeys(Buffer.alloc(32, 2));
  assert.notDeepEqual(a.code, a.csrf);
  assert.notDeepEqual(a.code, a.pending);
  assert.notEqual(hashCode(a.code, 'x@example.com', '123456'), hashCode(b.code, 'x@example.com', '123456'));
  assert.notEqual(hashCode(a.code, 'x@example.com', '123456'), hashCode(a.code, 'y@example.com', '123456'), 'bound to the address');
});
