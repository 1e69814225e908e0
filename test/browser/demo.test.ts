// The demo as a new user runs it: `porthole demo` in its own process (the same command `npm run demo` runs),
// read only through what it prints, walked in a real Chromium on a phone-sized viewport: sign in with the
// printed code, see the library (every sample photo distinct), open the mail link again (already signed in:
// straight to the library), sign out; open the link that hides metadata and download an original, read back
// with exiftool: no GPS, no camera. The printed exiftool one-liner shows GPS at the origin and none through the
// share host. Asking for codes until the gate says "too many" leaves a link back to the sign-in page.
// Screenshots of each step go to test-output/screenshots/.
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { type Browser, type BrowserContext } from 'playwright-core';
import { launchChromium } from './chromium.js';

const run = promisify(execFile);
const SHOTS = path.resolve('test-output/screenshots');
const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/** What the demo printed so far, and a way to wait for more. */
class Output {
  text = '';
  private waiters = new Set<() => void>();
  constructor(private readonly proc: ChildProcess) {
    proc.stdout!.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('utf8');
      for (const wake of [...this.waiters]) wake();
    });
    proc.once('exit', () => {
      for (const wake of [...this.waiters]) wake();
    });
  }
  /** Resolves with the first match of `pattern` in what was printed after character `from`. */
  next(pattern: RegExp, from = 0): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = pattern.exec(this.text.slice(from));
        if (found) {
          this.waiters.delete(check);
          resolve(found);
        } else if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
          this.waiters.delete(check);
          reject(new Error(`the demo exited before printing ${pattern}; it printed:\n${this.text}`));
        }
      };
      this.waiters.add(check);
      check();
    });
  }
}

let demo: ChildProcess;
let out: Output;
let browser: Browser;
let privateBase: string;
let links: { open: string; password: string; clean: string };
let exiftoolLine: string;
const downloads = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-demo-test-'));

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  // Port 0: the demo picks a free port and prints it, as it prints everything a person needs.
  demo = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  out = new Output(demo);
  await out.next(/Press Ctrl\+C to stop\./);
  privateBase = (await out.next(/Private host: (http:\/\/photos\.localhost:\d+)/))[1]!;
  const share = [...out.text.matchAll(/(http:\/\/share\.localhost:\d+\/(?:share|s)\/\S+)(.*)/g)];
  assert.equal(share.length, 3, `three share links printed:\n${out.text}`);
  const clean = share.find((m) => /downloads on/.test(m[2]!));
  const password = share.find((m) => /password "demo"/.test(m[2]!));
  assert.ok(clean && password, out.text);
  links = { open: share[0]![1]!, password: password[1]!, clean: clean[1]! };
  exiftoolLine = (await out.next(/^ {2}(p='.*exiftool.*)$/m))[1]!;
  browser = await launchChromium(['photos.localhost', 'share.localhost']);
});

after(async () => {
  await browser?.close();
  if (demo && demo.exitCode === null && demo.signalCode === null) {
    const exited = new Promise((resolve) => demo.once('exit', resolve));
    demo.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(downloads, { recursive: true, force: true });
});

/** Signs in on the page with the code the demo "mails" to its terminal; returns the mail's link too. */
async function signIn(context: BrowserContext, email: string): Promise<{ link: string }> {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${privateBase}/`);
  assert.equal(new URL(page.url()).pathname, '/.porthole/login');
  const from = out.text.length;
  await page.getByLabel('Email address').fill(email);
  await page.getByRole('button', { name: 'Email me a code' }).click();
  await page.waitForURL(`${privateBase}/.porthole/code`);
  // The code is in the body (mail.codeInSubject is off by default), on a line of its own.
  const mail = await out.next(
    new RegExp(
      `--- mail to ${email.replace(/[.]/g, '\\.')} ---\\nSubject: Your sign-in code for [^\\n]*\\n[\\s\\S]*?\\n {4}(\\d{6})\\n[\\s\\S]*?(http://photos\\.localhost:\\d+/\\.porthole/link\\?t=\\S+)`,
    ),
    from,
  );
  await page.getByLabel('6-digit code').fill(mail[1]!);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The gate offers a passkey after a code sign-in; skipping it leads on to where the person was going.
  await page.waitForURL(`${privateBase}/.porthole/passkeys/offer?next=%2F`);
  await page.getByRole('link', { name: 'Not now' }).click();
  await page.waitForURL(`${privateBase}/`);
  return { link: mail[2]! };
}

test('sign in with the printed code, see the library, open the mail link again, sign out', async () => {
  const context = await browser.newContext({ ...phone, locale: 'en-US' });
  try {
    const page = await context.newPage();
    const thumbnails = new Map<string, string>();
    const reading: Promise<void>[] = [];
    page.on('response', (response) => {
      const url = new URL(response.url());
      if (!/^\/api\/assets\/[0-9a-f-]+\/thumbnail$/.test(url.pathname) || response.status() !== 200) return;
      reading.push(response.body().then((body) => void thumbnails.set(url.pathname, crypto.createHash('sha256').update(body).digest('hex'))));
    });
    const { link } = await signIn(context, 'demo@example.com');
    assert.equal(await page.textContent('h1'), 'Sample photo library');
    const tiles = page.locator('img.thumb');
    const count = await tiles.count();
    assert.ok(count >= 8, `${count} photos in the library`);
    // Every thumbnail loaded (through the gate, as /api calls) and no two look the same.
    await page.waitForFunction(
      (n) => [...document.querySelectorAll('img.thumb')].filter((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0).length === n,
      count,
    );
    await page.waitForFunction(() => document.readyState === 'complete');
    await Promise.all(reading);
    assert.equal(thumbnails.size, count);
    assert.equal(new Set(thumbnails.values()).size, count, 'each sample photo is distinct');
    await page.screenshot({ path: path.join(SHOTS, 'demo-library.png'), fullPage: true });

    // The mail's link, tapped again in this (signed-in) browser: the library, not "This link no longer works".
    await page.goto(link);
    await page.waitForURL(`${privateBase}/`);
    assert.equal(await page.textContent('h1'), 'Sample photo library');

    await page.getByRole('link', { name: 'Sign out' }).click();
    await page.waitForURL(`${privateBase}/.porthole/logout`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${privateBase}/.porthole/login?out=1`);
    await page.getByText('You are signed out.').waitFor();
    await page.goto(`${privateBase}/`);
    assert.equal(new URL(page.url()).pathname, '/.porthole/login');
    // Signed out, the spent link says so.
    await page.goto(link);
    await page.getByText('This link no longer works').waitFor();
  } finally {
    await context.close();
  }
});

test('the metadata-hidden link: download an original, and it carries no GPS and no camera', async () => {
  const context = await browser.newContext({ ...phone, locale: 'en-US', acceptDownloads: true });
  try {
    const page = await context.newPage();
    const response = await page.goto(links.clean);
    assert.equal(response?.status(), 200);
    await page.waitForSelector('body[data-state="ready"]');
    await page.screenshot({ path: path.join(SHOTS, 'demo-share-clean.png'), fullPage: true });
    const buttons = page.locator('a.download');
    assert.ok((await buttons.count()) > 0, 'downloads are on for this link');
    const [download] = await Promise.all([page.waitForEvent('download'), buttons.first().click()]);
    assert.equal(await download.failure(), null);
    const file = path.join(downloads, download.suggestedFilename() || 'original');
    await download.saveAs(file);
    const tags = await exiftool(file);
    assert.ok(Number(tags.ImageWidth) > 0, `a real image came back: ${JSON.stringify(tags)}`);
    for (const tag of ['GPSLatitude', 'GPSLongitude', 'GPSPosition', 'Make', 'Model']) assert.equal(tags[tag], undefined, `${tag} is gone`);

    // The same original straight from the sample server still has them (what the printed command shows).
    const href = new URL((await buttons.first().getAttribute('href')) ?? '', links.clean);
    const originUrl = /for h in (http:\/\/127\.0\.0\.1:\d+) /.exec(exiftoolLine)?.[1];
    assert.ok(originUrl, exiftoolLine);
    const atOrigin = path.join(downloads, 'at-origin');
    fs.writeFileSync(atOrigin, Buffer.from(await (await fetch(`${originUrl}${href.pathname}${href.search}`)).arrayBuffer()));
    const originTags = await exiftool(atOrigin);
    assert.ok(originTags.GPSLatitude !== undefined && originTags.Make !== undefined, JSON.stringify(originTags));
  } finally {
    await context.close();
  }
});

test('the printed exiftool one-liner shows GPS at the origin and none through the share host', async () => {
  const { stdout } = await run('bash', ['-c', exiftoolLine]);
  const blocks = stdout.split(/^(?=http:\/\/)/m).filter(Boolean);
  assert.equal(blocks.length, 2, stdout);
  assert.match(blocks[0]!, /^http:\/\/127\.0\.0\.1:\d+\n/);
  assert.match(blocks[0]!, /GPSPosition\s+: \d+ deg/);
  assert.match(blocks[0]!, /Make\s+: \S+/);
  assert.match(blocks[1]!, /^http:\/\/share\.localhost:\d+\n/);
  assert.match(blocks[1]!, /GPSPosition\s+: -\n/);
  assert.match(blocks[1]!, /Make\s+: -\n/);
});

test('asking for codes until the gate says "too many" leaves a way back to the sign-in page', async () => {
  const context = await browser.newContext({ ...phone, locale: 'en-US' });
  try {
    const page = await context.newPage();
    let status = 0;
    // Bounded: the per-address budget is a handful per hour (gate.rateLimits.codesPerAddressPerHour).
    for (let i = 0; i < 30 && status !== 429; i++) {
      await page.goto(`${privateBase}/.porthole/login`);
      await page.getByLabel('Email address').fill('anyone@example.org');
      const [answer] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Email me a code' }).click()]);
      status = answer.status();
      await page.waitForLoadState();
    }
    assert.equal(status, 429);
    await page.getByText('Too many attempts').waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'demo-gate-429.png'), fullPage: true });
    await page.getByRole('link', { name: 'Back to sign-in' }).click();
    await page.waitForURL(`${privateBase}/.porthole/login`);
    await page.getByLabel('Email address').waitFor();
  } finally {
    await context.close();
  }
});

async function exiftool(file: string): Promise<Record<string, unknown>> {
  const { stdout } = await run('exiftool', ['-j', '-n', file]);
  return (JSON.parse(stdout) as Record<string, unknown>[])[0]!;
}
