// The record per share link, through a real gateway in front of the sample Immich: a visitor opens, unlocks,
// downloads and uploads, an attacker guesses the password and pokes at refused routes, and each of those
// events is found in that link's record, whichever name (key, slug, Immich id, URL) it is read by. A flood of
// refusals from many clients stays within the record's bounds, and no key, slug or password reaches the store.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { clientLabel } from '../../src/share/link-events.js';
import { startShare, SHARE_HOST } from './harness.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
const MULTIPART = { 'content-type': 'multipart/form-data; boundary=x' };
const HTML = { accept: 'text/html' };

test('a link opened, unlocked, downloaded from, uploaded to and attacked: each event is in its record', async () => {
  const clock = { now: Date.now() };
  const s = await startShare(
    {
      share: {
        allowUploads: true,
        linkCacheTtl: '60s',
        // The second wrong password within a minute waits: a rate-limited attempt.
        rateLimits: { passwordFreeFailures: 1, passwordFirstDelay: '60s', passwordMaxDelay: '60s' },
      },
    },
    {},
    { now: () => clock.now },
  );
  try {
    const lib = s.origin.library;
    const link = lib.createLink({ password: 'open sesame', slug: 'family-summer', allowUpload: true });
    const asset = lib.album.assetIds[0]!;
    const records = s.gateway.deps.store.linkRecords;
    assert.equal(records.read(link.key), undefined, 'no record before the gateway saw the link');

    // A visitor opens the page by its slug, is asked for the password, guesses wrong, then too fast.
    assert.equal((await s.share('/s/family-summer', { headers: HTML })).status, 200);
    assert.equal((await s.share('/api/shared-links/me?slug=family-summer')).status, 401);
    const login = (password: string) => s.share(`/api/shared-links/login?key=${link.key}`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ password }) });
    assert.equal((await login('wrong-1')).status, 401);
    assert.equal((await login('wrong-2')).status, 429);
    // Without the unlock cookie an asset is refused (password required); a route the share host never opens too.
    assert.equal((await s.share(`/api/assets/${asset}?key=${link.key}`)).status, 404);
    assert.equal((await s.share(`/api/albums/${lib.album.id}?key=${link.key}`)).status, 404);
    assert.equal((await s.share(`/api/search/metadata?key=${link.key}`, { method: 'POST', headers: JSON_HEADERS, body: '{}' })).status, 404);

    // A minute later the right password, a download and an upload.
    clock.now += 61_000;
    const unlocked = await login('open sesame');
    assert.equal(unlocked.status, 201);
    const cookie = String(unlocked.headers['set-cookie']).split(';')[0]!;
    assert.equal((await s.share(`/api/assets/${asset}/original?key=${link.key}`, { headers: { cookie } })).status, 200);
    assert.equal((await s.share(`/api/assets?key=${link.key}`, { method: 'POST', headers: { ...MULTIPART, cookie }, body: Buffer.alloc(1000, 1) })).status, 201);
    assert.equal((await s.share(`/share/${link.key}`, { headers: HTML })).status, 200);

    const record = records.read(link.key, { limit: 100 })!;
    assert.ok(record, 'the link has a record');
    assert.equal(record.linkId, link.id, 'named by its Immich id once a visitor unlocked it');
    assert.equal(record.totals.view, 2);
    assert.equal(record.totals.unlock, 1);
    assert.equal(record.totals.download, 1);
    assert.equal(record.totals.upload, 1);
    assert.deepEqual(record.refusals, { 'wrong-password': 1, 'rate-limited': 1, 'password-required': 1, 'blocked-route': 2 });
    const kinds = new Set(record.events.map((e) => (e.reason ? `${e.kind}:${e.reason}` : e.kind)));
    for (const kind of ['view', 'unlock', 'download', 'upload', 'refused:wrong-password', 'refused:rate-limited', 'refused:password-required', 'refused:blocked-route']) {
      assert.ok(kinds.has(kind), `${kind} in the record`);
    }
    for (const event of record.events) {
      assert.equal(event.client, '127.0.0.0/24', 'the client is a /24, not the address');
      assert.ok(event.at >= clock.now - 120_000 && event.at <= clock.now, 'events carry the gateway clock time');
    }
    assert.match(record.events.find((e) => e.kind === 'download')!.detail ?? '', new RegExp(asset));
    // The same record by every name of the link.
    for (const name of ['family-summer', link.id, `https://${SHARE_HOST}/s/family-summer`, `http://${SHARE_HOST}/share/${link.key}`]) {
      assert.deepEqual(records.read(name, { limit: 100 })?.totals, record.totals, name);
    }
    assert.equal(records.read('no-such-slug'), undefined);
    // The list the admin page shows: each link with a record, by a name read() accepts.
    const locked = lib.createLink({ password: 'never told' });
    assert.equal((await s.share(`/share/${locked.key}`, { headers: HTML })).status, 200);
    const listed = records.list();
    assert.deepEqual(
      listed.map((l) => [l.linkId, l.views]).sort(),
      [
        [link.id, 2],
        [null, 1],
      ].sort(),
    );
    const lockedEntry = listed.find((l) => l.linkId === null)!;
    assert.match(lockedEntry.name, /^tag:[A-Za-z0-9_-]{16}$/);
    assert.equal(records.read(lockedEntry.name)?.totals.view, 1);
    assert.equal(records.read('tag:not-a-known-tag'), undefined);

    // Secrets never reach the store: not the key, not the slug, not the password.
    s.gateway.deps.store.audit.flush();
    const dataDir = s.gateway.deps.config.dataDir;
    const bytes = fs
      .readdirSync(dataDir)
      .filter((f) => f.startsWith('porthole.db'))
      .map((f) => fs.readFileSync(path.join(dataDir, f)).toString('latin1'))
      .join('');
    for (const secret of [link.key, 'family-summer', 'open sesame', 'wrong-1']) assert.equal(bytes.includes(secret), false, `${secret} not stored`);
  } finally {
    await s.close();
  }
});

test('links nobody confirmed get no record: a flood of made-up keys and slugs writes nothing', async () => {
  const s = await startShare({ share: { rateLimits: { unknownLinksPerIp: 100_000 } } });
  try {
    for (let i = 0; i < 200; i++) {
      const key = `${String(i).padStart(3, '0')}${'A'.repeat(64)}`;
      assert.equal((await s.share(`/share/${key}`)).status, 404);
      assert.equal((await s.share(`/api/albums/${s.origin.library.album.id}?slug=guess-${i}`)).status, 404);
      assert.equal(s.gateway.deps.store.linkRecords.read(key), undefined);
    }
    assert.equal(s.gateway.deps.store.linkRecords.read('guess-7'), undefined);
  } finally {
    await s.close();
  }
});

test('a flood of refusals from many clients stays within the record bounds, and every event is counted', async () => {
  const clock = { now: Date.now() };
  const rowsPerHour = 20;
  const maxRowsPerLink = 100;
  const s = await startShare(
    { share: { linkCacheTtl: '1h', rateLimits: { unknownLinksPerIp: 100_000 }, linkRecords: { fullClientAddress: true, rowsPerHour, maxRowsPerLink } } },
    {},
    { now: () => clock.now },
  );
  try {
    const lib = s.origin.library;
    const link = lib.createLink({});
    const records = s.gateway.deps.store.linkRecords;
    assert.equal((await s.share(`/share/${link.key}`, { headers: HTML })).status, 200);
    const clients = Array.from({ length: 40 }, (_, i) => `127.0.0.${i + 2}`);
    const perHour = 400;
    const hours = 8;
    let sent = 0;
    for (let hour = 0; hour < hours; hour++) {
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < perHour; i++) {
        const localAddress = clients[i % clients.length]!;
        batch.push(s.share(`/api/albums/${lib.album.id}?key=${link.key}`, { localAddress }).then((r) => assert.equal(r.status, 404)));
        if (batch.length >= 50) await Promise.all(batch.splice(0));
      }
      await Promise.all(batch);
      sent += perHour;
      if (hour === 0) {
        // Within the first hour: at most rowsPerHour rows besides the view, and not one event lost.
        const first = records.read(link.key, { limit: 10_000 })!;
        const refusedRows = first.events.filter((e) => e.kind === 'refused');
        assert.ok(refusedRows.length <= rowsPerHour, `${refusedRows.length} rows in the first hour`);
        clock.now += 3_600_001;
        s.gateway.deps.store.linkRecords.tick();
        const settled = records.read(link.key, { limit: 10_000 })!;
        const dropped = settled.events.filter((e) => e.kind === 'dropped');
        assert.equal(dropped.length, 1, 'one row counts what the cap left out');
        assert.equal(settled.totals.refused + settled.totals.dropped, perHour, 'folded and dropped counts add up to every refusal');
        continue;
      }
      clock.now += 3_600_001;
      s.gateway.deps.store.linkRecords.tick();
    }
    const record = records.read(link.key, { limit: 10_000 })!;
    assert.ok(record.events.length <= maxRowsPerLink + rowsPerHour + 1, `${record.events.length} rows kept for ${sent} refusals`);
    assert.ok(record.events.length >= maxRowsPerLink, 'the newest rows are kept up to the cap');
    assert.ok(new Set(record.events.map((e) => e.client)).size > 1, 'whole addresses when fullClientAddress is on');
    assert.ok(
      record.events.every((e) => e.client === null || /^127\.0\.0\.\d+$/.test(e.client)),
      'full client addresses',
    );
  } finally {
    await s.close();
  }
});

test('client labels: IPv4 /24 and IPv6 /48 prefixes, whole addresses only when asked', () => {
  assert.equal(clientLabel('192.0.2.77', false), '192.0.2.0/24');
  assert.equal(clientLabel('::ffff:192.0.2.77', false), '192.0.2.0/24');
  assert.equal(clientLabel('2001:db8:abcd:12::1', false), '2001:db8:abcd::/48');
  assert.equal(clientLabel('2001:0DB8:0:0:1::', false), '2001:db8:0::/48');
  assert.equal(clientLabel('::1', false), '0:0:0::/48');
  assert.equal(clientLabel('192.0.2.77', true), '192.0.2.77');
  assert.equal(clientLabel('2001:db8:abcd:12::1', true), '2001:db8:abcd:12::1');
});
