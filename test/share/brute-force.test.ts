// Brute force and enumeration on the share host: link passwords slowed and limited per link and client (from
// several loopback addresses), a per-link ceiling that spares clients without failures, a per-client limit
// across links, unknown keys and slugs limited per client, lockouts audited, no refusal that tells a guess apart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startShare } from './harness.js';

const json = { 'content-type': 'application/json' };

const ATTACKER = '127.0.0.2';
const FAMILY = '127.0.0.3';
const MISTYPER = '127.0.0.4';

test('an attack from one address meets growing delays and its own lockout; another address gets in, a third is slowed, not locked, until its own limit', async () => {
  const clock = { now: Date.now() };
  const s = await startShare(
    {
      share: {
        rateLimits: {
          passwordFreeFailures: 2,
          passwordFirstDelay: '10s',
          passwordMaxDelay: '40s',
          passwordFailuresPerClient: 5,
          passwordFailuresPerIp: 1000,
          passwordFailuresPerLink: 50,
          window: '15m',
        },
      },
    },
    {},
    { now: () => clock.now },
  );
  try {
    const link = s.origin.library.createLink({ password: 'family-secret' });
    const login = (password: string, from: string, headers: Record<string, string> = {}) =>
      s.share(`/api/shared-links/login?key=${link.key}`, { method: 'POST', headers: { ...json, ...headers }, body: JSON.stringify({ password }), localAddress: from });
    const reachedImmich = () => s.origin.received.filter((r) => r.url.startsWith('/api/shared-links/login')).length;

    // Twenty guesses at once: only the free ones reach Immich, the rest wait their turn.
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => login(`guess-${i}`, ATTACKER)));
    assert.equal(burst.filter((r) => r.status === 401).length, 2);
    assert.equal(burst.filter((r) => r.status === 429).length, 18);
    assert.equal(reachedImmich(), 2);

    // The attacker waits out every delay and keeps guessing, far past its own limit.
    const attackerStatuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      let r = await login(`again-${i}`, ATTACKER);
      if (r.status === 429 && Number(r.headers['retry-after']) <= 40) {
        clock.now += Number(r.headers['retry-after']) * 1000;
        r = await login(`again-${i}`, ATTACKER);
      }
      attackerStatuses.push(r.status);
    }
    assert.deepEqual(attackerStatuses.slice(0, 3), [401, 401, 401], 'slowed guesses still reach Immich after their delay');
    assert.ok(
      attackerStatuses.slice(3).every((status) => status === 429),
      `locked after its own limit: ${attackerStatuses.join(',')}`,
    );
    assert.equal(reachedImmich(), 5, 'exactly passwordFailuresPerClient guesses reached Immich');
    const locked = await login('one-more', ATTACKER);
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers['retry-after']) > 40, 'the lockout lasts the window, not a delay');
    assert.equal((await login('family-secret', ATTACKER)).status, 429, 'even the right password from the attacking address waits');

    // The family, from another address, opens the link during the attack.
    const family = await login('family-secret', FAMILY);
    assert.equal(family.status, 201);
    const cookie = String(family.headers['set-cookie']).split(';')[0]!;
    assert.equal((await s.share(`/api/shared-links/me?key=${link.key}`, { headers: { cookie }, localAddress: FAMILY })).status, 200);

    // A third address that mistypes: its own wrong passwords slow it down, the attack does not.
    assert.equal((await login('typo-1', MISTYPER)).status, 401);
    assert.equal((await login('typo-2', MISTYPER)).status, 401);
    const slowed = await login('typo-3', MISTYPER);
    assert.equal(slowed.status, 429);
    assert.equal(slowed.headers['retry-after'], '10');
    assert.match(slowed.json<{ message: string }>().message, /^Too many wrong passwords\. Please try again in 10 seconds\.$/);
    const slowedDe = await login('typo-3', MISTYPER, { 'accept-language': 'de-DE,de;q=0.9' });
    assert.match(slowedDe.json<{ message: string }>().message, /^Zu viele falsche Passwörter\. Bitte in 10 Sekunden erneut versuchen\.$/);
    for (const expectedWait of [10, 20, 40]) {
      const waiting = await login('typo-x', MISTYPER);
      assert.equal(waiting.status, 429);
      assert.equal(Number(waiting.headers['retry-after']), expectedWait, 'each delay doubles');
      clock.now += expectedWait * 1000;
      assert.equal((await login('typo-x', MISTYPER)).status, 401, 'after the delay it may try again: slowed, not locked');
    }
    const ownLimit = await login('family-secret', MISTYPER);
    assert.equal(ownLimit.status, 429, 'its own limit reached');
    assert.ok(Number(ownLimit.headers['retry-after']) > 40);

    // The family is still welcome.
    assert.equal((await login('family-secret', FAMILY)).status, 201);
    assert.equal(reachedImmich(), 12);

    const audit = s.gateway.deps.store.audit.list({ type: 'share.locked' });
    assert.equal(audit.length, 2, 'each lockout audited once');
    for (const event of audit) {
      assert.match(event.detail ?? '', /per link and client/);
      assert.doesNotMatch(event.detail ?? '', new RegExp(link.key));
    }
    assert.deepEqual(audit.map((e) => e.ip).sort(), [ATTACKER, MISTYPER]);
    // One client's wrong passwords fold into counted rows (src/store/audit-guard.ts): count events, not rows.
    s.gateway.deps.store.audit.flush();
    assert.equal(
      s.gateway.deps.store.audit.list({ type: 'share.password-wrong' }).reduce((n, e) => n + (e.count ?? 1), 0),
      10,
    );
  } finally {
    await s.close();
  }
});

test('the per-link ceiling stops only addresses with wrong passwords of their own', async () => {
  const s = await startShare({ share: { rateLimits: { passwordFreeFailures: 10, passwordFailuresPerClient: 3, passwordFailuresPerIp: 1000, passwordFailuresPerLink: 6 } } });
  try {
    const link = s.origin.library.createLink({ password: 'pw' });
    const login = (password: string, from: string) =>
      s.share(`/api/shared-links/login?key=${link.key}`, { method: 'POST', headers: json, body: JSON.stringify({ password }), localAddress: from });
    assert.equal((await login('wrong', '127.0.0.4')).status, 401);
    for (const from of ['127.0.0.2', '127.0.0.2', '127.0.0.2', '127.0.0.3', '127.0.0.3']) assert.equal((await login('wrong', from)).status, 401);
    // Six wrong passwords on the link: the ceiling. 127.0.0.4 has one of its own, below its own limit.
    assert.equal((await login('pw', '127.0.0.4')).status, 429);
    assert.equal((await login('pw', '127.0.0.5')).status, 201, 'an address without failures still gets in');
    assert.equal((await login('wrong', '127.0.0.6')).status, 401, 'an address without failures gets its try');
    assert.equal((await login('pw', '127.0.0.6')).status, 429, '... and then has failures of its own');
    const audit = s.gateway.deps.store.audit.list({ type: 'share.locked' }).map((e) => e.detail ?? '');
    assert.equal(audit.filter((d) => /per link,/.test(d)).length, 1);
    assert.equal(audit.filter((d) => /per link and client/.test(d)).length, 1);
  } finally {
    await s.close();
  }
});

test('IPv6 clients of one /64 share their allowance on a link; another /64 has its own', async () => {
  const s = await startShare({ trustedProxies: ['127.0.0.1/32'], share: { rateLimits: { passwordFreeFailures: 10, passwordFailuresPerClient: 2, passwordFailuresPerIp: 1000 } } });
  try {
    const link = s.origin.library.createLink({ password: 'pw' });
    const login = (password: string, from: string) =>
      s.share(`/api/shared-links/login?key=${link.key}`, { method: 'POST', headers: { ...json, 'x-forwarded-for': from }, body: JSON.stringify({ password }) });
    assert.equal((await login('wrong', '2001:db8:1:2::a')).status, 401);
    assert.equal((await login('wrong', '2001:db8:1:2:ffff:eeee:dddd:cccc')).status, 401);
    assert.equal((await login('pw', '2001:db8:1:2::77')).status, 429, 'a new address in the same /64 is the same client');
    assert.equal((await login('pw', '2001:db8:1:3::a')).status, 201, 'the next /64 is someone else');
  } finally {
    await s.close();
  }
});

test('wrong passwords are limited per client across links; right passwords never count', async () => {
  const s = await startShare({ share: { rateLimits: { passwordFreeFailures: 100, passwordFailuresPerClient: 100, passwordFailuresPerIp: 4 } } });
  try {
    const links = Array.from({ length: 6 }, () => s.origin.library.createLink({ password: 'pw' }));
    const login = (key: string, password: string) => s.share(`/api/shared-links/login?key=${key}`, { method: 'POST', headers: json, body: JSON.stringify({ password }) });
    for (let i = 0; i < 10; i++) assert.equal((await login(links[0]!.key, 'pw')).status, 201, 'right passwords never lock anyone out');
    for (let i = 0; i < 4; i++) assert.equal((await login(links[i]!.key, 'bad')).status, 401);
    assert.equal((await login(links[5]!.key, 'bad')).status, 429);
    assert.equal((await login(links[4]!.key, 'pw')).status, 429);
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
  const { clientBucket } = await import('../../src/http/client-bucket.js');
  assert.equal(clientBucket('2001:db8:1:2:aaaa::1'), clientBucket('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
  assert.notEqual(clientBucket('2001:db8:1:2::1'), clientBucket('2001:db8:1:3::1'));
  assert.equal(clientBucket('::1'), '0:0:0:0::/64');
  assert.equal(clientBucket('192.0.2.7'), '192.0.2.7');
});
