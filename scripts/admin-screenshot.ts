// Takes the README's picture of the admin page (docs/img/admin.png): the sample Immich behind a gateway in tunnel
// mode with a connector attached, a few people signed in, a phone, a passkey, share links opened (the link cache)
// and some refusals in the audit log, shot at desktop size by Chromium. With --serve it keeps running on
// 127.0.0.1:PORT and prints an admin's cookie, so the page can be looked at by hand or with a screenshot tool.
//   node --import tsx scripts/admin-screenshot.ts [--serve] [--port 9106]
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { parseConfig } from '../src/config/load.js';
import { startSampleImmich } from '../src/demo/sample-immich/server.js';
import { addDevice } from '../src/gate/devices.js';
import { issueSession } from '../src/gate/session.js';
import { startGateway } from '../src/gateway.js';
import { linkTag } from '../src/share/link-tag.js';
import { silentLogger } from '../src/log.js';
import { createConsoleMailer } from '../src/mail/console.js';
import { runConnector } from '../src/tunnel/connector.js';
import { createTunnelToken, encodeToken, openTunnelTokenStore } from '../src/tunnel/index.js';

const serve = process.argv.includes('--serve');
const portArg = process.argv.indexOf('--port');
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;
const ADMIN = 'alice@example.com';

const origin = await startSampleImmich();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-admin-shot-'));
const config = parseConfig(
  {
    listen: { address: '127.0.0.1', httpPort: port, httpsPort: 0 },
    tunnel: { enabled: true },
    hosts: { private: 'photos.localhost', share: 'share.localhost' },
    publicScheme: 'http',
    origin: { url: origin.url },
    gate: { allow: [ADMIN, '*@family.example'], admins: [ADMIN] },
    mail: { from: 'Porthole <porthole@example.com>', transport: 'console' },
    dataDir,
    log: { level: 'warn' },
  },
  'screenshot config',
);
const gateway = await startGateway(config, createConsoleMailer(), silentLogger);
const tokens = openTunnelTokenStore(dataDir);
const created = createTunnelToken(tokens.store, 'home-nas');
createTunnelToken(tokens.store, 'old-raspberry');
tokens.close();
const connector = runConnector({
  token: encodeToken({ id: created.id, secret: created.secret, gateway: `127.0.0.1:${gateway.https!.port}`, fingerprint: gateway.https!.certificate.fingerprint }),
  origin: new URL(origin.url),
  name: 'home-nas',
});
while (gateway.tunnel!.status().connectors.length === 0) await sleep(50);

const store = gateway.deps.store;
const now = Date.now();
const firefox = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';
const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';
const admin = issueSession(store, config, ADMIN, { now, ip: '198.51.100.20', userAgent: firefox });
issueSession(store, config, 'grandma@family.example', { now: now - 3 * 3600_000, ip: '203.0.113.45', userAgent: iphone });
issueSession(store, config, 'bob@family.example', { now: now - 20 * 60_000, ip: '2001:db8:4::17', userAgent: firefox });
addDevice(store, config.gate.allow, { email: 'bob@family.example', name: 'Bob’s Pixel' }, now - 86_400_000);
addDevice(store, config.gate.allow, { email: 'grandma@family.example', name: 'Grandma’s iPad' }, now - 5 * 86_400_000);
store.passkeys.create({
  id: crypto.randomBytes(8).toString('hex'),
  credentialId: 'sample-credential',
  publicKey: Buffer.from('sample'),
  counter: 0,
  email: ADMIN,
  name: 'Firefox on Windows',
  transports: 'internal',
  createdAt: now - 2 * 86_400_000,
  lastUsedAt: now - 3600_000,
});
const events = [
  { type: 'session.created', email: 'grandma@family.example', ip: '203.0.113.45', detail: 'code; session 5f0c2a91d3e4b7a8' },
  { type: 'code.wrong', email: 'bob@family.example', ip: '2001:db8:4::17', detail: 'try 1 of 5' },
  // Links are named by their tag in the audit log, never by key or slug.
  { type: 'share.password-wrong', email: null, ip: '192.0.2.66', detail: `link ${linkTag({ kind: 'slug', value: 'family-trip' })}`, count: 7 },
  { type: 'share.locked', email: null, ip: '192.0.2.66', detail: `password failures per link and client, link ${linkTag({ kind: 'slug', value: 'family-trip' })}` },
  { type: 'code.locked', email: 'alice@example.com', ip: '192.0.2.80', detail: '5 wrong tries' },
] as const;
for (const [i, e] of events.entries()) store.audit.record({ ...e, at: now - (events.length - i) * 60_000 });

// Visitors open share links: the link cache fills.
const openLink = origin.library.createLink({ description: 'Summer 2026' });
const passwordLink = origin.library.createLink({ slug: 'family-trip', password: 'demo', showMetadata: false });
const visit = (target: string, options: { accept?: string; method?: string; body?: string } = {}) =>
  new Promise<void>((resolve) => {
    const headers = { host: `share.localhost:${gateway.httpPort}`, accept: options.accept ?? 'application/json', 'content-type': 'application/json' };
    http.request({ host: '127.0.0.1', port: gateway.httpPort, method: options.method ?? 'GET', path: target, headers }, (res) => res.resume().on('end', resolve)).end(options.body);
  });
await visit(`/api/shared-links/me?key=${openLink.key}`);
await visit(`/api/shared-links/me?slug=${passwordLink.slug}`);
// The password link's record: its page opened, a wrong password, a route the share host never opens.
await visit(`/s/${passwordLink.slug}`, { accept: 'text/html' });
await visit(`/api/shared-links/login?slug=${passwordLink.slug}`, { method: 'POST', body: JSON.stringify({ password: 'guess' }) });
await visit(`/api/albums?slug=${passwordLink.slug}`);

const base = `http://photos.localhost:${gateway.httpPort}`;
const cookie = `${admin.cookieName}=${admin.cookieValue}`;
if (serve) {
  process.stdout.write(`Admin page: ${base}/.porthole/admin\nCookie: ${cookie}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
} else {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', `--host-resolver-rules=MAP photos.localhost 127.0.0.1`] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', extraHTTPHeaders: { 'accept-language': 'en' } });
  await context.addCookies([{ name: admin.cookieName, value: admin.cookieValue, url: base }]);
  const page = await context.newPage();
  await page.goto(`${base}/.porthole/admin?link=${passwordLink.slug}`);
  fs.mkdirSync('docs/img', { recursive: true });
  await page.screenshot({ path: 'docs/img/admin.png', fullPage: true });
  await browser.close();
  process.stdout.write('wrote docs/img/admin.png\n');
}
await connector.stop();
await gateway.close();
await origin.close();
fs.rmSync(dataDir, { recursive: true, force: true });
