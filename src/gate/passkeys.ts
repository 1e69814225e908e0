// Passkeys (WebAuthn) on the gate: after a code sign-in a person may register one, and from then on sign in
// with it. This module owns the ceremonies (@simplewebauthn/server), their single-use challenges bound to the
// browser's CSRF cookie, the passkey pages, the browser script, and admin revocation. A passkey sign-in makes
// the same session as a code and is audited the same way; the allowlist of the running config decides at
// that moment, so an address taken off gate.allow cannot come back in with its passkeys.
import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { AuthenticationResponseJSON, AuthenticatorTransport, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { RequestContext } from '../http/context.js';
import { pickLocale, type Locale } from '../http/locale.js';
import { sendPage } from '../http/page.js';
import { publicOrigin } from '../http/public-url.js';
import { refuse } from '../http/refuse.js';
import { receiveRule, type ProgressRule } from '../listener/deadlines.js';
import { clientBucket } from '../http/client-bucket.js';
import type { Logger } from '../log.js';
import { createRateLimit, type RateLimit } from '../store/rate-limit.js';
import type { AuditEventType, PasskeyRecord, Store } from '../store/store.js';
import type { GateConfig } from './config.js';
import { createCsrf, CSRF_COOKIE_SECONDS } from './csrf.js';
import type { Allowlist } from './email.js';
import { field, readForm, readSmallBody } from './form.js';
import { manageLink, managePage, offerPage, PASSKEY_PAGE_CSP, PASSKEY_PATHS, PASSKEY_SCRIPT, passkeySignInBlock } from './passkey-pages.js';
import { PATHS, type GatePage } from './pages.js';
import type { GateRoute } from './router.js';
import { safeReturnTo } from './return-to.js';
import { deriveKeys, loadOrCreateSecret } from './secret.js';
import { cookieHeader, cookieNames, issueSession, readCookie, type SessionChecker } from './session.js';

/** The WebAuthn library and its certificate parsers cost an idle gateway ~20 MiB; loaded at the first ceremony. */
let webAuthn: Promise<typeof import('@simplewebauthn/server')> | undefined;
const loadWebAuthn = () => (webAuthn ??= import('@simplewebauthn/server'));

/** A ceremony's challenge works once, and only this long after it was handed out. */
const CHALLENGE_LIFETIME_MS = 2 * 60_000;
/** What the browser is told it may take (a little less than the challenge lives). */
const CEREMONY_TIMEOUT_MS = 90_000;
/** A registration or assertion in JSON is well under this; anything bigger is not one. */
const MAX_JSON_BYTES = 16 * 1024;
const MAX_PASSKEYS_PER_ADDRESS = 20;
const PASSKEY_ID = /^[0-9a-f]{16}$/;
export const isPasskeyId = (value: string): boolean => PASSKEY_ID.test(value);

/** @simplewebauthn/browser's own bundle, read once; served from the gate so no page ever loads a CDN. */
function browserBundle(): Buffer {
  const require = createRequire(import.meta.url);
  // The package's CommonJS entry sits one folder below its root, next to dist/.
  const entry = require.resolve('@simplewebauthn/browser');
  return fs.readFileSync(path.join(path.dirname(entry), '..', 'dist', 'bundle', 'index.umd.min.js'));
}

/** A label for a new passkey from the browser's User-Agent ("Chrome on Android"); people can tell them apart. */
function passkeyNameFrom(userAgent: string | undefined): string {
  const ua = userAgent ?? '';
  const platform = /iPhone/.test(ua)
    ? 'iPhone'
    : /iPad/.test(ua)
      ? 'iPad'
      : /Android/.test(ua)
        ? 'Android'
        : /CrOS/.test(ua)
          ? 'ChromeOS'
          : /Mac OS X|Macintosh/.test(ua)
            ? 'Mac'
            : /Windows/.test(ua)
              ? 'Windows'
              : /Linux/.test(ua)
                ? 'Linux'
                : '';
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : '';
  if (browser && platform) return `${browser} on ${platform}`;
  return browser || platform || 'Passkey';
}

export type PasskeyRevokeTarget = { all: true } | { id: string } | { email: string };

/** Removes passkeys and audits each; for the command line (the gate page removes one of the person's own). */
export function revokePasskeys(store: Store, target: PasskeyRevokeTarget, now = Date.now()): PasskeyRecord[] {
  let removed: PasskeyRecord[];
  if ('all' in target) removed = store.passkeys.revokeAll();
  else if ('id' in target) removed = [store.passkeys.revokeById(target.id)].filter((p): p is PasskeyRecord => p !== undefined);
  else removed = store.passkeys.revokeByEmail(target.email);
  for (const passkey of removed) {
    store.audit.record({ type: 'passkey.revoked', at: now, email: passkey.email, detail: `passkey ${passkey.id} "${passkey.name}" (command line)` });
  }
  return removed;
}

export interface PasskeyDeps {
  config: GateConfig;
  store: Store;
  sessions: SessionChecker;
  allowlist: Allowlist;
  logger: Logger;
  now: () => number;
}

export interface PasskeyGate {
  /** The passkey pages and endpoints under /.porthole/, for the gate's router. */
  readonly routes: readonly GateRoute[];
  /** HTML for the sign-in page (under the email form), and the headers that page then needs. */
  signInBlock(locale: Locale, csrf: string, next: string): string;
  readonly pageHeaders: http.OutgoingHttpHeaders;
  /** Where a code sign-in goes next: the offer to create a passkey, which then leads on to `returnTo`. */
  afterCodeSignIn(returnTo: string): string;
  /** A link to the person's passkeys, for the sign-out page. */
  manageLink(locale: Locale): string;
}

type JsonResult = { ok: true; value: Record<string, unknown> } | { ok: false; reason: 'too-large' | 'bad-type' | 'bad-json' | 'aborted' | 'too-slow' };

/** Like readForm: small, and at the rate of a request head, since anyone can post to the sign-in endpoints. */
async function readJson(req: http.IncomingMessage, res: http.ServerResponse, rule: ProgressRule): Promise<JsonResult> {
  const result = await readSmallBody(req, res, rule, 'application/json', MAX_JSON_BYTES);
  if (!result.ok) return result;
  try {
    const value: unknown = JSON.parse(result.body.toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? { ok: true, value: value as Record<string, unknown> } : { ok: false, reason: 'bad-json' };
  } catch {
    return { ok: false, reason: 'bad-json' };
  }
}

/** The challenge a response claims to answer, read from its clientDataJSON; null when there is none. */
function claimedChallenge(response: unknown): string | null {
  try {
    const data = (response as { response?: { clientDataJSON?: unknown } })?.response?.clientDataJSON;
    if (typeof data !== 'string' || data.length > 4096) return null;
    const challenge = (JSON.parse(Buffer.from(data, 'base64url').toString('utf8')) as { challenge?: unknown }).challenge;
    return typeof challenge === 'string' && challenge.length <= 256 ? challenge : null;
  } catch {
    return null;
  }
}

export function createPasskeys(deps: PasskeyDeps): PasskeyGate {
  const { config, store, sessions, allowlist, logger, now } = deps;
  const keys = deriveKeys(loadOrCreateSecret(config.dataDir));
  const names = cookieNames(config);
  const csrf = createCsrf(keys.csrf, names.csrf, config.publicScheme);
  const rpID = config.hosts.private;
  const limits = config.gate.rateLimits;
  // Like the code's: every assertion checked counts against the client's IP, as every code tried does.
  const limiters = {
    verify: createRateLimit(store, 'gate_passkey_verify_ip', { points: limits.verifiesPerIpPerHour, durationSeconds: 3600 }, logger),
    // Handing out challenges is cheap but fills a table: bounded per IP (the sign-in page asks once per load).
    options: createRateLimit(store, 'gate_passkey_options_ip', { points: limits.verifiesPerIpPerHour * 4, durationSeconds: 3600 }, logger),
  };
  const bundle = browserBundle();
  const script = Buffer.from(PASSKEY_SCRIPT, 'utf8');
  const pageHeaders: http.OutgoingHttpHeaders = { 'content-security-policy': PASSKEY_PAGE_CSP };

  const audit = (type: AuditEventType, ctx: RequestContext, email: string | null, detail?: string) =>
    store.audit.record({ type, at: now(), email, ip: ctx.client.ip, detail: detail ?? null });

  const expectedOrigin = (req: http.IncomingMessage, ctx: RequestContext) => publicOrigin(config, rpID, ctx, req.socket.localPort);
  /** Ceremonies are bound to the browser that started them through its CSRF cookie (never stored as is). */
  const binding = (req: http.IncomingMessage) =>
    crypto
      .createHash('sha256')
      .update(`passkey\n${readCookie(req.headers.cookie, names.csrf) ?? ''}`)
      .digest('hex');

  function page(req: http.IncomingMessage, res: http.ServerResponse, status: number, build: (csrfToken: string, locale: Locale) => GatePage) {
    const locale = pickLocale(req.headers['accept-language']);
    const cookie = csrf.cookieFor(req);
    const built = build(csrf.tokenFor(cookie.value), locale);
    const headers: http.OutgoingHttpHeaders = { 'referrer-policy': 'same-origin', ...pageHeaders };
    if (cookie.isNew) headers['set-cookie'] = [cookieHeader(config, names.csrf, cookie.value, CSRF_COOKIE_SECONDS)];
    sendPage(res, { status, locale, title: built.title, body: built.body, headers }, req.method);
  }

  function redirect(res: http.ServerResponse, location: string) {
    res.writeHead(303, { location, 'cache-control': 'no-store', 'content-length': 0, 'referrer-policy': 'no-referrer' });
    res.end();
  }

  function json(res: http.ServerResponse, status: number, body: unknown, cookies: string[] = []) {
    const text = JSON.stringify(body);
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    };
    if (cookies.length) headers['set-cookie'] = cookies;
    res.writeHead(status, headers);
    res.end(text);
  }

  function asset(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) {
    res.writeHead(200, {
      'content-type': 'text/javascript; charset=utf-8',
      'content-length': body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'cross-origin-resource-policy': 'same-origin',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** Reads the JSON body and applies the CSRF check; answers the request itself and returns null when it fails. */
  async function acceptJson(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext): Promise<Record<string, unknown> | null> {
    const body = await readJson(req, res, receiveRule(config.proxy.headersTimeout));
    if (!body.ok) {
      if (body.reason === 'aborted') return null;
      if (body.reason === 'too-slow') refuse(req, res, { kind: 'too-slow' }, 'private');
      else if (body.reason === 'too-large') refuse(req, res, { kind: 'too-large', limitBytes: MAX_JSON_BYTES }, 'private');
      else refuse(req, res, { kind: 'bad-request', reason: 'Expected a JSON object.' }, 'private');
      return null;
    }
    const token = typeof body.value.csrf === 'string' && body.value.csrf.length <= 128 ? body.value.csrf : null;
    const failure = csrf.check(req, ctx, token);
    if (failure) {
      audit('csrf.rejected', ctx, null, `${req.url?.split('?')[0]}: ${failure}`);
      refuse(req, res, { kind: 'csrf' }, 'private');
      return null;
    }
    return body.value;
  }

  async function overLimit(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, limit: RateLimit, what: string): Promise<boolean> {
    const verdict = await limit.consume(clientBucket(ctx.client.ip));
    if (verdict.ok) return false;
    if (verdict.unavailable) {
      refuse(req, res, { kind: 'store-unavailable', retryAfterSeconds: verdict.retryAfterSeconds }, 'private');
      return true;
    }
    audit('rate.limited', ctx, null, what);
    refuse(req, res, { kind: 'rate-limited', retryAfterSeconds: verdict.retryAfterSeconds, backTo: PATHS.login }, 'private');
    return true;
  }

  /** Every failed passkey sign-in looks the same to the browser; the audit log says why. */
  function refuseSignIn(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, email: string | null, why: string) {
    audit('passkey.refused', ctx, email, why);
    refuse(req, res, { kind: 'unauthenticated' }, 'private');
  }

  async function registerOptions(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext) {
    const body = await acceptJson(req, res, ctx);
    if (!body) return;
    const session = sessions.peek(req.headers.cookie, now());
    if (!session) return refuse(req, res, { kind: 'unauthenticated' }, 'private');
    if (await overLimit(req, res, ctx, limiters.options, 'passkey options per IP')) return;
    const existing = store.passkeys.list(session.email);
    if (existing.length >= MAX_PASSKEYS_PER_ADDRESS)
      return refuse(req, res, { kind: 'bad-request', reason: `At most ${MAX_PASSKEYS_PER_ADDRESS} passkeys per address; remove one first.` }, 'private');
    const options = await (
      await loadWebAuthn()
    ).generateRegistrationOptions({
      rpName: config.hosts.private,
      rpID,
      userName: session.email,
      userDisplayName: session.email,
      // The handle is random and stored apart from the address: authenticators never learn who it is from it.
      userID: new Uint8Array(Buffer.from(store.passkeys.userHandle(session.email), 'base64url')),
      timeout: CEREMONY_TIMEOUT_MS,
      attestationType: 'none',
      excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports ? (p.transports.split(',') as AuthenticatorTransport[]) : undefined })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
    });
    const at = now();
    store.passkeys.putChallenge(options.challenge, 'register', binding(req), session.email, at + CHALLENGE_LIFETIME_MS, at);
    json(res, 200, options);
  }

  async function registerVerify(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext) {
    const body = await acceptJson(req, res, ctx);
    if (!body) return;
    const session = sessions.peek(req.headers.cookie, now());
    if (!session) return refuse(req, res, { kind: 'unauthenticated' }, 'private');
    if (await overLimit(req, res, ctx, limiters.verify, 'passkey registration per IP')) return;
    const challenge = claimedChallenge(body.response);
    const taken = challenge === null ? undefined : store.passkeys.takeChallenge(challenge, 'register', binding(req), now());
    if (!taken || taken.email !== session.email) {
      audit('passkey.refused', ctx, session.email, 'registration: challenge unknown, used, expired or from another browser');
      return refuse(req, res, { kind: 'bad-request', reason: 'This passkey request has expired; please try again.' }, 'private');
    }
    let verified;
    try {
      verified = await (
        await loadWebAuthn()
      ).verifyRegistrationResponse({
        response: body.response as RegistrationResponseJSON,
        expectedChallenge: challenge!,
        expectedOrigin: expectedOrigin(req, ctx),
        expectedRPID: rpID,
        requireUserVerification: true,
      });
    } catch (error) {
      audit('passkey.refused', ctx, session.email, `registration: ${(error as Error).message.slice(0, 200)}`);
      return refuse(req, res, { kind: 'bad-request', reason: 'The passkey could not be verified.' }, 'private');
    }
    if (!verified.verified) {
      audit('passkey.refused', ctx, session.email, 'registration not verified');
      return refuse(req, res, { kind: 'bad-request', reason: 'The passkey could not be verified.' }, 'private');
    }
    const { credential } = verified.registrationInfo;
    if (store.passkeys.findByCredentialId(credential.id)) return refuse(req, res, { kind: 'bad-request', reason: 'This passkey is already registered.' }, 'private');
    const record: PasskeyRecord = {
      id: crypto.randomBytes(8).toString('hex'),
      credentialId: credential.id,
      publicKey: Buffer.from(credential.publicKey),
      counter: credential.counter,
      email: session.email,
      name: passkeyNameFrom(req.headers['user-agent']),
      transports: (credential.transports ?? []).join(','),
      createdAt: now(),
      lastUsedAt: null,
    };
    store.passkeys.create(record);
    audit('passkey.created', ctx, session.email, `passkey ${record.id} "${record.name}"`);
    json(res, 200, { ok: true, id: record.id, name: record.name });
  }

  async function signInOptions(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext) {
    const body = await acceptJson(req, res, ctx);
    if (!body) return;
    if (await overLimit(req, res, ctx, limiters.options, 'passkey options per IP')) return;
    // No allowCredentials: the authenticator offers its discoverable passkeys for this host, nobody is named.
    const options = await (await loadWebAuthn()).generateAuthenticationOptions({ rpID, timeout: CEREMONY_TIMEOUT_MS, userVerification: 'required' });
    const at = now();
    store.passkeys.putChallenge(options.challenge, 'authenticate', binding(req), null, at + CHALLENGE_LIFETIME_MS, at);
    json(res, 200, options);
  }

  async function signInVerify(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext) {
    const body = await acceptJson(req, res, ctx);
    if (!body) return;
    if (await overLimit(req, res, ctx, limiters.verify, 'passkey sign-in per IP')) return;
    const response = body.response as AuthenticationResponseJSON | undefined;
    // The challenge is spent first, whatever follows: an assertion is checked at most once.
    const challenge = claimedChallenge(response);
    const taken = challenge === null ? undefined : store.passkeys.takeChallenge(challenge, 'authenticate', binding(req), now());
    if (!taken) return refuseSignIn(req, res, ctx, null, 'challenge unknown, used, expired or from another browser');
    const credentialId = typeof response?.id === 'string' && response.id.length <= 1024 ? response.id : null;
    const passkey = credentialId === null ? undefined : store.passkeys.findByCredentialId(credentialId);
    if (!passkey) return refuseSignIn(req, res, ctx, null, 'unknown passkey');
    if (!allowlist.allows(passkey.email)) return refuseSignIn(req, res, ctx, passkey.email, `passkey ${passkey.id}: address no longer on gate.allow`);
    const userHandle = response?.response?.userHandle;
    if (userHandle !== undefined && userHandle !== store.passkeys.userHandle(passkey.email)) {
      return refuseSignIn(req, res, ctx, passkey.email, `passkey ${passkey.id}: user handle does not match`);
    }
    let verified;
    try {
      verified = await (
        await loadWebAuthn()
      ).verifyAuthenticationResponse({
        response: response!,
        expectedChallenge: challenge!,
        expectedOrigin: expectedOrigin(req, ctx),
        expectedRPID: rpID,
        credential: {
          id: passkey.credentialId,
          publicKey: new Uint8Array(passkey.publicKey),
          counter: passkey.counter,
          transports: passkey.transports ? (passkey.transports.split(',') as AuthenticatorTransport[]) : undefined,
        },
        requireUserVerification: true,
      });
    } catch (error) {
      return refuseSignIn(req, res, ctx, passkey.email, `passkey ${passkey.id}: ${(error as Error).message.slice(0, 200)}`);
    }
    if (!verified.verified) return refuseSignIn(req, res, ctx, passkey.email, `passkey ${passkey.id}: not verified`);
    const at = now();
    store.passkeys.used(passkey.id, verified.authenticationInfo.newCounter, at);
    const session = issueSession(store, config, passkey.email, { now: at, ip: ctx.client.ip, userAgent: req.headers['user-agent'] ?? null });
    audit('session.created', ctx, passkey.email, `passkey ${passkey.id}; session ${session.id}`);
    const next = safeReturnTo(typeof body.next === 'string' ? body.next : '/');
    json(res, 200, { ok: true, location: next }, [session.setCookie, cookieHeader(config, names.pending, '', 0)]);
  }

  function showOffer(req: http.IncomingMessage, res: http.ServerResponse, url: URL) {
    const next = safeReturnTo(url.searchParams.get('next'));
    if (!sessions.peek(req.headers.cookie, now())) return redirect(res, PATHS.login);
    page(req, res, 200, (token, locale) => offerPage({ locale, csrf: token, next }));
  }

  function showManage(req: http.IncomingMessage, res: http.ServerResponse, url: URL) {
    const session = sessions.peek(req.headers.cookie, now());
    if (!session) return redirect(res, PATHS.login);
    const notice = url.searchParams.has('removed') ? 'removed' : url.searchParams.has('created') ? 'created' : undefined;
    page(req, res, 200, (token, locale) => managePage({ locale, csrf: token, email: session.email, passkeys: store.passkeys.list(session.email), notice }));
  }

  async function remove(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext) {
    const form = await readForm(req, res, receiveRule(config.proxy.headersTimeout));
    if (!form.ok) {
      if (form.reason === 'aborted') return;
      if (form.reason === 'too-slow') return refuse(req, res, { kind: 'too-slow' }, 'private');
      return refuse(req, res, form.reason === 'too-large' ? { kind: 'too-large', limitBytes: 4096 } : { kind: 'bad-request', reason: 'Expected a form submission.' }, 'private');
    }
    const failure = csrf.check(req, ctx, field(form.fields, 'csrf', 128));
    if (failure) {
      audit('csrf.rejected', ctx, null, `${PASSKEY_PATHS.remove}: ${failure}`);
      return refuse(req, res, { kind: 'csrf' }, 'private');
    }
    const session = sessions.peek(req.headers.cookie, now());
    if (!session) return redirect(res, PATHS.login);
    const id = field(form.fields, 'id', 32);
    // Only one's own: an id belonging to someone else is treated as not there.
    const removed = id !== null && isPasskeyId(id) ? store.passkeys.revokeById(id, session.email) : undefined;
    if (!removed) return refuse(req, res, { kind: 'not-found' }, 'private');
    audit('passkey.revoked', ctx, session.email, `passkey ${removed.id} "${removed.name}" (gate page)`);
    redirect(res, `${PASSKEY_PATHS.manage}?removed=1`);
  }

  return {
    pageHeaders,
    manageLink,
    signInBlock: (locale, csrfToken, next) => passkeySignInBlock({ locale, csrf: csrfToken, next }),
    afterCodeSignIn: (returnTo) => `${PASSKEY_PATHS.offer}?next=${encodeURIComponent(safeReturnTo(returnTo))}`,
    routes: [
      { path: PASSKEY_PATHS.manage, show: (req, res, _ctx, url) => showManage(req, res, url) },
      { path: PASSKEY_PATHS.offer, show: (req, res, _ctx, url) => showOffer(req, res, url) },
      { path: PASSKEY_PATHS.browserLibrary, show: (req, res) => asset(req, res, bundle) },
      { path: PASSKEY_PATHS.script, show: (req, res) => asset(req, res, script) },
      { path: PASSKEY_PATHS.remove, submit: (req, res, ctx) => remove(req, res, ctx) },
      { path: PASSKEY_PATHS.registerOptions, submit: (req, res, ctx) => registerOptions(req, res, ctx) },
      { path: PASSKEY_PATHS.registerVerify, submit: (req, res, ctx) => registerVerify(req, res, ctx) },
      { path: PASSKEY_PATHS.signInOptions, submit: (req, res, ctx) => signInOptions(req, res, ctx) },
      { path: PASSKEY_PATHS.signInVerify, submit: (req, res, ctx) => signInVerify(req, res, ctx) },
    ],
  };
}
