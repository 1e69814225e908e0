// Dead ends a person can reach on the gate, and the way out of each: the "too many attempts" page links back
// to the sign-in page (English and German), and a mailed link opened again in a browser that is signed in
// anyway goes to the library instead of "This link no longer works".
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CookieJar, startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
before(async () => {
  gate = await startTestGate({ gate: { rateLimits: { codesPerAddressPerHour: 2, codesPerIpPerHour: 100, verifiesPerIpPerHour: 100 } } });
});
after(() => gate.close());

const html = { accept: 'text/html' };

test('the 429 page after too many code requests links back to the sign-in page, in English and German', async () => {
  const email = 'alice@example.com';
  for (let i = 0; i < 2; i++) assert.equal((await gate.submit('/.porthole/login', { email }, new CookieJar())).status, 303);
  const english = await gate.submit('/.porthole/login', { email }, new CookieJar());
  assert.equal(english.status, 429);
  assert.match(english.body, /<meta name="viewport"/);
  assert.match(english.body, /<a href="\/\.porthole\/login">Back to sign-in<\/a>/);
  const german = await gate.submit('/.porthole/login', { email }, new CookieJar(), { 'accept-language': 'de-DE,de;q=0.9' });
  assert.equal(german.status, 429);
  assert.match(german.body, /<html lang="de">/);
  assert.match(german.body, /<a href="\/\.porthole\/login">Zurück zur Anmeldung<\/a>/);
  // The link leads somewhere that works: the sign-in page itself is not rate-limited.
  assert.equal((await gate.request('GET', '/.porthole/login', { headers: html })).status, 200);
  // Scripts still get JSON, without a link.
  const api = await gate.submit('/.porthole/login', { email }, new CookieJar(), { accept: 'application/json' });
  assert.equal(api.status, 429);
  assert.equal(JSON.parse(api.body).error, 'rate-limited');
});

async function mailedLink(email: string): Promise<{ path: string; jar: CookieJar }> {
  const jar = new CookieJar();
  const before = gate.smtp.count(email);
  assert.equal((await gate.submit('/.porthole/login', { email }, jar)).status, 303);
  const mail = await gate.smtp.next(email, before);
  const url = new URL(mail.link);
  return { path: url.pathname + url.search, jar };
}

test('a spent mail link opened in a browser that is signed in goes to the library', async () => {
  const { path } = await mailedLink('bob@family.example');
  const phone = new CookieJar();
  const confirmed = await gate.submit(path, {}, phone);
  assert.equal(confirmed.status, 303);
  // The same link tapped again in the same (signed-in) browser: straight in.
  const again = await gate.request('GET', path, { headers: html, jar: phone });
  assert.equal(again.status, 303);
  assert.equal(again.headers.location, '/');
  const library = await gate.request('GET', '/', { headers: html, jar: phone });
  assert.equal(library.status, 200);
  assert.match(library.body, /Sample photo library/);
});

test('a spent mail link in a browser that is not signed in still says it no longer works', async () => {
  const { path } = await mailedLink('carol@family.example');
  assert.equal((await gate.submit(path, {}, new CookieJar())).status, 303);
  const stranger = await gate.request('GET', path, { headers: html, jar: new CookieJar() });
  assert.equal(stranger.status, 404);
  assert.match(stranger.body, /This link no longer works/);
  // A session cookie that is not valid does not count as signed in.
  const forged = new CookieJar();
  forged.cookies.set('porthole_session', 'x'.repeat(43));
  const withForged = await gate.request('GET', path, { headers: html, jar: forged });
  assert.equal(withForged.status, 404);
});

test('a signed-in browser confirming a spent link (a stale confirm page) goes to the library too', async () => {
  const { path } = await mailedLink('dave@family.example');
  const laptop = new CookieJar();
  const page = await gate.request('GET', path, { headers: html, jar: laptop });
  assert.equal(page.status, 200);
  // Signed in another way (the code) before pressing the button on the old page.
  await gate.signIn('dave@family.example', laptop);
  const csrf = /name="csrf" value="([0-9a-f]{64})"/.exec(page.body)![1]!;
  const token = /name="t" value="([^"]+)"/.exec(page.body)![1]!;
  const pressed = await gate.request('POST', '/.porthole/link', {
    jar: laptop,
    body: new URLSearchParams({ csrf, t: token }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: `http://${gate.host}`, 'sec-fetch-site': 'same-origin', accept: 'text/html' },
  });
  assert.equal(pressed.status, 303);
  // Codes are per request, so the link is still good and this is a sign-in of its own: with passkeys on (the
  // default) the gate offers one first, and the way on still leads to the library.
  assert.equal(pressed.headers.location, '/.porthole/passkeys/offer?next=%2F');
});
