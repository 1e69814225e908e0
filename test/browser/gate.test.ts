// The gate in a real browser (Debian's chromium through playwright-core) on a phone-sized viewport: open the
// private host, get sent to sign-in, request a code (read from the test SMTP server), enter it, land on the
// sample library; then the mailed link's confirmation page, and sign-out. Saves a screenshot of each gate
// page into test-output/screenshots/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from './chromium.js';
import { PRIVATE_HOST, startTestGate, type TestGate } from '../gate/harness.js';

const SHOTS = path.resolve('test-output/screenshots');
let gate: TestGate;
let browser: Browser;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  gate = await startTestGate();
  browser = await launchChromium([PRIVATE_HOST]);
});
after(async () => {
  await browser?.close();
  await gate?.close();
});

const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

test('sign in on a phone with the mailed code and land on the library', async () => {
  const context = await browser.newContext({ ...phone, locale: 'en-US' });
  const page = await context.newPage();
  const base = `http://${PRIVATE_HOST}:${gate.port}`;
  await page.goto(`${base}/photos?album=1`);
  assert.equal(new URL(page.url()).pathname, '/.porthole/login');
  assert.equal(new URL(page.url()).searchParams.get('next'), '/photos?album=1');
  const email = page.getByLabel('Email address');
  assert.equal(await email.getAttribute('autocomplete'), 'email webauthn');
  await page.screenshot({ path: path.join(SHOTS, 'gate-login.png'), fullPage: true });

  const before = gate.smtp.count('alice@example.com');
  await email.fill('alice@example.com');
  await page.getByRole('button', { name: 'Email me a code' }).click();
  await page.waitForURL(`${base}/.porthole/code`);
  const mail = await gate.smtp.next('alice@example.com', before);
  const code = page.getByLabel('6-digit code');
  assert.equal(await code.getAttribute('inputmode'), 'numeric');
  assert.equal(await code.getAttribute('autocomplete'), 'one-time-code');
  await page.screenshot({ path: path.join(SHOTS, 'gate-code.png'), fullPage: true });

  // A wrong code first, to capture the error state.
  await code.fill(mail.code === '000000' ? '111111' : '000000');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'gate-code-wrong.png'), fullPage: true });

  await page.getByLabel('6-digit code').fill(mail.code);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The offer of a passkey comes first; "Not now" leads on to the page the person asked for.
  await page.waitForURL(`${base}/.porthole/passkeys/offer?next=%2Fphotos%3Falbum%3D1`);
  await page.screenshot({ path: path.join(SHOTS, 'gate-passkey-offer.png'), fullPage: true });
  await page.getByRole('link', { name: 'Not now' }).click();
  await page.waitForURL(`${base}/photos?album=1`);
  assert.match((await page.textContent('h1')) ?? '', /Sample photo library/);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'porthole_session')!;
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');

  await page.goto(`${base}/.porthole/logout`);
  await page.screenshot({ path: path.join(SHOTS, 'gate-logout.png'), fullPage: true });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/.porthole/login?out=1`);
  await page.getByText('You are signed out.').waitFor();
  await page.goto(`${base}/photos`);
  assert.equal(new URL(page.url()).pathname, '/.porthole/login');
  await context.close();
});

test('German, and the mailed link: confirm on another device', async () => {
  const requester = await browser.newContext({ ...phone, locale: 'de-DE', extraHTTPHeaders: { 'accept-language': 'de-DE,de;q=0.9' } });
  const page = await requester.newPage();
  const base = `http://${PRIVATE_HOST}:${gate.port}`;
  await page.goto(`${base}/`);
  await page.screenshot({ path: path.join(SHOTS, 'gate-login-de.png'), fullPage: true });
  const before = gate.smtp.count('bob@family.example');
  await page.getByLabel('E-Mail-Adresse').fill('bob@family.example');
  await page.getByRole('button', { name: 'Code per E-Mail senden' }).click();
  await page.waitForURL(`${base}/.porthole/code`);
  await page.screenshot({ path: path.join(SHOTS, 'gate-code-de.png'), fullPage: true });
  const mail = await gate.smtp.next('bob@family.example', before);
  assert.match(mail.subject, /Anmeldecode/);

  const other = await browser.newContext({ ...phone, locale: 'de-DE', extraHTTPHeaders: { 'accept-language': 'de' } });
  const linkPage = await other.newPage();
  await linkPage.goto(mail.link);
  await linkPage.getByText('bob@family.example').waitFor();
  await linkPage.screenshot({ path: path.join(SHOTS, 'gate-confirm-de.png'), fullPage: true });
  await linkPage.getByRole('button', { name: 'Anmelden' }).click();
  await linkPage.waitForURL(`${base}/.porthole/passkeys/offer?next=%2F`);
  await linkPage.getByRole('link', { name: 'Jetzt nicht' }).click();
  await linkPage.waitForURL(`${base}/`);
  assert.match((await linkPage.textContent('h1')) ?? '', /Beispiel-Fotobibliothek/);
  await other.close();
  await requester.close();
});
