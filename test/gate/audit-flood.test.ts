// The audit-log disk fill, as the review did it: 3,000 pipelined requests from one client with 8 KB paths to the
// login form without a CSRF token (each refused with 403 and audited), plus over-limit code requests naming a new
// address each time (each refused with 429 and audited). The store's growth is measured on the file after a
// checkpoint, and the folded rows must still add up to every refusal.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { CookieJar, csrfFrom, startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
before(async () => {
  // 3,500 requests from one address in a second: past the listener's per-client request rate (test/listener), which
  // would answer 429 before the gate; this test is about what the gate's refusals cost the store.
  gate = await startTestGate({ gate: { rateLimits: { codesPerIpPerHour: 2 } }, listen: { address: '127.0.0.1', httpPort: 0, requestRate: false } });
});
after(() => gate.close());

/** Sends every request on one connection at once and resolves with the status of each response. */
function pipeline(port: number, requests: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let text = '';
    const statuses: number[] = [];
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      // Keep only an unfinished tail; status lines are counted as they arrive.
      const pattern = /HTTP\/1\.1 (\d{3}) /g;
      let match: RegExpExecArray | null;
      let last = 0;
      while ((match = pattern.exec(text))) (statuses.push(Number(match[1])), (last = pattern.lastIndex));
      text = text.slice(Math.max(last, text.length - 16));
      if (statuses.length >= requests.length) (socket.destroy(), resolve(statuses));
    });
    socket.on('error', reject);
    socket.on('close', () => (statuses.length < requests.length ? reject(new Error(`connection closed after ${statuses.length} of ${requests.length} responses`)) : undefined));
    socket.write(requests.join(''));
  });
}

/** Bytes and audit rows of the store, everything written through to the main file first. */
function measure(dataDir: string) {
  const file = path.join(dataDir, 'porthole.db');
  const db = new Database(file);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
    const walSize = fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0;
    const rows = db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number };
    const counts = Object.fromEntries(
      (db.prepare('SELECT type, sum(count) AS events, count(*) AS rows FROM audit GROUP BY type').all() as Array<{ type: string; events: number; rows: number }>).map((r) => [
        r.type,
        r,
      ]),
    );
    return { bytes: fs.statSync(file).size + walSize, rows: rows.n, counts };
  } finally {
    db.close();
  }
}

test('a flood of CSRF refusals with 8 KB paths and over-limit requests grows the store by a few rows, and the counts add up', async () => {
  const store = gate.gateway.deps.store;
  // Warm-up: one of each kind, so tables and limiter rows exist before the baseline.
  const jar = new CookieJar();
  const page = await gate.request('GET', '/.porthole/login', { jar, headers: { accept: 'text/html' } });
  const csrf = csrfFrom(page.body);
  const form = (email: string) => new URLSearchParams({ csrf, email, next: '/' }).toString();
  const post = (target: string, body: string, cookie = true) =>
    `POST ${target} HTTP/1.1\r\nHost: ${gate.host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `${cookie ? `Cookie: ${jar.header()}\r\nOrigin: http://${gate.host}\r\n` : ''}\r\n${body}`;
  const warm = await pipeline(gate.port, [
    post('/.porthole/login', form('w0@family.example')),
    post('/.porthole/login', form('w1@family.example')),
    post('/.porthole/login', form('w2@family.example')),
    post('/.porthole/login', '', false),
  ]);
  assert.deepEqual(warm, [303, 303, 429, 403]);
  store.audit.flush();
  const baseline = measure(gate.dataDir);

  const longPath = `/.porthole/${'A'.repeat(8000)}/../login`;
  const refusals = Array.from({ length: 1000 }, () => post(longPath, '', false));
  const overLimit = Array.from({ length: 500 }, (_, i) => post('/.porthole/login', form(`invented${i}@family.example`)));
  const results = await Promise.all([pipeline(gate.port, refusals), pipeline(gate.port, refusals), pipeline(gate.port, refusals), pipeline(gate.port, overLimit)]);
  assert.ok(
    results.slice(0, 3).every((statuses) => statuses.every((s) => s === 403)),
    'every long-path request reached the login handler and was refused for CSRF',
  );
  assert.ok(
    results[3]!.every((s) => s === 429),
    'every code request past the limit was refused',
  );

  store.audit.flush();
  const flooded = measure(gate.dataDir);
  const grewBy = flooded.bytes - baseline.bytes;
  const newRows = flooded.rows - baseline.rows;
  console.log(`store growth under the flood: ${grewBy} bytes, ${newRows} audit rows for 3,500 refusals`);
  // Unbounded, these were 3,500 rows and over 24 MB; bounded, a handful of rows in a page or two.
  assert.ok(newRows <= 12, `${newRows} new audit rows`);
  assert.ok(grewBy <= 64 * 1024, `the store grew by ${grewBy} bytes`);
  // Folded, not lost: every refusal is in a count.
  const events = (type: string) => (flooded.counts[type]?.events ?? 0) - (baseline.counts[type]?.events ?? 0);
  assert.equal(events('csrf.rejected'), 3000);
  assert.equal(events('rate.limited'), 500);
  assert.equal(flooded.counts['audit.dropped'], undefined, 'nothing past the hourly cap');
  const csrfRows = store.audit.list({ type: 'csrf.rejected', limit: 10 });
  assert.ok(
    csrfRows.every((row) => (row.detail ?? '').length <= 300),
    'the path is cut',
  );
  assert.match(csrfRows[0]!.detail!, /\/\.porthole\/A+… \[8020 chars, sha256 [\w-]{12}\]: no-cookie$/);
});
