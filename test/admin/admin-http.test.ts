// The admin page over real HTTP: who gets it (an admin's session) and who gets exactly the gate's answer for an
// unknown path instead (everyone else, byte for byte, any method), that the share host knows nothing of it, that
// every query parameter and form field is checked with a clear 400, that nothing from a person or a client reaches
// the HTML unescaped, that a forged action is refused and changes nothing, and that each action is audited and
// really ends what it revokes, or has the share host forget its cached link answers. Reloading gate.admins takes
// the page away at once.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { addDevice, DEVICE_HEADER } from '../../src/gate/devices.js';
import { issueSession } from '../../src/gate/session.js';
import { adminPage, type AdminView } from '../../src/admin/pages.js';
import { parseQuery } from '../../src/admin/filters.js';
import type { StoreChange } from '../../src/store/store.js';
import { CookieJar, csrfFrom, SHARE_HOST, startTestGate, type Response, type TestGate } from '../gate/harness.js';

let gate: TestGate;
let admin: CookieJar;
let member: CookieJar;
const ADMIN = 'alice@example.com';

/** The admin page with nothing in it but what a test sets: the page renderer alone, no gateway. */
function renderPage(view: Partial<AdminView>): string {
  const query = parseQuery('');
  assert.ok(query.ok);
  return adminPage({
    locale: 'en',
    csrf: 'c'.repeat(64),
    admin: ADMIN,
    currentSessionId: '0'.repeat(16),
    now: Date.now(),
    notice: null,
    sessions: [],
    devices: [],
    passkeys: [],
    filter: query.filter,
    events: [],
    moreEvents: false,
    linkRecords: false,
    ...view,
  }).body;
}
const MEMBER = 'bob@family.example';

before(async () => {
  gate = await startTestGate({ gate: { allow: ['alice@example.com', '*@family.example'], admins: [ADMIN] } });
  admin = await gate.signIn(ADMIN);
  member = await gate.signIn(MEMBER);
});
after(() => gate?.close());

/** Everything a client can see of an answer except the Date header. */
const visible = (r: Response) => {
  const headers = { ...r.headers };
  delete headers.date;
  return { status: r.status, headers, body: r.body };
};

const html = { accept: 'text/html', 'accept-language': 'en' };
const formHeaders = (host: string) => ({ 'content-type': 'application/x-www-form-urlencoded', origin: `http://${host}`, 'sec-fetch-site': 'same-origin', accept: 'text/html' });

test('config: admins must be exact addresses that gate.allow lets in', () => {
  const base = { hosts: { private: 'photos.example' }, origin: { url: 'http://immich:2283' }, mail: { from: 'p@example.com', transport: 'console' } };
  const parse = (gateKeys: Record<string, unknown>) => () => parseConfig({ ...base, gate: { allow: ['a@example.com', '*@family.example'], ...gateKeys } }, 'test');
  assert.deepEqual(parse({ admins: ['A@Example.com', 'x@family.example'] })().gate.admins, ['a@example.com', 'x@family.example']);
  assert.deepEqual(parse({})().gate.admins, []);
  assert.throws(parse({ admins: ['eve@elsewhere.example'] }), /eve@elsewhere\.example is not allowed to sign in: add it to gate\.allow too/);
  assert.throws(parse({ admins: ['*@family.example'] }), /one exact email address/);
  assert.throws(parse({ admins: 'a@example.com' }), /gate\.admins/);
});

test('an admin gets the page; it lists sessions, devices, passkeys, connectors, events and the link cache', async () => {
  const page = await gate.request('GET', '/.porthole/admin', { jar: admin, headers: html });
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type']!, /^text\/html/);
  assert.equal(page.headers['cache-control'], 'no-store');
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
  assert.match(page.body, /<meta name="viewport"/);
  for (const id of ['sessions', 'devices', 'passkeys', 'tunnel', 'events', 'link-cache']) assert.match(page.body, new RegExp(`<section id="${id}"`));
  assert.ok(page.body.includes(MEMBER), "the other person's session is listed");
  assert.match(page.body, /this browser/);
  assert.match(page.body, /The tunnel is off/);
  assert.match(page.body, /session\.created/, 'the sign-ins are among the events');
  assert.match(page.body, /fresh of \d+ entries/);
});

test('everyone else gets exactly the answer for any unknown path under /.porthole/, whatever the method', async () => {
  const unknown = (method: string, jar: CookieJar | undefined, headers: Record<string, string>, body?: string) =>
    gate.request(method, '/.porthole/nothing-here', { jar, headers, body });
  const cases: Array<[string, string, Record<string, string>, string | undefined]> = [
    ['GET', '/.porthole/admin', html, undefined],
    ['GET', '/.porthole/admin?cat=signins', html, undefined],
    ['GET', '/.porthole/admin', { accept: 'application/json' }, undefined],
    ['GET', '/.porthole/admin', { ...html, 'accept-language': 'de' }, undefined],
    ['HEAD', '/.porthole/admin', html, undefined],
    ['PUT', '/.porthole/admin', html, undefined],
    ['GET', '/.porthole/admin/revoke', html, undefined],
    ['POST', '/.porthole/admin/revoke', formHeaders(gate.host), 'kind=session&id=0123456789abcdef&csrf=x'],
    ['GET', '/.porthole/admin/forget-links', html, undefined],
    ['POST', '/.porthole/admin/forget-links', formHeaders(gate.host), 'csrf=x'],
  ];
  for (const jar of [undefined, member]) {
    for (const [method, path, headers, body] of cases) {
      const answer = await gate.request(method, path, { jar, headers, body });
      const expected = await unknown(method, jar, headers, body);
      assert.equal(answer.status, 404, `${method} ${path} ${jar ? 'signed in' : 'signed out'}`);
      assert.deepEqual(visible(answer), visible(expected), `${method} ${path} ${jar ? 'as a non-admin' : 'signed out'}`);
    }
  }
  // The member's POST changed nothing: the admin's own session still works.
  assert.equal((await gate.request('GET', '/api/server/ping', { jar: admin })).status, 200);
});

test('the share host has no admin page: its one 404, even with an admin cookie', async () => {
  const host = `${SHARE_HOST}:${gate.port}`;
  const cookie = admin.header()!;
  const adminPath = await gate.request('GET', '/.porthole/admin', { host, headers: { ...html, cookie } });
  const anything = await gate.request('GET', '/no/such/thing', { host, headers: { ...html, cookie } });
  assert.equal(adminPath.status, 404);
  assert.deepEqual(visible(adminPath), visible(anything));
  assert.doesNotMatch(adminPath.body, /Admin|Sessions/);
});

test('filters and paging are checked: anything unexpected is a clear 400', async () => {
  const get = (query: string) => gate.request('GET', `/.porthole/admin${query}`, { jar: admin, headers: html });
  const bad: Array<[string, RegExp]> = [
    ['?cat=everything', /Unknown event category/],
    ['?page=0', /page must be a number from 1 to 40/],
    ['?page=41', /page must be a number from 1 to 40/],
    ['?page=1e3', /page must be a number/],
    ['?page=-1', /page must be a number/],
    ['?email=not-an-address', /not an email address/],
    ['?reason=%3Cscript%3Ealert(1)%3C%2Fscript%3E', /reason filter must be/],
    [`?reason=${'a'.repeat(81)}`, /reason filter must be/],
    ['?cat=signins&cat=all', /given more than once/],
    ['?sort=id', /Unknown parameter &quot;sort&quot;/],
    ['?%3Cscript%3E=1', /Unknown parameter/],
    ['?done=%3Cb%3E', /Unknown notice/],
    [`?email=${'a'.repeat(1100)}`, /query is too long/],
    ['?link=%22%3E%3Cscript%3E', /The link must be a share link/],
    [`?link=${'k'.repeat(301)}`, /The link must be a share link/],
  ];
  for (const [query, message] of bad) {
    const answer = await get(query);
    assert.equal(answer.status, 400, query);
    assert.match(answer.body, message, query);
    assert.doesNotMatch(answer.body, /<script>/, `nothing from ${query} comes back unescaped`);
  }
  for (const query of ['', '?cat=signins', '?cat=failed-codes&page=2', '?cat=lockouts', '?cat=share-refusals&reason=wrong%20password', `?email=${encodeURIComponent(MEMBER)}`]) {
    assert.equal((await get(query)).status, 200, query);
  }
});

test('the event filters select what they say, and paging goes back in time without overlap', async () => {
  const store = gate.gateway.deps.store;
  const at = gate.clock.now;
  for (let i = 0; i < 120; i++) store.audit.record({ type: 'code.wrong', at: at + i, email: 'carol@family.example', ip: '192.0.2.7', detail: `paging try ${i}` });
  store.audit.record({ type: 'share.locked', at, ip: '192.0.2.8', detail: 'password failures per link and client, link k:abcd' });
  const rows = (body: string) => [...body.matchAll(/paging try (\d+)/g)].map((m) => Number(m[1]));
  const first = await gate.request('GET', '/.porthole/admin?cat=failed-codes&email=carol%40family.example', { jar: admin, headers: html });
  assert.deepEqual(
    rows(first.body),
    Array.from({ length: 50 }, (_, i) => 119 - i),
    'newest first, 50 a page',
  );
  assert.match(first.body, /rel="next" href="\/\.porthole\/admin\?cat=failed-codes&amp;email=carol%40family\.example&amp;page=2#events"/);
  const third = await gate.request('GET', '/.porthole/admin?cat=failed-codes&email=carol%40family.example&page=3', { jar: admin, headers: html });
  assert.deepEqual(
    rows(third.body),
    Array.from({ length: 20 }, (_, i) => 19 - i),
  );
  assert.doesNotMatch(third.body, /rel="next"/, 'no page after the last');
  const lockouts = await gate.request('GET', '/.porthole/admin?cat=lockouts', { jar: admin, headers: html });
  assert.match(lockouts.body, /password failures per link and client/);
  assert.doesNotMatch(lockouts.body, /paging try/);
  const byReason = await gate.request('GET', '/.porthole/admin?reason=try%207', { jar: admin, headers: html });
  assert.deepEqual(rows(byReason.body), [79, 78, 77, 76, 75, 74, 73, 72, 71, 70, 7], 'details containing "try 7"');
});

test('nothing a person or client chose reaches the page unescaped', async () => {
  const store = gate.gateway.deps.store;
  const evil = '<script>alert(1)</script>';
  issueSession(store, gate.config, 'mallory@family.example', { now: gate.clock.now, ip: '192.0.2.9', userAgent: `Mozilla ${evil}"'` });
  store.passkeys.create({
    id: crypto.randomBytes(8).toString('hex'),
    credentialId: 'cred-evil',
    publicKey: Buffer.from('x'),
    counter: 0,
    email: 'mallory@family.example',
    name: `Phone ${evil}`,
    transports: '',
    createdAt: gate.clock.now,
    lastUsedAt: null,
  });
  store.audit.record({ type: 'share.refused', at: gate.clock.now, email: `${evil}@example.com`, ip: '192.0.2.9', detail: `blocked route ${evil}` });
  const page = await gate.request('GET', '/.porthole/admin', { jar: admin, headers: html });
  assert.equal(page.status, 200);
  assert.doesNotMatch(page.body, /<script/i);
  assert.match(page.body, /Mozilla &lt;script&gt;alert\(1\)&lt;\/script&gt;&quot;&#39;/);
  assert.match(page.body, /Phone &lt;script&gt;/);
  assert.match(page.body, /blocked route &lt;script&gt;/);
});

/** The admin page's CSRF token for this jar. */
async function adminToken(jar: CookieJar): Promise<string> {
  return csrfFrom((await gate.request('GET', '/.porthole/admin', { jar, headers: html })).body);
}

const post = (jar: CookieJar, body: string, headers: Record<string, string> = {}) =>
  gate.request('POST', '/.porthole/admin/revoke', { jar, body, headers: { ...formHeaders(gate.host), ...headers } });

test('forged actions are refused and change nothing; each refusal is audited', async () => {
  const victim = await gate.signIn('dave@family.example');
  const id = gate.gateway.deps.store.sessions.list(gate.clock.now).find((s) => s.email === 'dave@family.example')!.id;
  const token = await adminToken(admin);
  const attempts: Array<[string, Record<string, string>]> = [
    [`kind=session&id=${id}`, {}],
    [`kind=session&id=${id}&csrf=${'0'.repeat(64)}`, {}],
    [`kind=session&id=${id}&csrf=${token}&csrf=${token}`, {}],
    [`kind=session&id=${id}&csrf=${token}`, { 'sec-fetch-site': 'cross-site' }],
    [`kind=session&id=${id}&csrf=${token}`, { 'sec-fetch-site': 'same-site' }],
    [`kind=session&id=${id}&csrf=${token}`, { origin: 'http://evil.example' }],
  ];
  for (const [body, headers] of attempts) {
    const answer = await post(admin, body, headers);
    assert.equal(answer.status, 403, `${body} ${JSON.stringify(headers)}`);
    assert.match(answer.body, /This form has expired/);
  }
  // The token of another browser's cookie does not fit this one.
  const otherBrowser = new CookieJar();
  for (const [name, value] of admin.cookies) if (!name.includes('csrf')) otherBrowser.cookies.set(name, value);
  assert.equal((await post(otherBrowser, `kind=session&id=${id}&csrf=${token}`)).status, 403);
  assert.equal((await gate.request('GET', '/api/server/ping', { jar: victim })).status, 200, 'the session still works');
  // Repeated refusals from one client are folded into one row with a count (store/audit-guard.ts).
  gate.gateway.deps.store.audit.flush();
  const rejected = gate.gateway.deps.store.audit.list({ type: 'csrf.rejected', email: ADMIN });
  assert.equal(
    rejected.reduce((sum, e) => sum + (e.count ?? 1), 0),
    attempts.length + 1,
    'each forged action is in the audit log',
  );
  assert.equal(gate.gateway.deps.store.audit.list({ type: 'session.revoked' }).length, 0);
});

test('actions: bad fields are a clear 400, oversized or non-form bodies are refused', async () => {
  const token = await adminToken(admin);
  for (const body of [
    `kind=everything&id=0123456789abcdef&csrf=${token}`,
    `kind=session&id=../../etc&csrf=${token}`,
    `kind=session&csrf=${token}`,
    `kind=tunnel-token&id=0123456789abcdef&csrf=${token}`,
  ]) {
    const answer = await post(admin, body);
    assert.equal(answer.status, 400, body);
    assert.match(answer.body, /Expected what to revoke/);
  }
  assert.equal((await post(admin, `csrf=${token}&pad=${'x'.repeat(5000)}`)).status, 413);
  assert.equal((await post(admin, JSON.stringify({ csrf: token }), { 'content-type': 'application/json' })).status, 400);
  assert.equal((await gate.request('PUT', '/.porthole/admin', { jar: admin, headers: html })).status, 405);
});

test('revoking a session, a device and a passkey ends each at once, audited with who did it', async () => {
  const store = gate.gateway.deps.store;
  const victim = await gate.signIn('erin@family.example');
  const sessionId = store.sessions.list(gate.clock.now).find((s) => s.email === 'erin@family.example')!.id;
  const device = addDevice(store, gate.config.gate.allow, { email: 'erin@family.example', name: 'Erin phone' }, gate.clock.now);
  assert.equal((await gate.request('GET', '/api/server/ping', { headers: { [DEVICE_HEADER]: device.token } })).status, 200);
  const passkeyId = crypto.randomBytes(8).toString('hex');
  store.passkeys.create({
    id: passkeyId,
    credentialId: 'cred-erin',
    publicKey: Buffer.from('x'),
    counter: 0,
    email: 'erin@family.example',
    name: 'Erin key',
    transports: '',
    createdAt: gate.clock.now,
    lastUsedAt: null,
  });

  const token = await adminToken(admin);
  const act = async (kind: string, id: string, section: string) => {
    const answer = await post(admin, `kind=${kind}&id=${id}&csrf=${token}`);
    assert.equal(answer.status, 303);
    assert.equal(answer.headers.location, `/.porthole/admin?done=${kind}#${section}`);
  };
  await act('session', sessionId, 'sessions');
  assert.equal((await gate.request('GET', '/api/server/ping', { jar: victim })).status, 401, 'the revoked session no longer works');
  await act('device', device.record.id, 'devices');
  assert.equal((await gate.request('GET', '/api/server/ping', { headers: { [DEVICE_HEADER]: device.token } })).status, 401, 'the revoked device no longer works');
  await act('passkey', passkeyId, 'passkeys');
  assert.equal(store.passkeys.findByCredentialId('cred-erin'), undefined);

  for (const type of ['session.revoked', 'device.revoked', 'passkey.revoked'] as const) {
    const [event] = store.audit.list({ type, email: 'erin@family.example' });
    assert.ok(event, type);
    assert.match(event.detail!, /by alice@example\.com \(admin page\)/);
  }
  // Again: nothing is left to revoke, and the page says so.
  const again = await post(admin, `kind=session&id=${sessionId}&csrf=${token}`);
  assert.equal(again.headers.location, '/.porthole/admin?done=gone#sessions');
  const notice = await gate.request('GET', again.headers.location!.split('#')[0]!, { jar: admin, headers: html });
  assert.match(notice.body, /Nothing to revoke: it was already gone/);
});

test('forgetting cached link answers: refused without the CSRF token; with it announced on the change feed, forgotten, audited; in German too', async () => {
  const store = gate.gateway.deps.store;
  const lib = gate.origin.library;
  const shareHost = `${SHARE_HOST}:${gate.port}`;
  const link = lib.createLink({ description: 'cached on the share host' });
  const original = `/api/assets/${lib.album.assetIds[0]}/original?key=${link.key}`;
  /** Whether the share host still acts on its cached answer (downloads allowed) and passes the download to Immich. */
  const passedToImmich = async () => {
    const from = gate.origin.received.length;
    await gate.request('GET', original, { host: shareHost, headers: { accept: 'application/json' } });
    return gate.origin.received.slice(from).some((r) => r.url.startsWith(original.split('?')[0]!));
  };
  assert.equal((await gate.request('GET', original, { host: shareHost })).status, 200);
  lib.updateLink(link.id, { allowDownload: false });
  assert.equal(await passedToImmich(), true, 'the cached answer still says downloads are allowed');

  const announced: StoreChange[] = [];
  const stop = store.changes.subscribe((change) => change.kind === 'link' && announced.push(change));
  try {
    const page = await gate.request('GET', '/.porthole/admin', { jar: admin, headers: html });
    assert.match(
      page.body,
      /<form method="post" action="\/\.porthole\/admin\/forget-links"><input type="hidden" name="csrf" value="[0-9a-f]{64}"><button type="submit"[^>]*>Forget cached link answers<\/button>/,
    );
    assert.ok(page.body.includes(`<input type="hidden" name="link" value="${link.id}">`), 'each entry has its own form, naming the link by its Immich id');
    assert.equal(page.body.includes(link.key), false, 'the key is not on the page');
    const token = csrfFrom(page.body);
    const forget = (body: string, headers: Record<string, string> = {}) =>
      gate.request('POST', '/.porthole/admin/forget-links', { jar: admin, body, headers: { ...formHeaders(gate.host), ...headers } });

    for (const [body, headers] of [
      ['', {}],
      [`csrf=${'0'.repeat(64)}`, {}],
      [`csrf=${token}`, { 'sec-fetch-site': 'cross-site' }],
      [`csrf=${token}`, { origin: 'http://evil.example' }],
    ] as const) {
      const refused = await forget(body, headers);
      assert.equal(refused.status, 403, `${body} ${JSON.stringify(headers)}`);
    }
    assert.deepEqual(announced, [], 'a forged post announces nothing');
    assert.equal(await passedToImmich(), true, 'and forgets nothing');
    store.audit.flush();
    assert.ok(
      store.audit.list({ type: 'csrf.rejected', email: ADMIN }).some((e) => e.detail?.startsWith('/.porthole/admin/forget-links: ')),
      'the forged posts are audited with the path',
    );

    for (const body of [`link=../../x&csrf=${token}`, `link=${link.key}&csrf=${token}`, `link=${link.id}&link=${link.id}&csrf=${token}`]) {
      const bad = await forget(body);
      assert.equal(bad.status, 400, body);
      assert.match(bad.body, /Expected which link to forget/);
    }
    assert.deepEqual(announced, []);

    const done = await forget(`csrf=${token}`);
    assert.equal(done.status, 303);
    assert.equal(done.headers.location, '/.porthole/admin?done=link-cache#link-cache');
    assert.deepEqual(announced, [{ kind: 'link' }], 'every link, announced to every gateway sharing the store');
    assert.equal(await passedToImmich(), false, 'the share host asked Immich again and now refuses the download itself');
    const [event] = store.audit.list({ type: 'share.link-forgotten' });
    assert.equal(event?.email, ADMIN);
    assert.equal(event?.detail, `every cached link answer, by ${ADMIN} (admin page)`);

    const one = await forget(`link=${link.id}&csrf=${token}`);
    assert.equal(one.status, 303);
    assert.deepEqual(announced[1], { kind: 'link', ids: [link.id] });
    assert.equal(store.audit.list({ type: 'share.link-forgotten' })[0]?.detail, `cached answers about link ${link.id}, by ${ADMIN} (admin page)`);

    const german = await gate.request('GET', '/.porthole/admin?done=link-cache', { jar: admin, headers: { ...html, 'accept-language': 'de' } });
    assert.match(german.body, />Zwischengespeicherte Link-Antworten vergessen<\/button>/);
    assert.match(german.body, /Alle Gateways, die diesen Speicher teilen, wurden angewiesen, ihre zwischengespeicherten Link-Antworten zu vergessen\./);
    const english = await gate.request('GET', '/.porthole/admin?done=link-cache', { jar: admin, headers: html });
    assert.match(english.body, /Every gateway sharing this store was told to forget its cached link answers\./);
  } finally {
    stop();
  }
});

test('taking an address off gate.admins and reloading takes the page away at once', async () => {
  const next = parseConfig({ ...structuredClone(rawConfig()), gate: { allow: ['alice@example.com', '*@family.example'], admins: [] } }, 'reloaded');
  const plan = gate.gateway.reload(next);
  assert.ok(plan.applied.includes('gate.admins'));
  const page = await gate.request('GET', '/.porthole/admin', { jar: admin, headers: html });
  assert.deepEqual(visible(page), visible(await gate.request('GET', '/.porthole/nothing-here', { jar: admin, headers: html })));
  const back = parseConfig({ ...structuredClone(rawConfig()), gate: { allow: ['alice@example.com', '*@family.example'], admins: [ADMIN] } }, 'reloaded');
  gate.gateway.reload(back);
  assert.equal((await gate.request('GET', '/.porthole/admin', { jar: admin, headers: html })).status, 200);
});

/** The running config as input again (durations back in seconds), for a reload that changes only gate keys. */
function rawConfig() {
  const c = gate.config;
  return {
    listen: { address: c.listen.address, httpPort: c.listen.httpPort },
    hosts: c.hosts,
    publicScheme: c.publicScheme,
    origin: c.origin,
    mail: c.mail,
    dataDir: c.dataDir,
  };
}

test('the share-link record section: a looked-up record with its totals, refusals and events, all escaped', () => {
  const query = parseQuery('link=https%3A%2F%2Fshare.example%2Fs%2Ffamily-trip');
  assert.ok(query.ok);
  const view = (linkRecord: AdminView['linkRecord'], locale: 'en' | 'de' = 'en'): string => renderPage({ locale, filter: query.filter, linkRecords: true, linkRecord });
  const record = {
    linkId: '00000000-0000-4000-8000-000000000301',
    events: [
      { at: Date.now(), kind: 'refused', reason: 'wrong-password', client: '192.0.2.0/24', count: 7, detail: 'asset <script>x</script>' },
      { at: Date.now(), kind: 'upload', reason: null, client: '2001:db8::/48', count: 1, detail: null },
    ],
    totals: { view: 3, unlock: 1, download: 2, upload: 1, refused: 7 },
    refusals: { 'wrong-password': 7 },
    firstAt: Date.now(),
    lastAt: Date.now(),
  };
  const body = view(record);
  assert.match(body, /<section id="link-records"/);
  assert.match(body, /value="https:\/\/share\.example\/s\/family-trip"/);
  assert.match(body, /Uploads \(<code>upload<\/code>\): <strong>1<\/strong>/);
  assert.match(view(record, 'de'), /Seitenaufrufe \(<code>view<\/code>\): <strong>3<\/strong>/);
  assert.match(body, /wrong-password: <strong>7<\/strong>/);
  assert.match(body, /asset &lt;script&gt;x&lt;\/script&gt;/);
  assert.doesNotMatch(body, /<script/);
  assert.match(view(null), /Porthole has no record of that link/);
  assert.match(view(null, 'de'), /Porthole hat zu diesem Link keine Aufzeichnung/);
  // Without a record store wired in, there is no such section.
  assert.ok(query.ok);
  assert.doesNotMatch(renderPage({ filter: query.filter, linkRecords: false }), /link-records/);
});

test('the connectors section: a gateway alone shows its connectors as before; others that cannot be read are said so, in both languages', () => {
  const query = parseQuery('');
  assert.ok(query.ok);
  const status = {
    gateway: 'gw-here/127.0.0.1:8443',
    writtenAt: new Date().toISOString(),
    pid: 1,
    offlineSince: null,
    connectors: [
      {
        id: 'c0ffee00',
        tokenId: 'a1b2c3d4e5f6',
        name: 'nas',
        since: new Date().toISOString(),
        remoteAddress: '192.0.2.4:5000',
        openStreams: 1,
        streamsTotal: 9,
        bytesIn: 5000,
        bytesOut: 700,
      },
    ],
  };
  const view = (tunnel: AdminView['tunnel'], locale: 'en' | 'de' = 'en'): string => {
    const body = renderPage({ locale, tunnel, filter: query.filter });
    return /<section id="tunnel"[\s\S]*?<\/section>/.exec(body)![0];
  };
  const alone = view({ status, others: [], tokens: [] });
  assert.match(alone, /1 connector\(s\) attached\./);
  assert.match(alone, /<td data-label="Address">192\.0\.2\.4:5000<\/td>/);
  assert.doesNotMatch(alone, /gw-here|this gateway|share this store/, 'no gateway headings when there is only this one');

  const unread = view({ status, others: [], othersUnknown: true, tokens: [] });
  assert.match(unread, /The other gateways’ connectors could not be read from the store\./);
  assert.match(unread, /<h3 class="gateway">Gateway <code>gw-here\/127\.0\.0\.1:8443<\/code> <span class="muted">\(this gateway\)<\/span><\/h3>/);
  assert.match(unread, /<td data-label="Name">nas<\/td>/, "this gateway's own connectors are still listed");
  const german = view({ status, others: [], othersUnknown: true, tokens: [] }, 'de');
  assert.match(german, /Die Connectoren der anderen Gateways konnten nicht aus dem Speicher gelesen werden\./);
  assert.match(german, /\(dieses Gateway\)/);
});
