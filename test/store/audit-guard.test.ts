// The audit guard on a real SQLite store: long fields are cut with a hash, refusals fold into counted rows per
// client, type and address, the hourly cap drops (and counts) what is past it, and events only an operator or a
// signed-in person can cause always get their row. Time is a settable clock; tick() stands in for the timer.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ADDRESSES_PER_CLIENT, boundText, CAP_PERIOD_MS, FOLD_WINDOW_MS, MAX_DETAIL, type GuardedAuditLog } from '../../src/store/audit-guard.js';
import { formatAudit } from '../../src/cli/audit.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { AuditEvent, Store } from '../../src/store/store.js';

function setup(rowsPerHour = 1000) {
  const clock = { now: 1_000_000 };
  const store: Store = openSqliteStore(':memory:', { auditRowsPerHour: rowsPerHour, auditClock: () => clock.now });
  // The store's own guard, with the clock the test moves; tick() stands in for its timer.
  const audit = store.audit as GuardedAuditLog;
  const all = () => store.audit.list({ limit: 10_000 }).reverse();
  const sum = (rows: AuditEvent[]) => rows.reduce((n, r) => n + (r.count ?? 1), 0);
  return { store, clock, audit, all, sum };
}

test('long fields are cut to a bound and carry a hash of the whole value', () => {
  const { store, audit, all } = setup();
  const path = `/.porthole/${'A'.repeat(8000)}/../login`;
  audit.record({ type: 'csrf.rejected', ip: '203.0.113.9', detail: `${path}: no-cookie` });
  audit.record({ type: 'session.created', email: `${'x'.repeat(400)}@example.com`, ip: '1'.repeat(300), detail: 'd'.repeat(5000) });
  const [csrf, session] = all();
  assert.ok(csrf!.detail!.length <= MAX_DETAIL, `${csrf!.detail!.length}`);
  assert.match(csrf!.detail!, /… \[8031 chars, sha256 [A-Za-z0-9_-]{12}\]$/);
  assert.equal(boundText(`${path}: no-cookie`, MAX_DETAIL), csrf!.detail, 'the same value gives the same hash');
  assert.notEqual(boundText(`${path}x: no-cookie`, MAX_DETAIL), csrf!.detail);
  assert.ok(session!.email!.length <= 254 && session!.ip!.length <= 64 && session!.detail!.length <= MAX_DETAIL);
  store.close();
});

test('refusals fold: one row at once, the rest of the minute one row with the count', () => {
  const { store, clock, audit, all, sum } = setup();
  for (let i = 0; i < 500; i++) audit.record({ type: 'csrf.rejected', ip: '203.0.113.9', detail: `try ${i}` });
  for (let i = 0; i < 7; i++) audit.record({ type: 'rate.limited', ip: '2001:db8:1:2::' + (i + 1).toString(16), email: 'alice@example.com', detail: 'code request per IP' });
  assert.equal(all().length, 2, 'only the first of each client and type is written at once');
  clock.now += FOLD_WINDOW_MS - 1;
  audit.tick();
  assert.equal(all().length, 2, 'the window has not ended');
  clock.now += 1;
  audit.tick();
  const rows = all();
  assert.equal(rows.length, 4);
  const csrf = rows.filter((r) => r.type === 'csrf.rejected');
  assert.deepEqual(
    csrf.map((r) => r.count),
    [1, 499],
  );
  assert.equal(csrf[1]!.detail, 'try 499', 'the folded row keeps the last detail');
  // One IPv6 /64 is one client.
  assert.equal(sum(rows.filter((r) => r.type === 'rate.limited')), 7);
  assert.ok(rows.filter((r) => r.type === 'rate.limited').every((r) => r.email === 'alice@example.com'));
  // Another client, another row at once; an IPv4-mapped spelling of it is the same client.
  audit.record({ type: 'csrf.rejected', ip: '198.51.100.1', detail: 'x' });
  audit.record({ type: 'csrf.rejected', ip: '::ffff:198.51.100.1', detail: 'x' });
  assert.equal(all().length, 5);
  audit.record({ type: 'csrf.rejected', ip: '::ffff:198.51.100.2', detail: 'x' });
  assert.equal(all().length, 6);
  store.close();
});

test('a client naming many addresses gets rows for the first few; the rest share one row without an address', () => {
  const { store, audit, all, sum } = setup();
  for (let i = 0; i < 300; i++) audit.record({ type: 'rate.limited', ip: '203.0.113.9', email: `u${i}@family.example`, detail: 'code request per IP' });
  assert.equal(all().length, ADDRESSES_PER_CLIENT + 1);
  audit.flush();
  const rows = all();
  assert.ok(rows.length <= 2 * (ADDRESSES_PER_CLIENT + 1), `${rows.length} rows`);
  assert.equal(sum(rows), 300);
  assert.equal(rows.filter((r) => r.email === null).length, 2);
  store.close();
});

test('the hourly cap: rows past it are dropped and counted into one audit.dropped row when the hour ends', () => {
  const { store, clock, audit, all, sum } = setup(20);
  // 50 clients each refused twice and each asking for a code once: far more than 20 rows' worth.
  for (let c = 0; c < 50; c++) {
    const ip = `198.51.100.${c + 1}`;
    audit.record({ type: 'csrf.rejected', ip, detail: 'no-cookie' });
    audit.record({ type: 'csrf.rejected', ip, detail: 'no-cookie' });
    audit.record({ type: 'code.requested', ip, email: `p${c}@family.example` });
  }
  // What only a signed-in person or the operator can cause is never held back.
  audit.record({ type: 'session.created', ip: '198.51.100.77', email: 'alice@example.com', detail: 'code' });
  audit.record({ type: 'session.revoked', email: 'alice@example.com', detail: 'command line' });
  assert.equal(all().length, 22);
  clock.now += FOLD_WINDOW_MS;
  audit.tick();
  assert.equal(all().length, 22, 'the folded counts are past the cap too');
  clock.now += CAP_PERIOD_MS;
  audit.tick();
  const rows = all();
  const dropped = rows.filter((r) => r.type === 'audit.dropped');
  assert.equal(dropped.length, 1);
  assert.match(dropped[0]!.detail!, /cap of 20 rows per hour: .*csrf\.rejected \d+/);
  // Nothing is lost from the count: 150 unauthenticated events, in rows or in the dropped counter.
  assert.equal(sum(rows.filter((r) => r.type !== 'session.created' && r.type !== 'session.revoked')), 150);
  const perType = Object.fromEntries(
    dropped[0]!
      .detail!.split(': ')[1]!
      .split(', ')
      .map((s) => s.split(' '))
      .map(([t, n]) => [t, Number(n)]),
  );
  assert.equal(sum(rows.filter((r) => r.type === 'csrf.rejected')) + (perType['csrf.rejected'] ?? 0), 100);
  assert.equal(sum(rows.filter((r) => r.type === 'code.requested')) + (perType['code.requested'] ?? 0), 50);
  // A new hour has a new allowance.
  audit.record({ type: 'code.requested', ip: '198.51.100.1', email: 'p0@family.example' });
  assert.equal(all().length, rows.length + 1);
  store.close();
});

test('flush writes what is held back; closing the store writes it too', () => {
  const store = openSqliteStore(':memory:');
  for (let i = 0; i < 10; i++) store.audit.record({ type: 'share.password-wrong', ip: '203.0.113.5', detail: 'link abc' });
  assert.equal(store.audit.list().length, 1);
  store.audit.flush();
  const rows = store.audit.list();
  assert.deepEqual(
    rows.map((r) => r.count),
    [9, 1],
  );
  // `porthole audit` shows what a row stands for.
  assert.match(formatAudit(rows), /share\.password-wrong .*×9 link abc/);
  store.close();

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-audit-guard-'));
  try {
    const first = openSqliteStore(dir, { auditRowsPerHour: 10 });
    for (let i = 0; i < 30; i++) first.audit.record({ type: 'code.refused', ip: `198.51.100.${i}`, email: `x${i}@example.com` });
    for (let i = 0; i < 5; i++) first.audit.record({ type: 'csrf.rejected', ip: '203.0.113.5', detail: 'no-cookie' });
    first.close();
    const again = openSqliteStore(dir);
    const kept = again.audit.list({ limit: 100 });
    // 10 rows under the cap, then the dropped counter written at close (the folded csrf count was past the cap too).
    assert.equal(kept.filter((r) => r.type === 'code.refused').length, 10);
    const dropped = kept.find((r) => r.type === 'audit.dropped');
    assert.equal(dropped?.count, 20 + 5);
    assert.match(dropped!.detail!, /code\.refused 20, csrf\.rejected 5/);
    again.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
