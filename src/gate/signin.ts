// The sign-in flow behind /.porthole/: ask for a code, enter it (or confirm the mailed link), sign out.
// Every decision is audited. Allowed and unknown addresses take the same path through here (same response,
// same work, a stored decoy code for unknown addresses so wrong tries and lockouts look the same); only the
// mail, sent off the request path, differs.
import type http from 'node:http';
import type { RequestContext } from '../http/context.js';
import { pickLocale, type Locale } from '../http/locale.js';
import { sendPage } from '../http/page.js';
import { publicOrigin } from '../http/public-url.js';
import { refuse } from '../http/refuse.js';
import type { Logger } from '../log.js';
import type { Mailer } from '../mail/mailer.js';
import { boundText } from '../store/audit-guard.js';
import { createRateLimit, type RateLimit } from '../store/rate-limit.js';
import type { AuditEventType, Store } from '../store/store.js';
import { codeMatches, hashCode, hashLinkToken, LINK_TOKEN_SHAPE, newCode, newCodeId, newLinkToken, normalizeCode } from './codes.js';
import type { GateConfig } from './config.js';
import { createCsrf, CSRF_COOKIE_SECONDS } from './csrf.js';
import { normalizeEmail, type Allowlist } from './email.js';
import { field, readForm } from './form.js';
import { receiveRule } from '../listener/deadlines.js';
import { codePage, confirmPage, linkGonePage, loginPage, logoutPage, PATHS, say, type GatePage } from './pages.js';
import { decodePending, encodePending } from './pending.js';
import { clientBucket } from '../http/client-bucket.js';
import { safeReturnTo } from './return-to.js';
import { deriveKeys, loadOrCreateSecret } from './secret.js';
import { cookieHeader, cookieNames, issueSession, readCookie, type SessionChecker } from './session.js';
import { signInMail } from './signin-mail.js';
import type { PasskeyGate } from './passkeys.js';

export interface SignInDeps {
  config: GateConfig;
  store: Store;
  mailer: Mailer;
  logger: Logger;
  sessions: SessionChecker;
  /** The running gateway's allowlist (it may change on reload). */
  allowlist: Allowlist;
  now: () => number;
  /** Present when gate.passkeys is on: the sign-in page offers them, a code sign-in offers to create one. */
  passkeys?: Pick<PasskeyGate, 'signInBlock' | 'pageHeaders' | 'afterCodeSignIn' | 'manageLink'>;
}

/** Expired codes and sessions are swept at most this often, piggybacking on sign-in traffic. */
const SWEEP_INTERVAL_MS = 10 * 60_000;

export function createSignIn(deps: SignInDeps) {
  const { config, store, mailer, logger, sessions, allowlist, now } = deps;
  const keys = deriveKeys(loadOrCreateSecret(config.dataDir));
  const names = cookieNames(config);
  const csrf = createCsrf(keys.csrf, names.csrf, config.publicScheme);
  const minutes = Math.max(1, Math.round(config.gate.codeLifetime / 60_000));
  const limits = config.gate.rateLimits;
  // Nothing here is counted per address alone: a budget someone else can use up would let them lock a person
  // out. Per address it is per (address, client); the one shared budget, wrong codes per domain, only ever
  // stops typed codes, never the mailed link (256 random bits, nothing to guess).
  const hourly = (name: string, points: number) => createRateLimit(store, name, { points, durationSeconds: 3600 }, logger);
  const limiters = {
    codeAddress: hourly('gate_code_address_client', limits.codesPerAddressPerHour),
    codeIp: hourly('gate_code_ip', limits.codesPerIpPerHour),
    verifyIp: hourly('gate_verify_ip', limits.verifiesPerIpPerHour),
    wrongDomain: hourly('gate_wrong_domain', limits.wrongCodesPerDomainPerHour),
  };
  let sweptAt = 0;

  const audit = (type: AuditEventType, ctx: RequestContext, email: string | null, detail?: string) =>
    store.audit.record({ type, at: now(), email, ip: ctx.client.ip, detail: detail ?? null });

  const sweep = (at: number) => {
    if (at - sweptAt < SWEEP_INTERVAL_MS) return;
    sweptAt = at;
    store.codes.deleteExpired(at);
    store.sessions.deleteExpired(at);
    // Rate-limit windows run on the wall clock (the limiter library keeps its own time).
    store.deleteExpiredLimits(Date.now());
  };

  /** Work done after the response went out: a failure (e.g. the store closed on shutdown) is logged, never thrown. */
  const afterResponse = (work: () => void) => {
    try {
      work();
    } catch (error) {
      logger.error({ err: error }, 'sign-in work after the response failed');
    }
  };

  /** Sends a gate page, with a CSRF cookie for its form when the browser has none yet. */
  function page(req: http.IncomingMessage, res: http.ServerResponse, status: number, build: (csrfToken: string, locale: Locale) => GatePage, extraCookies: string[] = []) {
    const locale = pickLocale(req.headers['accept-language']);
    const cookie = csrf.cookieFor(req);
    const cookies = cookie.isNew ? [cookieHeader(config, names.csrf, cookie.value, CSRF_COOKIE_SECONDS), ...extraCookies] : extraCookies;
    const built = build(csrf.tokenFor(cookie.value), locale);
    // "no-referrer" would make browsers send "Origin: null" with the form, defeating the Origin check;
    // "same-origin" still never tells another site anything.
    const headers: http.OutgoingHttpHeaders = { 'referrer-policy': 'same-origin', ...deps.passkeys?.pageHeaders };
    if (cookies.length) headers['set-cookie'] = cookies;
    sendPage(res, { status, locale, title: built.title, body: built.body, headers }, req.method);
  }

  function redirect(res: http.ServerResponse, location: string, cookies: string[] = []) {
    const headers: http.OutgoingHttpHeaders = { location, 'cache-control': 'no-store', 'content-length': 0, 'referrer-policy': 'no-referrer' };
    if (cookies.length) headers['set-cookie'] = cookies;
    res.writeHead(303, headers);
    res.end();
  }

  const loginLocation = (next: string, extra = '') => {
    const params = new URLSearchParams();
    if (next !== '/') params.set('next', next);
    if (extra) params.set(extra, '1');
    const query = params.toString();
    return query ? `${PATHS.login}?${query}` : PATHS.login;
  };

  /** Reads the form and applies the CSRF check; answers the request itself and returns null when it fails. */
  async function acceptForm(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext): Promise<URLSearchParams | null> {
    const form = await readForm(req, res, receiveRule(config.proxy.headersTimeout));
    if (!form.ok) {
      if (form.reason === 'aborted') return null;
      if (form.reason === 'too-slow') refuse(req, res, { kind: 'too-slow' }, 'private');
      else if (form.reason === 'too-large') refuse(req, res, { kind: 'too-large', limitBytes: 4096 }, 'private');
      else refuse(req, res, { kind: 'bad-request', reason: 'Expected a form submission.' }, 'private');
      return null;
    }
    const failure = csrf.check(req, ctx, field(form.fields, 'csrf', 128));
    if (failure) {
      // The path is the client's to choose (kilobytes of it still reach this handler): cut, with a short hash.
      audit('csrf.rejected', ctx, null, `${boundText(req.url?.split('?')[0] ?? '', 120)}: ${failure}`);
      refuse(req, res, { kind: 'csrf' }, 'private');
      return null;
    }
    return form.fields;
  }

  async function rateLimited(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    ctx: RequestContext,
    checks: Array<[RateLimit, string, string]>,
    email: string | null,
    useMailedLink = false,
  ): Promise<boolean> {
    for (const [limit, key, what] of checks) {
      const verdict = await limit.consume(key);
      if (verdict.ok) continue;
      if (verdict.unavailable) {
        refuse(req, res, { kind: 'store-unavailable', retryAfterSeconds: verdict.retryAfterSeconds }, 'private');
        return true;
      }
      audit('rate.limited', ctx, email, what);
      refuse(req, res, { kind: 'rate-limited', retryAfterSeconds: verdict.retryAfterSeconds, backTo: PATHS.login, useMailedLink }, 'private');
      return true;
    }
    return false;
  }

  /** Signs the person in: the code is spent, a session is minted, the browser goes where it wanted to go. */
  function signIn(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, codeId: string, email: string, returnTo: string, via: string) {
    // Only this code is spent: codes other requests for the address got stay good for their lifetime.
    store.codes.delete(codeId);
    const session = issueSession(store, config, email, { now: now(), ip: ctx.client.ip, userAgent: req.headers['user-agent'] ?? null });
    audit('session.created', ctx, email, `${via}; session ${session.id}`);
    logger.info({ email, ip: ctx.client.ip, session: session.id, via }, 'signed in');
    redirect(res, deps.passkeys ? deps.passkeys.afterCodeSignIn(returnTo) : safeReturnTo(returnTo), [session.setCookie, cookieHeader(config, names.pending, '', 0)]);
  }

  const showLogin = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => {
    const next = safeReturnTo(url.searchParams.get('next'));
    if (sessions.peek(req.headers.cookie, now())) return redirect(res, next);
    const locale = pickLocale(req.headers['accept-language']);
    const notice = url.searchParams.has('out') ? say('signedOut', locale) : url.searchParams.has('again') ? say('startAgain', locale) : undefined;
    page(req, res, 200, (token) => loginPage({ locale, csrf: token, next, notice, extra: deps.passkeys?.signInBlock(locale, token, next) }));
  };

  async function requestCode(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext) {
    const form = await acceptForm(req, res, ctx);
    if (!form) return;
    const locale = pickLocale(req.headers['accept-language']);
    const next = safeReturnTo(field(form, 'next', 2048));
    const typed = field(form, 'email', 320);
    const email = normalizeEmail(typed);
    if (!email) {
      return page(req, res, 400, (token) => loginPage({ locale, csrf: token, next, email: typed?.slice(0, 254), error: say('badEmail', locale) }));
    }
    const client = clientBucket(ctx.client.ip);
    if (
      await rateLimited(
        req,
        res,
        ctx,
        [
          [limiters.codeIp, client, 'code request per IP'],
          [limiters.codeAddress, `${email} ${client}`, 'code request per address and IP'],
        ],
        email,
      )
    )
      return;
    const at = now();
    sweep(at);
    const allowed = allowlist.allows(email);
    // A browser asking again replaces its own earlier code (the page told it to use the newest mail); no
    // other request, from anyone, replaces or spends a code.
    const previous = decodePending(keys.pending, readCookie(req.headers.cookie, names.pending), at)?.codeId;
    // The same work for both: a code and link token are made and stored; only an allowed address gets mail.
    const code = newCode();
    const linkToken = newLinkToken();
    const record = {
      id: newCodeId(),
      email,
      codeHash: hashCode(keys.code, email, code),
      linkTokenHash: hashLinkToken(keys.code, linkToken),
      createdAt: at,
      expiresAt: at + config.gate.codeLifetime,
      failedAttempts: 0,
      returnTo: next,
      locale,
    };
    audit(allowed ? 'code.requested' : 'code.refused', ctx, email, allowed ? undefined : 'not on the allowlist');
    const link = `${publicOrigin(config, config.hosts.private, ctx, req.socket.localPort)}${PATHS.link}?t=${linkToken}`;
    setImmediate(() =>
      afterResponse(() => {
        if (previous) store.codes.delete(previous);
        store.codes.put(record);
        if (!allowed) return;
        const mail = signInMail({ to: email, code, link, host: config.hosts.private, minutes, locale, codeInSubject: config.mail.codeInSubject });
        mailer.send(mail).then(
          () => afterResponse(() => audit('code.sent', ctx, email)),
          (error: Error) =>
            afterResponse(() => {
              logger.error({ err: error, email }, 'sign-in mail could not be sent');
              audit('code.send-failed', ctx, email, error.message.slice(0, 200));
            }),
        );
      }),
    );
    const pending = encodePending(keys.pending, { email, expiresAt: at + config.gate.codeLifetime, codeId: record.id });
    redirect(res, PATHS.code, [cookieHeader(config, names.pending, pending, config.gate.codeLifetime / 1000)]);
  }

  function showCode(req: http.IncomingMessage, res: http.ServerResponse) {
    const pending = decodePending(keys.pending, readCookie(req.headers.cookie, names.pending), now());
    if (!pending) return redirect(res, loginLocation('/'));
    page(req, res, 200, (token, locale) => codePage({ locale, csrf: token, email: pending.email, minutes }));
  }

  async function verifyCode(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext) {
    const form = await acceptForm(req, res, ctx);
    if (!form) return;
    const pending = decodePending(keys.pending, readCookie(req.headers.cookie, names.pending), now());
    if (!pending) return redirect(res, loginLocation('/', 'again'));
    const { email } = pending;
    if (await rateLimited(req, res, ctx, [[limiters.verifyIp, clientBucket(ctx.client.ip), 'code verify per IP']], email)) return;
    const locale = pickLocale(req.headers['accept-language']);
    const again = (status: number, error: string, dead = false) => page(req, res, status, (token) => codePage({ locale, csrf: token, email, minutes, error, dead }));
    const typed = normalizeCode(field(form, 'code', 32));
    if (!typed) return again(400, say('badCode', locale));
    const found = pending.codeId ? store.codes.get(pending.codeId) : undefined;
    const record = found?.email === email ? found : undefined;
    const at = now();
    if (!record) {
      audit('code.wrong', ctx, email, 'no pending code');
      return again(400, say('codeGone', locale), true);
    }
    if (record.expiresAt <= at) {
      store.codes.delete(record.id);
      audit('code.expired', ctx, email);
      return again(400, say('codeGone', locale), true);
    }
    // Every try against a domain's addresses counts before it is checked (so parallel guesses count too) and is
    // given back when right: invented addresses at a `*@domain` share one budget, and so do many clients.
    const domain = email.slice(email.lastIndexOf('@') + 1);
    if (await rateLimited(req, res, ctx, [[limiters.wrongDomain, domain, `wrong codes for @${domain}`]], email, true)) return;
    // A decoy code for an address not on the allowlist can never sign anyone in, even if guessed.
    if (codeMatches(keys.code, email, typed, record.codeHash) && allowlist.allows(email)) {
      await limiters.wrongDomain.reward(domain);
      return signIn(req, res, ctx, record.id, email, record.returnTo, 'code');
    }
    const failures = store.codes.recordFailure(record.id);
    if (failures >= config.gate.maxCodeAttempts) {
      store.codes.delete(record.id);
      audit('code.locked', ctx, email, `${failures} wrong tries`);
      return again(400, say('lockedOut', locale), true);
    }
    audit('code.wrong', ctx, email, `try ${failures} of ${config.gate.maxCodeAttempts}`);
    return again(400, say('wrongCode', locale));
  }

  const linkRecord = (token: string | null) => {
    if (!token || !LINK_TOKEN_SHAPE.test(token)) return undefined;
    const record = store.codes.getByLinkTokenHash(hashLinkToken(keys.code, token));
    return record && record.expiresAt > now() && allowlist.allows(record.email) ? record : undefined;
  };

  /** GET of a mailed link: only shows the confirmation button, so a scanner following it spends nothing. */
  function showConfirm(req: http.IncomingMessage, res: http.ServerResponse, url: URL) {
    const token = url.searchParams.get('t');
    const record = linkRecord(token);
    // A link opened again (it is spent) in a browser that is signed in anyway: nothing to confirm, go in.
    if (!record && sessions.peek(req.headers.cookie, now())) return redirect(res, '/');
    if (!record) return page(req, res, 404, (_t, locale) => linkGonePage({ locale }));
    page(req, res, 200, (csrfToken, locale) => confirmPage({ locale, csrf: csrfToken, token: token!, email: record.email }));
  }

  async function confirmLink(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext) {
    const form = await acceptForm(req, res, ctx);
    if (!form) return;
    if (await rateLimited(req, res, ctx, [[limiters.verifyIp, clientBucket(ctx.client.ip), 'link confirm per IP']], null)) return;
    const record = linkRecord(field(form, 't', 64));
    if (!record && sessions.peek(req.headers.cookie, now())) return redirect(res, '/');
    if (!record) {
      audit('code.expired', ctx, null, 'sign-in link expired, used or unknown');
      return page(req, res, 404, (_t, locale) => linkGonePage({ locale }));
    }
    signIn(req, res, ctx, record.id, record.email, record.returnTo, 'link');
  }

  function showLogout(req: http.IncomingMessage, res: http.ServerResponse) {
    const session = sessions.peek(req.headers.cookie, now());
    page(req, res, 200, (token, locale) => logoutPage({ locale, csrf: token, email: session?.email ?? null, extra: session ? deps.passkeys?.manageLink(locale) : undefined }));
  }

  async function logout(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext) {
    const form = await acceptForm(req, res, ctx);
    if (!form) return;
    const session = sessions.peek(req.headers.cookie, now());
    if (session) {
      store.sessions.revokeById(session.id);
      audit('session.ended', ctx, session.email, `session ${session.id}`);
      logger.info({ email: session.email, ip: ctx.client.ip, session: session.id }, 'signed out');
    }
    redirect(res, loginLocation('/', 'out'), [cookieHeader(config, names.session, '', 0)]);
  }

  return { showLogin, requestCode, showCode, verifyCode, showConfirm, confirmLink, showLogout, logout };
}
