// A real browser on the share host: the sample share page loads its config, the link and its thumbnails
// through Porthole; a password page unlocks with the right password only. Every request the page made must
// have been allowed, and nothing outside the policy reached the origin.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from './chromium.js';
import { assertOnlyAllowedReachedOrigin, SHARE_HOST, startShare, type ShareSetup } from '../share/harness.js';

let s: ShareSetup;
let browser: Browser;

before(async () => {
  s = await startShare();
  browser = await launchChromium();
});

after(async () => {
  try {
    await browser?.close();
    assertOnlyAllowedReachedOrigin(s.origin);
  } finally {
    await s.close();
  }
});

const base = () => `http://${SHARE_HOST}:${s.gateway.httpPort}`;

test('an album share page loads through the share host with every thumbnail', async () => {
  const link = s.origin.library.createLink({});
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const failures: string[] = [];
    const seen: string[] = [];
    page.on('response', (r) => {
      seen.push(new URL(r.url()).pathname);
      if (r.status() >= 400) failures.push(`${r.status()} ${r.url()}`);
    });
    const response = await page.goto(`${base()}/share/${link.key}`);
    assert.equal(response?.status(), 200);
    assert.equal(response?.headers()['referrer-policy'], 'no-referrer');
    await page.waitForSelector('body[data-state="ready"]');
    assert.equal(await page.textContent('#title'), 'Summer trip');
    const loaded = await page.locator('img.thumb.loaded').count();
    assert.equal(loaded, s.origin.library.album.assetIds.length);
    assert.equal(await page.locator('img.thumb.failed').count(), 0);
    assert.deepEqual(failures, []);
    for (const path of ['/api/server/config', '/api/server/features', '/api/shared-links/me', '/api/timeline/buckets', '/api/timeline/bucket'])
      assert.ok(seen.includes(path), path);
  } finally {
    await context.close();
  }
});

test('a password page shows the form, refuses a wrong password and opens with the right one', async () => {
  const link = s.origin.library.createLink({ password: 'letmein', slug: 'family-party' });
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${base()}/s/family-party`);
    await page.waitForSelector('body[data-state="password"]');
    assert.equal(await page.locator('img.thumb').count(), 0);
    await page.fill('#password', 'wrong');
    await page.click('button[type="submit"]');
    await page.waitForSelector('#password-error:not([hidden])');
    await page.fill('#password', 'letmein');
    await Promise.all([page.waitForEvent('load'), page.click('button[type="submit"]')]);
    await page.waitForSelector('body[data-state="ready"]');
    assert.equal(await page.locator('img.thumb.loaded').count(), s.origin.library.album.assetIds.length);
    const cookies = await context.cookies();
    assert.ok(cookies.some((c) => c.name === 'immich_shared_link_token' && c.httpOnly));
    void link;
  } finally {
    await context.close();
  }
});

for (const [locale, limited] of [
  ['en-US', /^Too many wrong passwords\. Please try again in \d+ seconds?\.\n\(Immich Server Error\)$/],
  ['de-DE', /^Zu viele falsche Passwörter\. Bitte in \d+ Sekunden? erneut versuchen\.\n\(Immich Server Error\)$/],
] as const) {
  test(`a visitor who is being slowed down is told so (${locale}), even when typing the right password`, async () => {
    const link = s.origin.library.createLink({ password: 'letmein' });
    const context = await browser.newContext({ locale });
    try {
      const page = await context.newPage();
      await page.goto(`${base()}/share/${link.key}`);
      await page.waitForSelector('body[data-state="password"]');
      const submit = async (password: string) => {
        await page.fill('#password', password);
        // The page hides the previous message as the form is sent, so the one awaited below is this answer's.
        const [response] = await Promise.all([page.waitForResponse((r) => r.url().includes('/api/shared-links/login')), page.click('button[type="submit"]')]);
        await page.waitForSelector('#password-error:not([hidden])');
        return { status: response.status(), text: (await page.textContent('#password-error')) ?? '' };
      };
      // The default allows three wrong passwords per link and address before the first delay.
      for (let i = 0; i < 3; i++) {
        const wrong = await submit(`wrong-${i}`);
        assert.equal(wrong.status, 401);
        assert.equal(wrong.text, 'Invalid password\n(Immich Server Error)');
      }
      const slowed = await submit('letmein');
      assert.equal(slowed.status, 429);
      assert.match(slowed.text, limited);
    } finally {
      await context.close();
    }
  });
}

test("the share page registers Immich's service worker without a page error; the worker's requests go through the policy", { timeout: 120_000 }, async () => {
  const link = s.origin.library.createLink({});
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    let failed!: (error: Error) => void;
    // A failed registration is an uncaught page error: it ends the waits below at once instead of leaving them hanging.
    const firstError = new Promise<never>((_, reject) => (failed = reject));
    firstError.catch(() => undefined);
    const noteError = (what: string) => {
      errors.push(what);
      failed(new Error(what));
    };
    page.on('pageerror', (error) => noteError(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') noteError(`console: ${message.text()}`);
    });
    const fromWorker: Promise<{ path: string; status: number }>[] = [];
    context.on('requestfinished', (request) => {
      if (request.serviceWorker()) fromWorker.push(request.response().then((response) => ({ path: new URL(request.url()).pathname, status: response?.status() ?? 0 })));
    });
    const from = s.origin.received.length;
    await page.goto(`${base()}/share/${link.key}`);
    await page.waitForSelector('body[data-state="ready"]');
    const scriptURL = await Promise.race([page.evaluate(async () => (await navigator.serviceWorker.ready).active?.scriptURL), firstError]);
    assert.equal(scriptURL, `${base()}/service-worker.js`);
    // Once it controls the page (it claims it on activation), the worker fetches the thumbnails.
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    const thumbnailsByWorker = page.waitForEvent('response', (r) => r.fromServiceWorker() && r.url().includes('/thumbnail'));
    await page.reload();
    await page.waitForSelector('body[data-state="ready"]');
    assert.equal((await thumbnailsByWorker).status(), 200);
    assert.equal(await page.locator('img.thumb.loaded').count(), s.origin.library.album.assetIds.length);
    assert.equal(await page.locator('img.thumb.failed').count(), 0);
    const workerRequests = await Promise.all(fromWorker);
    assert.ok(
      workerRequests.some((r) => /^\/api\/assets\/[0-9a-f-]+\/thumbnail$/.test(r.path) && r.status === 200),
      JSON.stringify(workerRequests),
    );
    assert.ok(
      s.origin.received.slice(from).some((r) => r.url === '/service-worker.js'),
      'the worker script came from Immich through the share host',
    );
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
