// The share host's one refusal, as browsers and scripts see it: a styled, phone-friendly page in English or
// German for browsers, a plain JSON 404 for API clients, byte for byte the same whatever refused the request
// (unknown path, unknown key or slug, a blocked route, a wrong method, an odd spelling, a forbidden parameter,
// a link setting). Anything that differed would tell a guesser which rule it hit.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SAMPLE_API_KEY } from '../../src/demo/sample-immich/server.js';
import { startShare, type Reply, type RequestOptions, type ShareSetup } from './harness.js';

let s: ShareSetup;
before(async () => {
  s = await startShare({ share: { rateLimits: { unknownLinksPerIp: 1000 } } });
});
after(() => s.close());

const browser = (lang?: string): RequestOptions['headers'] => ({
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  ...(lang ? { 'accept-language': lang } : {}),
});

/** Everything about an answer that a client can see, except the clock. */
function face(reply: Reply): string {
  const headers = Object.entries(reply.headers)
    .filter(([name]) => name !== 'date' && name !== 'connection' && name !== 'keep-alive')
    .sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify({ status: reply.status, headers, body: reply.body.toString('base64') });
}

/** Page requests refused for different reasons (each reason named, so a failure says which one differed). */
function pageRefusals(): Array<[string, string, RequestOptions?]> {
  const open = s.origin.library.createLink({});
  const locked = s.origin.library.createLink({ password: 'pw', slug: 'locked-party' });
  void locked;
  return [
    ['unknown path', '/admin'],
    ['Immich login page', '/auth/login'],
    ['unknown key', `/share/${'a'.repeat(67)}`],
    ['malformed key', '/share/short'],
    ['unknown slug', '/s/no-such-party'],
    ['extra segment after a valid key', `/share/${open.key}/x`],
    ['wrong method on a valid link', `/share/${open.key}`, { method: 'DELETE' }],
    ['POST on a page', `/share/${open.key}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' }],
    ['percent-encoded path', `/%73hare/${open.key}`],
    ['dot segments', `/share/../admin`],
    ['encoded slash', `/share/${open.key}%2Fx`],
    ['forbidden parameter', `/share/${open.key}?apiKey=${SAMPLE_API_KEY}`],
    ['repeated key', `/share/${open.key}?key=${open.key}`],
  ];
}

/** API requests refused for different reasons. */
function apiRefusals(): Array<[string, string, RequestOptions?]> {
  const open = s.origin.library.createLink({});
  const noDownload = s.origin.library.createLink({ allowDownload: false });
  const locked = s.origin.library.createLink({ password: 'pw' });
  const asset = s.origin.library.album.assetIds[0]!;
  return [
    ['no policy row', '/api/users/me'],
    ['blocked route (album with member emails)', `/api/albums/${s.origin.library.album.id}?key=${open.key}`],
    ['blocked route (metadata search)', `/api/search/metadata?key=${open.key}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }],
    ['unknown key', `/api/assets/${asset}?key=${'b'.repeat(67)}`],
    ['wrong method', `/api/assets/${asset}?key=${open.key}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' }],
    ['downloads off', `/api/assets/${asset}/original?key=${noDownload.key}`],
    ['password not given', `/api/assets/${asset}/thumbnail?key=${locked.key}`],
    ['encoded path', `/%61pi/users/me`],
    ['upper-case path', `/API/users/me`],
    ['doubled slash', `//api/users/me`],
    ['foreign credential as parameter', `/api/assets/${asset}?key=${open.key}&apiKey=${SAMPLE_API_KEY}`],
  ];
}

test('browsers get one page for every refusal reason: same status, same headers, same bytes', async () => {
  const reasons = pageRefusals();
  const faces = new Map<string, string>();
  for (const [why, target, options] of reasons) {
    const reply = await s.share(target, { ...options, headers: { ...browser(), ...options?.headers } });
    assert.equal(reply.status, 404, why);
    faces.set(why, face(reply));
  }
  const [first, firstFace] = [...faces.entries()][0]!;
  for (const [why, seen] of faces) assert.equal(seen, firstFace, `"${why}" differs from "${first}"`);
  assert.ok(faces.size >= 5);

  const page = await s.share('/admin', { headers: browser() });
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(page.text, /^<!doctype html><html lang="en">/);
  assert.match(page.text, /<meta name="viewport" content="width=device-width,initial-scale=1">/);
  assert.match(page.text, /<h1>Nothing to see here<\/h1>/);
  assert.match(page.text, /<style>/, 'styled like the gate pages');
  assert.equal(page.headers['x-robots-tag'], 'noindex, nofollow, noarchive');
  assert.equal(page.headers['cache-control'], 'no-store');
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
  // Nothing in it names a rule, a key or Immich.
  assert.doesNotMatch(page.text, /immich|policy|key|slug|password|method/i);
});

test('German with Accept-Language: de, the same for every reason', async () => {
  const faces = new Set<string>();
  for (const [why, target, options] of pageRefusals()) {
    const reply = await s.share(target, { ...options, headers: { ...browser('de-DE,de;q=0.9,en;q=0.5'), ...options?.headers } });
    assert.equal(reply.status, 404, why);
    faces.add(face(reply));
  }
  assert.equal(faces.size, 1);
  const german = await s.share('/admin', { headers: browser('de') });
  assert.match(german.text, /<html lang="de">/);
  assert.match(german.text, /<meta name="viewport" content="width=device-width,initial-scale=1">/);
  assert.match(german.text, /<h1>Hier gibt es nichts zu sehen<\/h1>/);
  const english = await s.share('/admin', { headers: browser('en-GB') });
  assert.notEqual(german.text, english.text);
  assert.equal(german.headers.vary, 'Accept, Accept-Language');
});

test('API clients get a plain JSON 404, the same for every reason; HEAD gets the same head without a body', async () => {
  const faces = new Map<string, string>();
  for (const [why, target, options] of apiRefusals()) {
    // A browser's fetch of an API path, and a script with no Accept at all: both JSON.
    for (const accept of ['application/json, text/plain, */*', undefined, 'text/html']) {
      const reply = await s.share(target, { ...options, headers: { ...(accept ? { accept } : {}), ...options?.headers } });
      assert.equal(reply.status, 404, `${why} (${accept})`);
      faces.set(`${why} (${accept})`, face(reply));
    }
  }
  // A page path asked for by a script (no text/html in Accept) gets the JSON too.
  faces.set('page path, script', face(await s.share('/admin', { headers: { accept: '*/*' } })));
  const [first, firstFace] = [...faces.entries()][0]!;
  for (const [why, seen] of faces) assert.equal(seen, firstFace, `"${why}" differs from "${first}"`);

  const reply = await s.share('/api/users/me', { headers: { accept: 'application/json' } });
  assert.equal(reply.headers['content-type'], 'application/json; charset=utf-8');
  assert.deepEqual(reply.json(), { error: 'not-found', message: 'Not found', statusCode: 404 });

  const head = await s.share('/api/users/me', { method: 'HEAD' });
  assert.equal(head.status, 404);
  assert.equal(head.body.length, 0);
  assert.equal(head.headers['content-length'], reply.headers['content-length']);
});

test('refusals that a visitor must understand stay different: a rate limit is a 429, not the 404 page', async () => {
  const limited = await startShare({ share: { rateLimits: { unknownLinksPerIp: 2 } } });
  try {
    for (let i = 0; i < 2; i++) assert.equal((await limited.share(`/s/guess-${i}`, { headers: browser() })).status, 404);
    const page = await limited.share('/s/guess-9', { headers: browser('de') });
    assert.equal(page.status, 429);
    assert.match(page.text, /Zu viele Versuche/);
    assert.match(page.text, /<meta name="viewport"/);
  } finally {
    await limited.close();
  }
});
