// `porthole demo --https` as a person runs it: its own process, a real Chromium (phone-sized) that accepts the
// self-signed certificate once, plain HTTP redirected to HTTPS, the PIN sign-in with the code read from the
// demo's terminal, a Secure session cookie, and the printed share link opening over HTTPS.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from './chromium.js';
import { freePort } from '../tls/pebble.js';

let demo: ChildProcess;
let browser: Browser;
let output = '';
let httpPort: number;
let httpsPort: number;

/** Resolves with the first match of `pattern` in the demo's output from `from` on, as soon as it is printed. */
function printed(pattern: RegExp, from = 0): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const look = () => {
      const match = output.slice(from).match(pattern);
      if (!match) return false;
      demo.stdout!.off('data', look);
      demo.off('exit', exited);
      resolve(match);
      return true;
    };
    const exited = (code: number | null) => reject(new Error(`demo exited (${code}):\n${output}`));
    if (look()) return;
    demo.stdout!.on('data', look);
    demo.once('exit', exited);
  });
}

before(async () => {
  httpPort = await freePort();
  httpsPort = await freePort();
  demo = spawn(process.execPath, ['bin/porthole.js', 'demo', '--https', '--port', String(httpPort), '--https-port', String(httpsPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
  demo.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
  demo.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
  await printed(/Press Ctrl\+C to stop/);
  browser = await launchChromium(['*.localhost']);
});

after(async () => {
  await browser?.close();
  if (demo && demo.exitCode === null) {
    demo.kill('SIGTERM');
    await new Promise((resolve) => demo.once('exit', resolve));
  }
});

test('the demo prints HTTPS links, redirects plain HTTP, and signs in over HTTPS with a Secure cookie', { timeout: 120_000 }, async () => {
  const base = `https://photos.localhost:${httpsPort}`;
  assert.match(output, new RegExp(`Private host: ${base.replace(/\./g, '\\.')}`));
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'en-US' });
  const page = await context.newPage();
  await page.goto(`http://photos.localhost:${httpPort}/photos?album=1`);
  const landed = new URL(page.url());
  assert.equal(landed.origin, base, 'plain HTTP was sent to HTTPS');
  assert.equal(landed.pathname, '/.porthole/login');

  const mailFrom = output.length;
  await page.getByLabel('Email address').fill('demo@example.com');
  await page.getByRole('button', { name: 'Email me a code' }).click();
  await page.waitForURL(`${base}/.porthole/code`);
  const [, code] = await printed(/--- mail to demo@example\.com ---[\s\S]*?\b(\d{6})\b[\s\S]*?--- end of mail ---/, mailFrom);
  await page.getByLabel('6-digit code').fill(code!);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The gate offers a passkey after a code sign-in; skipping it leads on to where the person was going.
  await page.waitForURL(`${base}/.porthole/passkeys/offer?next=${encodeURIComponent('/photos?album=1')}`);
  await page.getByRole('link', { name: 'Not now' }).click();
  await page.waitForURL(`${base}/photos?album=1`);
  assert.match((await page.textContent('h1')) ?? '', /Sample photo library/);
  // Chromium chose HTTP/2 for the page (ALPN h2 on the HTTPS port).
  assert.equal(await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol), 'h2');
  const session = (await context.cookies()).find((c) => c.name.endsWith('porthole_session'));
  assert.ok(session, 'a session cookie');
  assert.equal(session.secure, true);
  assert.equal(session.httpOnly, true);

  const [shareUrl] = await printed(/https:\/\/share\.localhost:\d+\/share\/[A-Za-z0-9_-]+/);
  const share = await page.goto(shareUrl!);
  assert.equal(share?.status(), 200);
  assert.equal(new URL(page.url()).protocol, 'https:');
  await page.waitForSelector('body[data-state="ready"]');
  assert.equal(await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol), 'h2');
  // Every thumbnail of the share page came over HTTP/2 as well.
  const protocols = await page.evaluate(() => [...new Set(performance.getEntriesByType('resource').map((e) => (e as PerformanceResourceTiming).nextHopProtocol))]);
  assert.deepEqual(protocols, ['h2']);
  await context.close();
});
