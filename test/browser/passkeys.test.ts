// Passkeys in a real Chromium with virtual authenticators (DevTools protocol WebAuthn domain): sign in once
// with the mailed code, accept the offer to create a passkey, sign out, sign in with the passkey alone; a
// second device (another authenticator) cannot use it; taking the address off gate.allow and reloading blocks
// it (the CLI lists it as suspended); removing it on the gate page or with `porthole passkeys revoke` ends it.
// None of the passkey traffic reaches the origin. Screenshots go to test-output/screenshots/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { launchChromium } from './chromium.js';
import { PASSKEY_PATHS } from '../../src/gate/passkey-pages.js';
import { PRIVATE_HOST, startTestGate, type TestGate } from '../gate/harness.js';

const SHOTS = path.resolve('test-output/screenshots');
const CLI = path.resolve('src/cli/main.ts');
let gate: TestGate;
let browser: Browser;
let base: string;
let configFile: string;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  gate = await startTestGate();
  base = `http://${PRIVATE_HOST}:${gate.port}`;
  configFile = path.join(gate.dataDir, 'cli.yaml');
  fs.writeFileSync(
    configFile,
    [
      'hosts: { private: photos.localhost }',
      'origin: { url: "http://127.0.0.1:9" }',
      'gate: { allow: ["alice@example.com", "*@family.example"] }',
      'mail: { from: "p@example.com", transport: console }',
      `dataDir: ${JSON.stringify(gate.dataDir)}`,
    ].join('\n'),
  );
  browser = await launchChromium([PRIVATE_HOST]);
});
after(async () => {
  await browser?.close();
  await gate?.close();
});

const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, 'passkeys', ...args, '--config', configFile], { encoding: 'utf8' });

interface Device {
  context: BrowserContext;
  page: Page;
  cdp: CDPSession;
  authenticatorId: string;
}

/**
 * A browser profile with its own platform authenticator (like a phone with Face ID), never shared. The virtual
 * authenticator answers autofill (conditional) requests at once, as if the person picked the passkey in the
 * email field's suggestions; devices made with `autofill: false` behave like browsers without that feature,
 * so the button is what signs in.
 */
async function newDevice(locale = 'en-US', { autofill = false } = {}): Promise<Device> {
  const context = await browser.newContext({ ...phone, locale, extraHTTPHeaders: { 'accept-language': locale } });
  if (!autofill) {
    await context.addInitScript(() => {
      if (window.PublicKeyCredential) window.PublicKeyCredential.isConditionalMediationAvailable = async () => false;
    });
  }
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { context, page, cdp, authenticatorId };
}

const credentialsOn = async (device: Device) => (await device.cdp.send('WebAuthn.getCredentials', { authenticatorId: device.authenticatorId })).credentials;

async function signInWithCode(page: Page, email: string, next = '/photos') {
  await page.goto(`${base}${next}`);
  const before = gate.smtp.count(email);
  await page.locator('#email').fill(email);
  await page.locator('form button[type=submit]').click();
  await page.waitForURL(`${base}/.porthole/code`);
  const mail = await gate.smtp.next(email, before);
  await page.locator('#code').fill(mail.code);
  await page.locator('form button[type=submit]').click();
  await page.waitForURL((url) => url.pathname === PASSKEY_PATHS.offer);
  assert.equal(new URL(page.url()).searchParams.get('next'), next);
}

async function signOut(page: Page) {
  await page.goto(`${base}/.porthole/logout`);
  await page.locator('form button[type=submit]').click();
  await page.waitForURL(`${base}/.porthole/login?out=1`);
}

/** Presses "Sign in with a passkey" and waits for the gate's answer to the assertion. */
async function pressPasskeySignIn(page: Page) {
  await page.goto(`${base}/.porthole/login?next=%2Fphotos`);
  const answer = page.waitForResponse((res) => new URL(res.url()).pathname === PASSKEY_PATHS.signInVerify);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  return answer;
}

/** What a script in the page gets from the API: 200 when the browser is signed in, 401 when not. */
const pingFrom = (page: Page) => page.evaluate(() => fetch('/api/server/ping', { headers: { accept: 'application/json' } }).then((res) => res.status));

const passkeysOf = (email: string) => gate.gateway.deps.store.passkeys.list(email);
const reachedOriginUnderGate = () => gate.origin.received.filter((r) => /^\/(\.|%2e)porthole/i.test(r.url));

test('a code sign-in offers a passkey; signed out, the passkey alone signs in (and the origin sees none of it)', async () => {
  const alice = await newDevice();
  await signInWithCode(alice.page, 'alice@example.com');
  await alice.page.screenshot({ path: path.join(SHOTS, 'passkey-offer.png'), fullPage: true });
  const created = alice.page.waitForResponse((res) => new URL(res.url()).pathname === PASSKEY_PATHS.registerVerify);
  await alice.page.getByRole('button', { name: 'Create a passkey' }).click();
  assert.equal((await created).status(), 200);
  await alice.page.waitForURL(`${base}/photos`);
  const stored = passkeysOf('alice@example.com');
  assert.equal(stored.length, 1);
  const [credential] = await credentialsOn(alice);
  assert.ok(credential, 'the authenticator holds the new credential');
  assert.equal(credential.isResidentCredential, true, 'a discoverable credential');
  assert.equal(credential.rpId, PRIVATE_HOST);
  // The user handle the authenticator keeps is random, not the address.
  const handle = Buffer.from(credential.userHandle!, 'base64').toString('base64url');
  assert.equal(handle, gate.gateway.deps.store.passkeys.userHandle('alice@example.com'));
  assert.ok(!Buffer.from(handle, 'base64url').toString('latin1').includes('alice'));

  await signOut(alice.page);
  assert.equal(await pingFrom(alice.page), 401);
  // The page the sign-in leads to is held back until the origin's request count is read.
  let landing: (() => Promise<void>) | undefined;
  const landed = new Promise<void>((resolve) => {
    void alice.page.route(`${base}/photos`, (route) => ((landing = () => route.continue()), resolve()));
  });
  const originBefore = gate.origin.received.length;
  const answer = await pressPasskeySignIn(alice.page);
  assert.equal(answer.status(), 200);
  await landed;
  // Page, scripts, options, assertion: the ceremony is the gate's alone, the origin saw none of it.
  assert.equal(gate.origin.received.length, originBefore, 'no request reached the origin during the passkey sign-in');
  await landing!();
  await alice.page.waitForURL(`${base}/photos`);
  assert.match((await alice.page.textContent('h1')) ?? '', /Sample photo library/);
  assert.equal(reachedOriginUnderGate().length, 0);

  const events = gate.gateway.deps.store.audit.list({ email: 'alice@example.com', type: 'session.created' });
  assert.match(events[0]!.detail ?? '', new RegExp(`^passkey ${stored[0]!.id}; session [0-9a-f]{16}$`));
  assert.ok(passkeysOf('alice@example.com')[0]!.lastUsedAt !== null, 'last used is recorded');
  await alice.context.close();
});

test('where the browser offers passkeys in the email field (autofill), picking it signs in', async () => {
  const erin = await newDevice('en-US', { autofill: true });
  await signInWithCode(erin.page, 'erin@family.example');
  await erin.page.getByRole('button', { name: 'Create a passkey' }).click();
  await erin.page.waitForURL(`${base}/photos`);
  await erin.page.goto(`${base}/.porthole/logout`);
  const answer = erin.page.waitForResponse((res) => new URL(res.url()).pathname === PASSKEY_PATHS.signInVerify);
  await erin.page.locator('form button[type=submit]').click();
  // The sign-in page starts a conditional request; the authenticator "picks" the passkey without a button press.
  assert.equal((await answer).status(), 200);
  await erin.page.waitForURL(`${base}/`);
  assert.equal(await pingFrom(erin.page), 200);
  await erin.page.goto(`${base}/.porthole/logout`);
  await erin.context.close();
});

test("another device (its own authenticator) cannot use the first one's passkey", async () => {
  const owner = await newDevice();
  await signInWithCode(owner.page, 'bob@family.example');
  await owner.page.getByRole('button', { name: 'Create a passkey' }).click();
  await owner.page.waitForURL(`${base}/photos`);
  assert.equal(passkeysOf('bob@family.example').length, 1);

  const other = await newDevice();
  await other.page.goto(`${base}/.porthole/login`);
  await other.page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await other.page.locator('#passkey-error').waitFor({ state: 'visible' });
  await other.page.screenshot({ path: path.join(SHOTS, 'passkey-login-refused.png'), fullPage: true });
  assert.equal(await pingFrom(other.page), 401);
  assert.equal((await credentialsOn(other)).length, 0);
  await other.context.close();
  await owner.context.close();
});

test('taken off gate.allow and reloaded, the passkey no longer signs in and is listed as suspended', async () => {
  const carol = await newDevice();
  await signInWithCode(carol.page, 'carol@family.example');
  await carol.page.getByRole('button', { name: 'Create a passkey' }).click();
  await carol.page.waitForURL(`${base}/photos`);
  await signOut(carol.page);

  const running = gate.config;
  gate.gateway.reload({ ...running, gate: { ...running.gate, allow: ['alice@example.com', 'bob@family.example'] } });
  try {
    const refused = await pressPasskeySignIn(carol.page);
    assert.equal(refused.status(), 401);
    await carol.page.locator('#passkey-error').waitFor({ state: 'visible' });
    assert.equal(await pingFrom(carol.page), 401);
    const refusal = gate.gateway.deps.store.audit.list({ email: 'carol@family.example', type: 'passkey.refused' })[0];
    assert.match(refusal?.detail ?? '', /no longer on gate\.allow/);
    // The CLI reads gate.allow from its config file: the same change there shows the passkey as suspended.
    const listed = configWithAllow(['alice@example.com', 'bob@family.example'], () => cli('list', '--email', 'carol@family.example'));
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /carol@family\.example .* suspended +Chrome on Linux$/m);
  } finally {
    gate.gateway.reload(running);
  }
  // Back on the list: the same passkey works again.
  const again = await pressPasskeySignIn(carol.page);
  assert.equal(again.status(), 200);
  await carol.context.close();
});

function configWithAllow<T>(allow: string[], run: () => T): T {
  const original = fs.readFileSync(configFile, 'utf8');
  fs.writeFileSync(configFile, original.replace(/gate: \{ allow: \[[^\]]*\] \}/, `gate: { allow: ${JSON.stringify(allow)} }`));
  try {
    return run();
  } finally {
    fs.writeFileSync(configFile, original);
  }
}

test('removing a passkey on the gate page, and with `porthole passkeys revoke`, ends it (German pages)', async () => {
  const dave = await newDevice('de-DE');
  await signInWithCode(dave.page, 'dave@family.example');
  await dave.page.screenshot({ path: path.join(SHOTS, 'passkey-offer-de.png'), fullPage: true });
  await dave.page.getByRole('button', { name: 'Passkey anlegen' }).click();
  await dave.page.waitForURL(`${base}/photos`);

  await dave.page.goto(`${base}/.porthole/logout`);
  await dave.page.getByRole('link', { name: 'Passkeys verwalten' }).click();
  await dave.page.waitForURL(`${base}${PASSKEY_PATHS.manage}`);
  await dave.page.getByText('Chrome on Linux').waitFor();
  await dave.page.getByText('Zuletzt benutzt: nie').waitFor();
  await dave.page.screenshot({ path: path.join(SHOTS, 'passkeys-manage-de.png'), fullPage: true });
  await dave.page.getByRole('button', { name: 'Entfernen: Chrome on Linux' }).click();
  await dave.page.waitForURL(`${base}${PASSKEY_PATHS.manage}?removed=1`);
  await dave.page.getByText('Passkey entfernt.').waitFor();
  assert.equal(passkeysOf('dave@family.example').length, 0);
  const removedOnPage = gate.gateway.deps.store.audit.list({ email: 'dave@family.example', type: 'passkey.revoked' })[0];
  assert.match(removedOnPage?.detail ?? '', /\(gate page\)$/);

  // A new one from the same page; then the admin removes it from the command line.
  await dave.page.getByRole('button', { name: 'Passkey für dieses Gerät hinzufügen' }).click();
  await dave.page.waitForURL(`${base}${PASSKEY_PATHS.manage}?created=1`);
  const [fresh] = passkeysOf('dave@family.example');
  assert.ok(fresh);
  await signOut(dave.page);
  const listed = cli('list');
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`^${fresh.id} +dave@family\\.example .* active +Chrome on Linux$`, 'm'));
  const revoked = cli('revoke', fresh.id);
  assert.equal(revoked.status, 0, revoked.stderr);
  assert.match(revoked.stdout, /^Revoked 1 passkey \("Chrome on Linux", dave@family\.example\)\.$/m);
  assert.equal(cli('revoke', fresh.id).status, 1, 'a second revoke finds nothing');
  assert.equal(cli('revoke', 'not-an-id').status, 2);

  const refused = await pressPasskeySignInDe(dave.page);
  assert.equal(refused.status(), 401);
  assert.equal(await pingFrom(dave.page), 401);
  await dave.context.close();
});

async function pressPasskeySignInDe(page: Page) {
  await page.goto(`${base}/.porthole/login`);
  const answer = page.waitForResponse((res) => new URL(res.url()).pathname === PASSKEY_PATHS.signInVerify);
  await page.getByRole('button', { name: 'Mit einem Passkey anmelden' }).click();
  return answer;
}
