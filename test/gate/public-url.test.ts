// Links in sign-in e-mails and redirects between the two hosts name the configured host names, and a port only
// when it is one Porthole is really reached on: a forged Host port never ends up in a genuine e-mail.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CookieJar, PRIVATE_HOST, SHARE_HOST, startTestGate, type TestGate } from './harness.js';

const limits = { rateLimits: { verifiesPerIpPerHour: 1000, codesPerIpPerHour: 1000, codesPerAddressPerHour: 1000 } };
let plain: TestGate;
let forwarded: TestGate;
before(async () => {
  plain = await startTestGate({ gate: limits });
  forwarded = await startTestGate({ gate: limits, publicPort: 8443 });
});
after(async () => {
  await plain?.close();
  await forwarded?.close();
});

async function mailedLink(gate: TestGate, host: string): Promise<string> {
  const jar = new CookieJar();
  const before = gate.smtp.count('alice@example.com');
  const requested = await gate.submit('/.porthole/login', { email: 'alice@example.com' }, jar, { host, origin: `http://${host}` });
  assert.equal(requested.status, 303);
  return (await gate.smtp.next('alice@example.com', before)).link;
}

test('the mailed link keeps the port the connection arrived on and drops any other', async () => {
  assert.ok((await mailedLink(plain, `${PRIVATE_HOST}:${plain.port}`)).startsWith(`http://${PRIVATE_HOST}:${plain.port}/.porthole/link?t=`));
  const forged = await mailedLink(plain, `${PRIVATE_HOST}:6666`);
  assert.ok(forged.startsWith(`http://${PRIVATE_HOST}/.porthole/link?t=`), forged);
});

test('behind a port forward, publicPort names the port people use', async () => {
  for (const host of [`${PRIVATE_HOST}:8443`, `${PRIVATE_HOST}:6666`, PRIVATE_HOST]) {
    const link = await mailedLink(forwarded, host);
    assert.ok(link.startsWith(`http://${PRIVATE_HOST}:8443/.porthole/link?t=`), `${host}: ${link}`);
  }
  assert.ok((await mailedLink(forwarded, `${PRIVATE_HOST}:${forwarded.port}`)).startsWith(`http://${PRIVATE_HOST}:${forwarded.port}/`));
});

test('redirects between the private and the share host drop a forged port too', async () => {
  const toShare = await plain.request('GET', '/share/abc', { headers: { accept: 'text/html' }, host: `${PRIVATE_HOST}:6666` });
  assert.equal(toShare.status, 302);
  assert.equal(toShare.headers.location, `http://${SHARE_HOST}/share/abc`);
  const uuid = '00000000-0000-4000-8000-000000000108';
  const toPrivate = await plain.request('GET', `/photos/${uuid}`, { host: `${SHARE_HOST}:6666` });
  assert.equal(toPrivate.status, 302);
  assert.equal(toPrivate.headers.location, `http://${PRIVATE_HOST}/photos/${uuid}`);
  const kept = await plain.request('GET', `/photos/${uuid}`, { host: `${SHARE_HOST}:${plain.port}` });
  assert.equal(kept.headers.location, `http://${PRIVATE_HOST}:${plain.port}/photos/${uuid}`);
});
