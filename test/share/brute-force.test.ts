// Brute force and enumeration on the share host: link passwords limited per link and per client, unknown
// keys and slugs limited per client, lockouts audited, and no refusal that tells a guess apart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startShare } from './harness.js';

const json = { 'content-type': 'application/json' };

test('password attempts are limited per link, lockout audited, right password afterwards also refused', async () => {
  const s = await startShare({ share: { rateLimits: { passwordAttemptsPerLink: 3, passwordAttemptsPerIp: 100 } } });
  try {
    const link = s.origin.library.createLink({ password: 'correct' });
    const login = (password: string, ip?: string) =>
      s.share(`/api/shared-links/login?key=${link.key}`, { method: 'POST', headers: json, body: JSON.stringify({ password }) }).then((r) => (void ip, r));
    for (let i = 0; i < 3; i++) assert.equal((await login(`wrong-${i}`)).status, 401);
    const locked = await login('wrong-3');
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers['retry-after']) > 0);
    assert.equal((await login('correct')).status, 429);
    const before = s.origin.received.filter((r) => r.url.startsWith('/api/shared-links/login')).length;
    assert.equal(before, 3, 'locked attempts never reach Immich');
    const audit = s.gateway.deps.store.audit.list({ type: 'share.locked' });
    assert.equal(audit.length, 1);
    assert.match(audit[0]!.detail ?? '', /per link/);
    assert.doesNotMatch(audit[0]!.detail ?? '', new RegExp(link.key));
    assert.equal(s.gateway.deps.store.audit.list({ type: 'share.password-wrong' }).length, 3);
  } finally {
    await s.close();
  }
});

test('password attempts are limited per client across links; a right password gives its attempt back', async () => {
  const s = await startShare({ share: { rateLimits: { passwordAttemptsPerLink: 100, passwordAttemptsPerIp: 4 } } });
  try {
    const links = Array.from({ length: 6 }, () => s.origin.library.createLink({ password: 'pw' }));
    const login = (key: string, password: string) => s.share(`/api/shared-links/login?key=${key}`, { method: 'POST', headers: json, body: JSON.stringify({ password }) });
    for (let i = 0; i < 10; i++) assert.equal((await login(links[0]!.key, 'pw')).status, 201, 'right passwords never lock anyone out');
    for (let i = 0; i < 4; i++) assert.equal((await login(links[i]!.key, 'bad')).status, 401);
    assert.equal((await login(links[5]!.key, 'bad')).status, 429);
    const audit = s.gateway.deps.store.audit.list({ type: 'share.locked' });
    assert.equal(audit.length, 1);
    assert.match(audit[0]!.detail ?? '', /per ip/);
  } finally {
    await s.close();
  }
});

test('unknown key and slug lookups are limited per client; once locked even valid links get no answer', async () => {
  const s = await startShare({ share: { rateLimits: { unknownLinksPerIp: 5 } } });
  try {
    const valid = s.origin.library.createLink({});
    const guesses = ['/s/guess-1', `/share/${'a'.repeat(67)}`, `/api/shared-links/me?slug=guess-2`, `/api/shared-links/me?key=${'b'.repeat(67)}`, '/s/guess-3'];
    const refusals = await Promise.all(guesses.map((g) => s.share(g)));
    for (const r of refusals) {
      assert.equal(r.status, 404);
      assert.equal(r.json<{ error: string }>().error, 'not-found');
    }
    // The unknown-link 404 is byte-identical to a no-such-route 404 (no oracle).
    const noRoute = await s.share('/api/users/me');
    assert.equal(noRoute.text, refusals[0]!.text);
    assert.deepEqual(Object.keys(noRoute.headers).sort(), Object.keys(refusals[0]!.headers).sort());
    assert.equal((await s.share('/s/guess-4')).status, 429);
    assert.equal((await s.share(`/share/${valid.key}`)).status, 429);
    assert.equal(s.gateway.deps.store.audit.list({ type: 'share.locked' }).length, 1);
    // Routes that need no link still work for the locked client.
    assert.equal((await s.share('/api/server/config')).status, 200);
  } finally {
    await s.close();
  }
});

test('unlock cookies Immich does not accept count as guesses too', async () => {
  const s = await startShare({ share: { rateLimits: { unknownLinksPerIp: 3 } } });
  try {
    const link = s.origin.library.createLink({ password: 'pw' });
    const thumb = `/api/assets/${s.origin.library.album.assetIds[0]}/thumbnail?key=${link.key}`;
    for (let i = 0; i < 3; i++) assert.equal((await s.share(thumb, { headers: { cookie: `immich_shared_link_token=guess${i}` } })).status, 404);
    assert.equal((await s.share(thumb, { headers: { cookie: 'immich_shared_link_token=guess9' } })).status, 429);
    const lookups = s.origin.received.filter((r) => r.url.startsWith('/api/shared-links/me') && r.headers.cookie !== undefined).length;
    assert.equal(lookups, 3);
  } finally {
    await s.close();
  }
});

test('IPv6 clients are counted per /64, IPv4 per address', async () => {
  const { clientBucket } = await import('../../src/share/limits.js');
  assert.equal(clientBucket('2001:db8:1:2:aaaa::1'), clientBucket('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
  assert.notEqual(clientBucket('2001:db8:1:2::1'), clientBucket('2001:db8:1:3::1'));
  assert.equal(clientBucket('::1'), '0:0:0:0::/64');
  assert.equal(clientBucket('192.0.2.7'), '192.0.2.7');
});
