// The admin page in a real Chromium: an admin signs in with a mailed code like anyone else and sees sessions,
// device tokens, passkeys, the home connector (a real one, attached through the tunnel) and the audit events,
// and revokes each; what was revoked really stops working. A signed-in non-admin gets what any unknown path
// gives. A form on another site of the same parent domain that posts to the admin page is refused and changes
// nothing. The page in German, on a phone. Screenshots go to test-output/screenshots/.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from './chromium.js';
import { addDevice, DEVICE_HEADER, type NewDevice } from '../../src/gate/devices.js';
import { runConnector } from '../../src/tunnel/connector.js';
import { createTunnelToken, encodeToken, openTunnelTokenStore } from '../../src/tunnel/index.js';
import { CookieJar, PRIVATE_HOST, SHARE_HOST, startTestGate, type TestGate } from '../gate/harness.js';
import { until } from '../until.js';

const SHOTS = path.resolve('test-output/screenshots');
const ADMIN = 'alice@example.com';
const MEMBER = 'bob@family.example';
const EVIL_HOST = 'evil.localhost';
let gate: TestGate;
let browser: Browser;
let base: string;
let connector: ReturnType<typeof runConnector>;
let tokenId: string;
let memberJar: CookieJar;
let device: NewDevice;
let passkeyId: string;
let evil: http.Server;
let evilPort: number;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  gate = await startTestGate({
    listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    tunnel: { enabled: true, publicAddress: '127.0.0.1:443' },
    gate: { allow: ['alice@example.com', '*@family.example'], admins: [ADMIN] },
  });
  base = `http://${PRIVATE_HOST}:${gate.port}`;
  const tokens = openTunnelTokenStore(gate.dataDir);
  const created = createTunnelToken(tokens.store, 'home-nas');
  tokens.close();
  tokenId = created.id;
  const { port, certificate } = gate.gateway.https!;
  connector = runConnector({
    token: encodeToken({ id: created.id, secret: created.secret, gateway: `127.0.0.1:${port}`, fingerprint: certificate.fingerprint }),
    origin: new URL(gate.origin.url),
    name: 'home-nas',
  });
  await until(() => gate.gateway.tunnel!.status().connectors.length === 1, 'the connector to attach');

  // Someone else signed in, with a phone (device token) and a passkey.
  memberJar = await gate.signIn(MEMBER);
  const store = gate.gateway.deps.store;
  device = addDevice(store, gate.config.gate.allow, { email: MEMBER, name: 'Bob tablet' });
  passkeyId = crypto.randomBytes(8).toString('hex');
  store.passkeys.create({
    id: passkeyId,
    credentialId: 'cred-bob',
    publicKey: Buffer.from('x'),
    counter: 0,
    email: MEMBER,
    name: 'Bob laptop',
    transports: '',
    createdAt: Date.now(),
    lastUsedAt: null,
  });

  // A page on another site under the same parent domain (same-site, so Lax cookies go along with its POST).
  evil = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><form id="f" method="post" action="${base}/.porthole/admin/revoke">
<input name="kind" value="session"><input name="id" value="${req.url!.slice(1)}"><input name="csrf" value="${'0'.repeat(64)}">
<button type="submit">Win a prize</button></form>`);
  });
  await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
  evilPort = (evil.address() as AddressInfo).port;

  browser = await launchChromium([PRIVATE_HOST, EVIL_HOST]);
});

after(async () => {
  await browser?.close();
  await connector?.stop();
  await new Promise((resolve) => evil?.close(resolve));
  await gate?.close();
});

const desktop = { viewport: { width: 1280, height: 900 } };
const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

async function signedInPage(email: string, options: { locale?: string; device?: typeof desktop | typeof phone } = {}): Promise<Page> {
  const locale = options.locale ?? 'en-US';
  const context = await browser.newContext({ ...(options.device ?? desktop), locale, extraHTTPHeaders: { 'accept-language': locale } });
  const page = await context.newPage();
  await page.goto(`${base}/photos`);
  const before = gate.smtp.count(email);
  await page.locator('#email').fill(email);
  await page.locator('form button[type=submit]').click();
  await page.waitForURL(`${base}/.porthole/code`);
  const mail = await gate.smtp.next(email, before);
  await page.locator('#code').fill(mail.code);
  await page.locator('form button[type=submit]').click();
  // The passkey offer (or the library) comes next: either way the browser holds a session now.
  await page.waitForURL((url) => url.pathname !== '/.porthole/code');
  return page;
}

const ping = (headers: http.OutgoingHttpHeaders = {}, jar?: CookieJar) => gate.request('GET', '/api/server/ping', { headers, jar }).then((r) => r.status);

/** Presses the Revoke button in the row of `section` that contains `text`, and waits for the page to come back. */
async function revokeRow(page: Page, section: string, text: string, done: string) {
  const row = page.locator(`#${section} tr`, { hasText: text });
  await row.getByRole('button', { name: /^Revoke/ }).click();
  await page.waitForURL((url) => url.searchParams.get('done') === done);
  await page.getByRole('status').filter({ hasText: /./ }).first().waitFor();
}

test('a signed-in non-admin gets exactly what any unknown path gives', async () => {
  const page = await signedInPage('carol@family.example');
  const unknown = await page.goto(`${base}/.porthole/nothing-here`);
  const unknownBytes = await unknown!.text();
  const unknownPage = await page.content();
  const adminAnswer = await page.goto(`${base}/.porthole/admin`);
  assert.equal(adminAnswer!.status(), 404);
  assert.equal(adminAnswer!.status(), unknown!.status());
  assert.equal(await adminAnswer!.text(), unknownBytes);
  assert.equal(await page.content(), unknownPage);
  await page.context().close();
});

/** One request to the share host on the gateway's port, as a visitor's browser or script sends it. */
function shareRequest(method: string, url: string, headers: http.OutgoingHttpHeaders = {}, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: gate.port, method, path: url, headers: { host: `${SHARE_HOST}:${gate.port}`, ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Before the revocations below: the share host reaches Immich through the connector that test drops.
test("the admin looks up a share link's record: the visit, the wrong password and the refused route are in it", async () => {
  const link = gate.origin.library.createLink({ password: 'garden gnome', slug: 'garden-party' });
  assert.equal(await shareRequest('GET', `/share/${link.key}`, { accept: 'text/html' }), 200);
  const wrong = JSON.stringify({ password: 'not it' });
  assert.equal(await shareRequest('POST', `/api/shared-links/login?key=${link.key}`, { 'content-type': 'application/json' }, wrong), 401);
  assert.equal(await shareRequest('GET', `/api/albums/${gate.origin.library.album.id}?key=${link.key}`), 404);

  const page = await signedInPage(ADMIN);
  await page.goto(`${base}/.porthole/admin`);
  const section = page.locator('#link-records');
  await page.getByRole('heading', { name: 'A share link’s record', level: 2 }).waitFor();
  // Looked up by the key the visitor used (until someone unlocks the link, Porthole cannot tie key and slug).
  await section.locator('#link').fill(link.key);
  await section.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL((url) => url.searchParams.get('link') === link.key);
  const text = await section.innerText();
  assert.match(text, /Page views \(view\): 1/);
  assert.match(text, /wrong-password: 1/);
  assert.match(text, /blocked-route: 1/);
  assert.ok(!text.includes(link.key), 'the key is not shown back');
  assert.ok(!text.includes('garden gnome'));
  await section.screenshot({ path: path.join(SHOTS, 'admin-link-record-en.png') });

  // A link nobody opened has no record, and the page says so instead of failing.
  await section.locator('#link').fill('no-such-link');
  await section.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL((url) => url.searchParams.get('link') === 'no-such-link');
  assert.match(await section.innerText(), /Porthole has no record of that link/);
  await page.context().close();
});

test('the admin sees sessions, devices, passkeys, the connector and the events, and revokes each', async () => {
  const page = await signedInPage(ADMIN);
  const answer = await page.goto(`${base}/.porthole/admin`);
  assert.equal(answer!.status(), 200);
  await page.getByRole('heading', { name: 'Admin', level: 1 }).waitFor();
  for (const name of ['Sessions', 'Device tokens', 'Passkeys', 'Connectors', 'Audit events', 'Link cache']) {
    assert.ok(await page.getByRole('heading', { name, level: 2 }).isVisible(), name);
  }
  assert.ok(await page.locator('#sessions tr', { hasText: MEMBER }).isVisible());
  assert.ok(await page.locator('#devices tr', { hasText: 'Bob tablet' }).isVisible());
  assert.ok(await page.locator('#passkeys tr', { hasText: 'Bob laptop' }).isVisible());
  const connectorRow = page.locator('#tunnel tbody tr', { hasText: 'home-nas' }).first();
  assert.ok(await connectorRow.isVisible());
  assert.match(await connectorRow.innerText(), /127\.0\.0\.1/);
  assert.match(await page.locator('#tunnel').innerText(), /1 connector\(s\) attached/);
  assert.match(await page.locator('#events').innerText(), /session\.created/);
  await page.screenshot({ path: path.join(SHOTS, 'admin-desktop-en.png'), fullPage: true });

  // The event filter is a plain GET form.
  await page.locator('#cat').selectOption('signins');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL((url) => url.searchParams.get('cat') === 'signins');
  const types = await page.locator('#events tbody td[data-label="Event"]').allInnerTexts();
  assert.ok(types.length > 0);
  assert.deepEqual([...new Set(types)], ['session.created']);

  assert.equal(await ping({}, memberJar), 200);
  await revokeRow(page, 'sessions', MEMBER, 'session');
  assert.match(await page.getByRole('status').first().innerText(), /The session was ended/);
  assert.equal(await ping({}, memberJar), 401, 'the revoked session no longer opens anything');
  assert.equal(await page.locator('#sessions tr', { hasText: MEMBER }).count(), 0);

  assert.equal(await ping({ [DEVICE_HEADER]: device.token }), 200);
  await revokeRow(page, 'devices', 'Bob tablet', 'device');
  assert.equal(await ping({ [DEVICE_HEADER]: device.token }), 401, 'the revoked device no longer opens anything');

  await revokeRow(page, 'passkeys', 'Bob laptop', 'passkey');
  assert.equal(gate.gateway.deps.store.passkeys.findByCredentialId('cred-bob'), undefined);

  await revokeRow(page, 'tunnel', tokenId, 'tunnel-token');
  await until(() => gate.gateway.tunnel!.status().connectors.length === 0, 'the connector to be dropped');
  assert.match(await page.locator('#tunnel tr', { hasText: tokenId }).last().innerText(), /revoked/);

  // Every action is in the audit log, naming the admin; the admin-actions filter shows them.
  await page.goto(`${base}/.porthole/admin?cat=admin`);
  const details = (await page.locator('#events tbody td[data-label="Detail"]').allInnerTexts()).join('\n');
  for (const what of ['session ', 'device ', 'passkey ', 'tunnel token ']) assert.ok(details.includes(what), what);
  assert.equal(details.match(/by alice@example\.com \(admin page\)/g)?.length, 4);
  await page.context().close();
});

test('forged actions from another site, and with a wrong token from the page itself, are refused and change nothing', async () => {
  const page = await signedInPage(ADMIN);
  const victim = await gate.signIn('dave@family.example');
  const sessionId = gate.gateway.deps.store.sessions.list(Date.now()).find((s) => s.email === 'dave@family.example')!.id;
  // Another site's form: Chromium withholds the Lax session cookie on a cross-site POST, so the gate sees a
  // visitor without a session, for whom the admin page does not exist.
  await page.goto(`http://${EVIL_HOST}:${evilPort}/${sessionId}`);
  const [answer] = await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Win a prize' }).click()]);
  assert.equal(answer!.status(), 404);
  // The admin's own page with the token in the form changed (cookie and Origin are right, the token is not).
  await page.goto(`${base}/.porthole/admin`);
  const row = page.locator('#sessions tr', { hasText: 'dave@family.example' });
  await row.locator('input[name=csrf]').evaluate((input: HTMLInputElement) => (input.value = 'f'.repeat(64)));
  const [forged] = await Promise.all([page.waitForNavigation(), row.getByRole('button', { name: /^Revoke/ }).click()]);
  assert.equal(forged!.status(), 403);
  assert.match(await page.locator('h1').innerText(), /This form has expired/);
  // The connector was dropped by the previous test: the gate lets the session through to an offline tunnel (503).
  assert.equal(await ping({}, victim), 503, 'the session was not revoked (the gate did not answer 401)');
  assert.ok(gate.gateway.deps.store.sessions.list(Date.now()).some((s) => s.id === sessionId));
  await page.context().close();
});

test('in German, on a phone: the same page, its tables as cards', async () => {
  const page = await signedInPage(ADMIN, { locale: 'de-DE', device: phone });
  await page.goto(`${base}/.porthole/admin`);
  await page.getByRole('heading', { name: 'Verwaltung', level: 1 }).waitFor();
  for (const name of ['Sitzungen', 'Geräte-Tokens', 'Passkeys', 'Connectoren', 'Audit-Ereignisse', 'Link-Cache']) {
    assert.ok(await page.getByRole('heading', { name, level: 2 }).isVisible(), name);
  }
  assert.ok(
    await page
      .locator('#sessions')
      .getByRole('button', { name: /^Widerrufen/ })
      .first()
      .isVisible(),
  );
  assert.equal(await page.locator('html').getAttribute('lang'), 'de');
  // Nothing wider than the phone's screen: the tables became cards.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  assert.equal(await page.locator('#sessions thead').isVisible(), false);
  await page.screenshot({ path: path.join(SHOTS, 'admin-phone-de.png'), fullPage: true });
  await page.context().close();
});
