// Passkey endpoints over real HTTP, with a software authenticator (P-256, "none" attestation) so each attack
// can be built byte by byte: a replayed assertion, one made for another origin or another relying party, a
// cloned authenticator's stale counter, a challenge taken from another browser or after it expired, forms
// without CSRF. None of it reaches the origin. Also: gate.passkeys: false hides every passkey path, and
// passkey sign-ins are rate limited like codes.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import { PASSKEY_PATHS } from '../../src/gate/passkey-pages.js';
import { CookieJar, startTestGate, PRIVATE_HOST, type TestGate } from './harness.js';

const b64u = (bytes: Uint8Array | Buffer) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => crypto.createHash('sha256').update(data).digest();

interface CreationOptions {
  challenge: string;
  rp: { id: string };
  user: { id: string; name: string };
  authenticatorSelection: { residentKey: string; userVerification: string };
}
interface RequestOptions {
  challenge: string;
  rpId: string;
  userVerification: string;
}

/**
 * Just enough of an authenticator: one P-256 credential, user verification always "done", and a signature
 * counter, unless `counting` is false: synced passkeys report 0 forever, so only the challenge stops a replay.
 */
class SoftAuthenticator {
  constructor(readonly counting = true) {}
  readonly keys = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  readonly credentialId = crypto.randomBytes(16);
  counter = 0;
  userHandle = '';

  private coseKey(): Uint8Array {
    const jwk = this.keys.publicKey.export({ format: 'jwk' });
    return isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
  }

  private authData(rpId: string, flags: number, extra: Uint8Array = new Uint8Array()): Buffer {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(this.counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), counter, extra]);
  }

  register(options: CreationOptions, origin: string) {
    this.userHandle = options.user.id;
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    const attested = Buffer.concat([Buffer.alloc(16), idLength, this.credentialId, this.coseKey()]);
    const authData = this.authData(options.rp.id, 0x01 | 0x04 | 0x40, attested);
    const attestationObject = isoCBOR.encode(
      new Map<string, unknown>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', new Uint8Array(authData)],
      ]) as never,
    );
    const clientDataJSON = JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin, crossOrigin: false });
    return {
      id: b64u(this.credentialId),
      rawId: b64u(this.credentialId),
      type: 'public-key',
      response: { clientDataJSON: b64u(Buffer.from(clientDataJSON)), attestationObject: b64u(attestationObject), transports: ['internal'] },
      clientExtensionResults: {},
    };
  }

  assert(options: RequestOptions, origin: string, o: { rpId?: string; flags?: number } = {}) {
    if (this.counting) this.counter++;
    const authData = this.authData(o.rpId ?? options.rpId, o.flags ?? 0x01 | 0x04);
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin, crossOrigin: false }));
    const signature = crypto.sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), this.keys.privateKey);
    return {
      id: b64u(this.credentialId),
      rawId: b64u(this.credentialId),
      type: 'public-key',
      response: { clientDataJSON: b64u(clientDataJSON), authenticatorData: b64u(authData), signature: b64u(signature), userHandle: this.userHandle },
      clientExtensionResults: {},
    };
  }
}

let gate: TestGate;
let origin: string;
before(async () => {
  gate = await startTestGate({
    gate: { allow: ['alice@example.com', '*@family.example'], rateLimits: { verifiesPerIpPerHour: 1000, codesPerIpPerHour: 1000, codesPerAddressPerHour: 1000 } },
  });
  origin = `http://${gate.host}`;
});
after(() => gate?.close());

const csrfIn = (html: string) => {
  const token = /data-csrf="([0-9a-f]{64})"/.exec(html)?.[1];
  if (!token) throw new Error(`no passkey block on the page:\n${html.slice(0, 600)}`);
  return token;
};

/** POSTs JSON the way the page script does (same-origin fetch). */
async function postJson(target: string, body: Record<string, unknown>, jar: CookieJar, headers: Record<string, string> = {}) {
  const res = await gate.request('POST', target, {
    jar,
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', accept: 'application/json', origin, 'sec-fetch-site': 'same-origin', ...headers },
  });
  return { ...res, json: () => JSON.parse(res.body) as Record<string, unknown> };
}

const pageCsrf = async (path: string, jar: CookieJar) => csrfIn((await gate.request('GET', path, { jar, headers: { accept: 'text/html' } })).body);
const ping = (jar: CookieJar) => gate.request('GET', '/api/server/ping', { jar });

/** Signs in with a code and registers the authenticator for `email`, as the offer page would. */
async function enrol(email: string, authenticator = new SoftAuthenticator()) {
  const jar = await gate.signIn(email);
  const csrf = await pageCsrf(PASSKEY_PATHS.manage, jar);
  const options = await postJson(PASSKEY_PATHS.registerOptions, { csrf }, jar);
  assert.equal(options.status, 200, options.body);
  const creation = options.json() as unknown as CreationOptions;
  const verified = await postJson(PASSKEY_PATHS.registerVerify, { csrf, response: authenticator.register(creation, origin) }, jar);
  assert.equal(verified.status, 200, verified.body);
  return { authenticator, creation, jar };
}

/** A browser on the sign-in page: its jar, the page's CSRF token and a fresh challenge. */
async function signInOptions(jar = new CookieJar()) {
  const csrf = await pageCsrf(`/.porthole/login`, jar);
  const options = await postJson(PASSKEY_PATHS.signInOptions, { csrf }, jar);
  assert.equal(options.status, 200, options.body);
  return { jar, csrf, options: options.json() as unknown as RequestOptions };
}

const refusals = (email: string | null = null) => gate.gateway.deps.store.audit.list({ type: 'passkey.refused', ...(email ? { email } : {}) });

test('registration: random user handle, discoverable preferred, verification required; sign-in with the passkey alone', async () => {
  const originBefore = gate.origin.received.length;
  const { authenticator, creation } = await enrol('alice@example.com');
  assert.equal(creation.rp.id, PRIVATE_HOST);
  assert.equal(creation.authenticatorSelection.residentKey, 'preferred');
  assert.equal(creation.authenticatorSelection.userVerification, 'required');
  assert.ok(!Buffer.from(creation.user.id, 'base64url').toString('latin1').includes('alice'), 'the user handle is not the address');
  assert.equal(Buffer.from(creation.user.id, 'base64url').length, 32);

  const { jar, csrf, options } = await signInOptions();
  assert.equal(options.userVerification, 'required');
  assert.equal(options.rpId, PRIVATE_HOST);
  const signedIn = await postJson(PASSKEY_PATHS.signInVerify, { csrf, response: authenticator.assert(options, origin), next: '/photos?x=1' }, jar);
  assert.equal(signedIn.status, 200, signedIn.body);
  assert.equal(signedIn.json().location, '/photos?x=1');
  assert.match(String(signedIn.headers['set-cookie']), /porthole_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax/);
  // Enrolment and sign-in are the gate's alone: none of their requests was forwarded.
  assert.equal(gate.origin.received.length, originBefore, 'no passkey or gate request reached the origin');
  assert.equal((await ping(jar)).status, 200);
  // A next= pointing elsewhere falls back to "/".
  const again = await signInOptions();
  const elsewhere = await postJson(PASSKEY_PATHS.signInVerify, { csrf: again.csrf, response: authenticator.assert(again.options, origin), next: '//evil.example' }, again.jar);
  assert.equal(elsewhere.json().location, '/');
});

for (const counting of [true, false]) {
  test(`a replayed assertion is refused, with its own challenge or a fresh one (${counting ? 'counting authenticator' : 'counter always 0'})`, async () => {
    const email = counting ? 'bob@family.example' : 'bea@family.example';
    const { authenticator } = await enrol(email, new SoftAuthenticator(counting));
    const { jar, csrf, options } = await signInOptions();
    const captured = { csrf, response: authenticator.assert(options, origin) };
    assert.equal((await postJson(PASSKEY_PATHS.signInVerify, captured, jar)).status, 200);
    const sessionsBefore = gate.gateway.deps.store.sessions.list(gate.clock.now).length;

    const replayed = await postJson(PASSKEY_PATHS.signInVerify, captured, jar);
    assert.equal(replayed.status, 401);
    assert.equal(replayed.headers['set-cookie'], undefined);
    // From another browser that asked for a challenge of its own: the captured one names the old challenge.
    const attacker = await signInOptions();
    const elsewhere = await postJson(PASSKEY_PATHS.signInVerify, { csrf: attacker.csrf, response: captured.response }, attacker.jar);
    assert.equal(elsewhere.status, 401);
    assert.equal(gate.gateway.deps.store.sessions.list(gate.clock.now).length, sessionsBefore, 'no session was made');
    assert.match(refusals()[0]!.detail ?? '', /challenge unknown, used, expired or from another browser/);
  });
}

test('an assertion made for another origin or another relying party is refused', async () => {
  const { authenticator } = await enrol('carol@family.example');
  for (const [what, make] of [
    ['origin', (o: RequestOptions) => authenticator.assert(o, 'http://photos.evil.example')],
    ['origin with another port', (o: RequestOptions) => authenticator.assert(o, `http://${PRIVATE_HOST}:1`)],
    ['relying party', (o: RequestOptions) => authenticator.assert(o, origin, { rpId: 'evil.example' })],
    ['no user verification', (o: RequestOptions) => authenticator.assert(o, origin, { flags: 0x01 })],
  ] as const) {
    const { jar, csrf, options } = await signInOptions();
    const res = await postJson(PASSKEY_PATHS.signInVerify, { csrf, response: make(options) }, jar);
    assert.equal(res.status, 401, what);
    assert.equal((await ping(jar)).status, 401, what);
  }
  const details = refusals('carol@family.example').map((e) => e.detail ?? '');
  assert.ok(
    details.some((d) => /origin/i.test(d)),
    details.join('\n'),
  );
  // The same authenticator on the right origin still works: the refusals were about the assertions.
  const { jar, csrf, options } = await signInOptions();
  assert.equal((await postJson(PASSKEY_PATHS.signInVerify, { csrf, response: authenticator.assert(options, origin) }, jar)).status, 200);
});

test('a cloned authenticator (a counter that does not move forward) is refused', async () => {
  const { authenticator } = await enrol('dave@family.example');
  const first = await signInOptions();
  assert.equal((await postJson(PASSKEY_PATHS.signInVerify, { csrf: first.csrf, response: authenticator.assert(first.options, origin) }, first.jar)).status, 200);
  authenticator.counter -= 1; // the clone still counts from where the original was copied
  const second = await signInOptions();
  const res = await postJson(PASSKEY_PATHS.signInVerify, { csrf: second.csrf, response: authenticator.assert(second.options, origin) }, second.jar);
  assert.equal(res.status, 401);
  assert.match(refusals('dave@family.example')[0]!.detail ?? '', /counter/i);
});

test('challenges are bound to the browser that asked, and expire', async () => {
  const { authenticator } = await enrol('erin@family.example');
  const victim = await signInOptions();
  const attacker = await signInOptions();
  // The attacker's browser presents an assertion over the victim's challenge.
  const stolen = await postJson(PASSKEY_PATHS.signInVerify, { csrf: attacker.csrf, response: authenticator.assert(victim.options, origin) }, attacker.jar);
  assert.equal(stolen.status, 401);
  const late = await signInOptions();
  gate.clock.now += 3 * 60_000;
  try {
    const res = await postJson(PASSKEY_PATHS.signInVerify, { csrf: late.csrf, response: authenticator.assert(late.options, origin) }, late.jar);
    assert.equal(res.status, 401);
  } finally {
    gate.clock.now -= 3 * 60_000;
  }
});

test('passkey endpoints need the CSRF token and a same-origin request; registration needs a session', async () => {
  const jar = new CookieJar();
  const csrf = await pageCsrf('/.porthole/login', jar);
  for (const path of [PASSKEY_PATHS.signInOptions, PASSKEY_PATHS.signInVerify, PASSKEY_PATHS.registerOptions, PASSKEY_PATHS.registerVerify]) {
    assert.equal((await postJson(path, {}, jar)).status, 403, `${path} without token`);
    assert.equal((await postJson(path, { csrf: 'f'.repeat(64) }, jar)).status, 403, `${path} wrong token`);
    assert.equal((await postJson(path, { csrf }, jar, { 'sec-fetch-site': 'cross-site' })).status, 403, `${path} cross-site`);
    assert.equal((await postJson(path, { csrf }, jar, { origin: 'http://evil.example' })).status, 403, `${path} other origin`);
    const form = await gate.request('POST', path, {
      jar,
      body: `csrf=${csrf}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin, 'sec-fetch-site': 'same-origin' },
    });
    assert.equal(form.status, 400, `${path} as a form`);
  }
  assert.equal((await postJson(PASSKEY_PATHS.registerOptions, { csrf }, jar)).status, 401, 'no session, no registration');
  const removal = await gate.request('POST', PASSKEY_PATHS.remove, {
    jar,
    body: 'id=0123456789abcdef',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin, 'sec-fetch-site': 'same-origin' },
  });
  assert.equal(removal.status, 403);
  // Someone else's passkey id cannot be removed from one's own page.
  const { authenticator } = await enrol('frank@family.example');
  const franks = gate.gateway.deps.store.passkeys.list('frank@family.example')[0]!;
  const alice = await gate.signIn('alice@example.com');
  const aliceCsrf = await pageCsrf(PASSKEY_PATHS.manage, alice);
  const foreign = await gate.request('POST', PASSKEY_PATHS.remove, {
    jar: alice,
    body: `csrf=${aliceCsrf}&id=${franks.id}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin, 'sec-fetch-site': 'same-origin', accept: 'text/html' },
  });
  assert.equal(foreign.status, 404);
  assert.equal(gate.gateway.deps.store.passkeys.list('frank@family.example').length, 1);
  assert.ok(authenticator);
  // The gate's pages for passkeys are never forwarded, whatever the method.
  const before = gate.origin.received.length;
  for (const method of ['GET', 'PUT', 'DELETE']) {
    for (const path of Object.values(PASSKEY_PATHS)) await gate.request(method, path, { headers: { accept: 'application/json' } });
  }
  assert.equal(gate.origin.received.length, before);
});

test('the script and @simplewebauthn/browser are served by the gate, and only self-hosted scripts may run', async () => {
  const library = await gate.request('GET', PASSKEY_PATHS.browserLibrary);
  assert.equal(library.status, 200);
  assert.match(library.headers['content-type']!, /^text\/javascript/);
  assert.match(library.body, /SimpleWebAuthnBrowser/);
  const login = await gate.request('GET', '/.porthole/login', { headers: { accept: 'text/html' } });
  assert.match(String(login.headers['content-security-policy']), /script-src 'self'; connect-src 'self'/);
  assert.match(login.body, /autocomplete="email webauthn"/);
  assert.doesNotMatch(login.body, /<script(?![^>]*src="\/\.porthole\/assets\/)/, 'no inline or foreign scripts');
});

test('passkey sign-ins are rate limited per IP like code verification', async () => {
  const limited = await startTestGate({ gate: { allow: ['alice@example.com'], rateLimits: { verifiesPerIpPerHour: 2 } } });
  try {
    const jar = new CookieJar();
    const csrf = csrfIn((await limited.request('GET', '/.porthole/login', { jar, headers: { accept: 'text/html' } })).body);
    const tries: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await limited.request('POST', PASSKEY_PATHS.signInVerify, {
        jar,
        body: JSON.stringify({ csrf, response: { id: 'x', response: { clientDataJSON: 'e30' } } }),
        headers: { 'content-type': 'application/json', accept: 'application/json', origin: `http://${limited.host}`, 'sec-fetch-site': 'same-origin' },
      });
      tries.push(res.status);
    }
    assert.deepEqual(tries, [401, 401, 429]);
  } finally {
    await limited.close();
  }
});

test('gate.passkeys: false hides every passkey feature', async () => {
  const off = await startTestGate({ gate: { allow: ['alice@example.com'], passkeys: false } });
  try {
    for (const path of Object.values(PASSKEY_PATHS)) {
      assert.equal((await off.request('GET', path, { headers: { accept: 'application/json' } })).status, 404, path);
      assert.equal((await off.request('POST', path, { headers: { accept: 'application/json', 'content-type': 'application/json' }, body: '{}' })).status, 404, path);
    }
    const login = await off.request('GET', '/.porthole/login?next=%2Fphotos', { headers: { accept: 'text/html' } });
    assert.doesNotMatch(login.body, /passkey|<script/i);
    assert.match(login.body, /autocomplete="email"/);
    // A code sign-in goes straight where it was going, with no offer.
    const jar = new CookieJar();
    await off.submit('/.porthole/login?next=%2Fphotos', { email: 'alice@example.com' }, jar);
    const mail = await off.smtp.next('alice@example.com', 0);
    const verified = await off.submit('/.porthole/code', { code: mail.code }, jar);
    assert.equal(verified.headers.location, '/photos');
    const logout = await off.request('GET', '/.porthole/logout', { jar, headers: { accept: 'text/html' } });
    assert.doesNotMatch(logout.body, /passkey/i);
  } finally {
    await off.close();
  }
});
