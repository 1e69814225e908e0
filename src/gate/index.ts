// The private host's gate. Every request on the private host passes here first and is decided by one chain of
// checks (chain.ts) shared by requests and WebSocket upgrades: /.porthole/ is the gate's own (router.ts, never
// forwarded), a valid session or device token is forwarded to Immich with Porthole's credentials removed, and
// everything else is turned away: page navigations to the sign-in page (share links to the share host), API
// calls with 401 JSON, WebSocket upgrades before they happen. The session check is the hot path of every
// proxied request. Open WebSockets are closed when the sign-in that opened them ends (live.ts).
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { HostHandler } from '../hosts/dispatch.js';
import type { RequestContext } from '../http/context.js';
import { withoutOwnCookies } from '../http/cookies.js';
import { publicOrigin } from '../http/public-url.js';
import { refuse, refuseUpgrade } from '../http/refuse.js';
import type { Logger } from '../log.js';
import type { Mailer } from '../mail/mailer.js';
import type { Origin } from '../origin/origin.js';
import { forward, forwardUpgrade, type ForwardOptions } from '../proxy/forward.js';
import type { Store } from '../store/store.js';
import { createGateChain, type GateDecision } from './chain.js';
import { UNAVAILABLE_RETRY_SECONDS } from '../store/rate-limit.js';
import type { GateConfig } from './config.js';
import { createDeviceGate, DEVICE_HEADER, DEVICE_HEADERS, UNKNOWN_DEVICE_TOKEN } from './devices.js';
import type { Allowlist } from './email.js';
import { createLiveConnections } from './live.js';
import { GATE_PREFIX, PATHS } from './pages.js';
import { createPasskeys } from './passkeys.js';
import { safeReturnTo } from './return-to.js';
import { createGateRouter, type GateRoute } from './router.js';
import { cookieNames, createSessionChecker, readCookie, SESSION_TOKEN_LENGTH } from './session.js';
import { createSignIn } from './signin.js';
import { createAdmin, type AdminSources } from '../admin/index.js';

export interface GateDeps {
  config: GateConfig;
  store: Store;
  mailer: Mailer;
  origin: Origin;
  logger: Logger;
  /** Who may sign in; the gateway replaces it in place on reload. */
  allowlist: Allowlist;
  /** The gate's clock (codes, sessions, devices, passkeys); tests move it instead of sleeping. */
  now: () => number;
  /** What the admin page shows beyond the store; without it nobody is an admin. */
  admin?: AdminSources;
}

export interface Gate extends HostHandler {
  /** Stops watching open WebSockets and closes them, and stops following the store's changes: the gateway is going away. */
  close(): void;
}

const hasBody = (req: http.IncomingMessage) =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

/** A redirect that is never cached and never tells the next site where the visitor came from. */
function redirect(res: http.ServerResponse, status: number, location: string): void {
  res.writeHead(status, { location, 'cache-control': 'no-store', 'content-length': 0, 'referrer-policy': 'no-referrer' });
  res.end();
}

export function createGate(deps: GateDeps): Gate {
  const { config, store, origin, logger, allowlist, now } = deps;
  const sessions = createSessionChecker(store, config, allowlist);
  const passkeys = config.gate.passkeys ? createPasskeys({ config, store, sessions, allowlist, logger, now }) : undefined;
  const signIn = createSignIn({ config, store, mailer: deps.mailer, logger, sessions, allowlist, now, passkeys });
  const devices = createDeviceGate({ config, store, allowlist, logger, now });
  const live = createLiveConnections({ store, allowlist, logger });
  const chain = createGateChain({ allowImmichSetup: config.allowImmichSetup, shareHost: config.hosts.share, devices, sessions, now, store });
  const names = cookieNames(config);
  /**
   * A credential about to be turned away may be one another gateway made a moment ago that this one's mirror
   * has not received yet (a shared store): wait until the mirror has caught up with Redis, then decide again.
   */
  const mayBeUnseen = (req: http.IncomingMessage, decision: GateDecision): boolean =>
    store.catchUp !== undefined &&
    (decision.step === 'to-sign-in' ||
      decision.step === 'unauthenticated' ||
      decision.step === 'to-share-host' ||
      (decision.step === 'device-refused' && decision.refusal.reason === UNKNOWN_DEVICE_TOKEN)) &&
    (req.headers[DEVICE_HEADER] !== undefined || readCookie(req.headers.cookie, names.session)?.length === SESSION_TOKEN_LENGTH);
  const decideCaughtUp = (req: http.IncomingMessage, ctx: RequestContext, answer: (decision: GateDecision) => void): void => {
    const decision = chain.decide(req, ctx);
    if (!mayBeUnseen(req, decision)) return answer(decision);
    store.catchUp!().then(
      () => answer(chain.decide(req, ctx)),
      () => answer(decision),
    );
  };
  const admin = createAdmin({ admins: { isAdmin: () => false }, ...deps.admin, config, store, logger, sessions, now });
  const forwardOptions: ForwardOptions = {
    origin,
    surface: 'private',
    filterCookie: withoutOwnCookies,
    maxBodyBytes: config.proxy.maxBodySize ?? undefined,
    idleTimeoutMs: config.proxy.idleTimeout,
  };
  const deviceForwardOptions: ForwardOptions = { ...forwardOptions, dropRequestHeaders: DEVICE_HEADERS };

  // Every page under /.porthole/. A new page adds its routes here.
  const toLogin = (_req: http.IncomingMessage, res: http.ServerResponse) => redirect(res, 303, PATHS.login);
  const routes: GateRoute[] = [
    { path: PATHS.login, show: (req, res, _ctx, url) => signIn.showLogin(req, res, url), submit: (req, res, ctx) => signIn.requestCode(req, res, ctx) },
    { path: PATHS.code, show: (req, res) => signIn.showCode(req, res), submit: (req, res, ctx) => signIn.verifyCode(req, res, ctx) },
    { path: PATHS.link, show: (req, res, _ctx, url) => signIn.showConfirm(req, res, url), submit: (req, res, ctx) => signIn.confirmLink(req, res, ctx) },
    { path: PATHS.logout, show: (req, res) => signIn.showLogout(req, res), submit: (req, res, ctx) => signIn.logout(req, res, ctx) },
    { path: GATE_PREFIX, show: toLogin },
    { path: `${GATE_PREFIX}/`, show: toLogin },
    ...(passkeys?.routes ?? []),
  ];
  const router = createGateRouter(routes, logger);
  const gatePage = (req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext): void => {
    // Outside the route table: for anyone but an admin it answers nothing, and the router then gives the 404 of
    // any unknown path (a table row would answer a non-admin's POST with a 405 and so tell that the page exists).
    if (admin.route(req, res, ctx, new URL(req.url!, 'http://gate.invalid'))) return;
    router(req, res, ctx);
  };

  function handle(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext): void {
    decideCaughtUp(req, ctx, (decision) => answerRequest(req, res, ctx, decision));
  }

  function answerRequest(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, decision: GateDecision): void {
    switch (decision.step) {
      case 'store-unavailable':
        if (hasBody(req)) res.setHeader('connection', 'close');
        return refuse(req, res, { kind: 'store-unavailable', retryAfterSeconds: UNAVAILABLE_RETRY_SECONDS }, 'private');
      case 'reserved':
        return gatePage(req, res, ctx);
      case 'setup':
        if (hasBody(req)) res.setHeader('connection', 'close');
        return refuse(req, res, { kind: 'forbidden' }, 'private');
      case 'device':
        return forward(req, res, ctx, deviceForwardOptions);
      case 'device-refused':
        return devices.refuse(req, res, ctx, decision.refusal);
      case 'session':
        // Sent along with any cookies Immich sets; withheld from answers a shared cache may keep (proxy/headers.ts).
        if (decision.session.renewedCookie) res.setHeader('set-cookie', decision.session.renewedCookie);
        return forward(req, res, ctx, forwardOptions);
      case 'to-share-host':
        return redirect(res, 302, `${publicOrigin(config, config.hosts.share!, ctx, req.socket.localPort)}${req.url}`);
      case 'to-sign-in': {
        const next = safeReturnTo(req.url!);
        return redirect(res, 302, next === '/' ? PATHS.login : `${PATHS.login}?next=${encodeURIComponent(next)}`);
      }
      case 'unauthenticated':
        // Do not read (or wait for) an upload we are refusing.
        if (hasBody(req)) res.setHeader('connection', 'close');
        return refuse(req, res, { kind: 'unauthenticated' }, 'private');
      default:
        return unreachable(decision);
    }
  }

  function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext): void {
    decideCaughtUp(req, ctx, (decision) => answerUpgrade(req, socket, head, ctx, decision));
  }

  function answerUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext, decision: GateDecision): void {
    switch (decision.step) {
      case 'store-unavailable':
        return refuseUpgrade(socket, 503, UNAVAILABLE_RETRY_SECONDS);
      case 'reserved':
        return refuseUpgrade(socket, 404);
      case 'setup':
        return refuseUpgrade(socket, 403);
      case 'device': {
        // The connection lives on after this check: it is closed when the device or the address ends.
        const { id, tokenHash, email } = decision.device;
        live.track(socket, { kind: 'device', id, tokenHash, email });
        return forwardUpgrade(req, socket, head, ctx, deviceForwardOptions);
      }
      case 'device-refused':
        return devices.refuseUpgrade(socket, ctx, decision.refusal);
      case 'session': {
        // The connection lives on after this check: it is closed when the session or the address ends.
        const { id, tokenHash, email } = decision.session.record;
        live.track(socket, { kind: 'session', id, tokenHash, email });
        return forwardUpgrade(req, socket, head, ctx, forwardOptions);
      }
      case 'to-share-host':
      case 'to-sign-in':
      case 'unauthenticated':
        // A WebSocket cannot follow a redirect: every way of turning it away is the same 401.
        return refuseUpgrade(socket, 401);
      default:
        return unreachable(decision);
    }
  }

  return {
    handle,
    upgrade,
    close() {
      live.close();
      sessions.close();
      devices.close();
    },
  };
}

/** A decision added to chain.ts but not answered here fails the type check. */
function unreachable(decision: never): never {
  throw new Error(`unanswered gate decision ${JSON.stringify(decision)}`);
}
