// How many requests per second a real browser sends one client address, to choose listen.requestRate's defaults
// (issue 11). Chromium (HTTP/2, fresh context, no cache) opens a share page of the sample Immich whose album holds
// N thumbnails, all loaded at once (the sample page loads every thumbnail eagerly: a harsher burst than Immich's
// timeline, which loads what is on screen), unthrottled (a fast LAN) and at 60 ms / 20 Mbit/s (a phone). Each
// request's arrival at Porthole is timed; reported: total, the busiest 100 ms and 1 s, and how long the page took.
// Porthole runs with listen.requestRate: false, so the measurement is of the browser, not of the limit.
// Usage: node --import tsx bench/request-rate.ts [--sizes 200,1000] [--runs 3]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { parseConfig } from '../src/config/load.js';
import { startGateway } from '../src/gateway.js';
import { silentLogger } from '../src/log.js';
import { createConsoleMailer } from '../src/mail/console.js';
import { startSampleImmich } from '../src/demo/sample-immich/server.js';
import { need } from './lib/need.js';

const CHROMIUM = '/usr/bin/chromium';
const SHARE_HOST = 'share.localhost';
const PHONE = { offline: false, latency: 60, downloadThroughput: 20e6 / 8, uploadThroughput: 20e6 / 8 };

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1]! : fallback;
}
const SIZES = arg('sizes', '200,1000').split(',').map(Number);
const RUNS = Number(arg('runs', '3'));

/** The most arrivals inside any window of `ms` (times sorted ascending). */
function busiest(times: number[], ms: number): number {
  let best = 0;
  for (let start = 0, end = 0; end < times.length; end++) {
    while (times[end]! - times[start]! >= ms) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

async function visit(browser: Browser, url: string, network: 'unthrottled' | 'phone'): Promise<{ times: number[]; started: number; protocol: string }> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, serviceWorkers: 'block', viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    if (network === 'phone') await cdp.send('Network.emulateNetworkConditions', PHONE);
    const times: number[] = [];
    page.on('request', () => void times.push(performance.now()));
    const started = performance.now();
    await page.goto(url, { waitUntil: 'commit' });
    await page.waitForSelector('body[data-state="ready"]', { state: 'attached', timeout: 60_000 });
    await page.waitForLoadState('networkidle', { timeout: 60_000 });
    const protocol = await page.evaluate(() => [...new Set(performance.getEntriesByType('resource').map((r) => (r as PerformanceResourceTiming).nextHopProtocol))].join(','));
    return { times, started, protocol };
  } finally {
    await context.close();
  }
}

async function main(): Promise<void> {
  need(CHROMIUM, 'chromium', 'the browser of this benchmark');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'] });
  const rows: string[] = [];
  try {
    for (const size of SIZES) {
      const origin = await startSampleImmich(0, '127.0.0.1', { bigAlbum: size });
      const link = origin.library.createLink({ albumId: origin.library.bigAlbum!.id, allowUpload: false });
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-bench-rate-'));
      const config = parseConfig(
        {
          listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0, requestRate: false },
          hosts: { private: 'photos.localhost', share: SHARE_HOST },
          origin: { url: origin.url },
          gate: { allow: ['bench@example.com'] },
          mail: { from: 'Porthole <porthole@example.com>', transport: 'console' },
          dataDir,
        },
        'benchmark gateway',
      );
      const gateway = await startGateway(
        config,
        createConsoleMailer(() => {}),
        silentLogger,
      );
      try {
        // Throttled cold loads of large pages stall in Chromium too often to measure (see first-screen.ts); a phone
        // is slower anyway, so its bursts are smaller than the unthrottled ones.
        for (const network of size <= 200 ? (['unthrottled', 'phone'] as const) : (['unthrottled'] as const)) {
          for (let run = 0; run < RUNS; run++) {
            let measured: { times: number[]; started: number; protocol: string } | undefined;
            // DevTools throttling sometimes stalls a cold HTTP/2 load for good (see first-screen.ts): such a run is repeated.
            for (let attempt = 0; !measured && attempt < 4; attempt++) {
              measured = await visit(browser, `https://${SHARE_HOST}:${gateway.https!.port}/share/${link.key}`, network).catch((error: Error) => {
                console.error(`album ${size}, ${network}: run dropped (${error.message.split('\n')[0]})`);
                return undefined;
              });
            }
            if (!measured) throw new Error(`album ${size}, ${network}: no run completed`);
            const { times, started, protocol } = measured;
            const row = `album ${size}, ${network}, run ${run + 1}: ${times.length} requests (${protocol}) in ${((times.at(-1)! - started) / 1000).toFixed(2)} s; busiest 100 ms: ${busiest(times, 100)}, busiest 1 s: ${busiest(times, 1000)}, busiest 10 s: ${busiest(times, 10_000)}`;
            console.error(row);
            rows.push(row);
          }
        }
      } finally {
        await gateway.close();
        await origin.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(`\nRequests one browser sends (Chromium ${browser.version()}, HTTP/2), ${os.cpus().length} cores\n${rows.join('\n')}\n`);
}

await main();
