// The private host's gate. Every request on the private host passes here first: /.porthole/ is the gate's own
// (never forwarded), a valid session is forwarded to Immich with Porthole's cookies removed, and everything
// else is turned away: page navigations to the sign-in page (share links to the share host), API calls with
// 401 JSON, WebSocket upgrades before they happen. The session check is the hot path of every proxied request.
// The Immich mobile app shows a device token (devices.ts) in a header instead of a cookie. Open WebSockets are
// closed when the sign-in that opened them ends (live.ts).
import type http from 'node:http';
import type { GatewayDeps } from '../gateway.js';
import type { HostHandler } from '../hosts/dispatch.js';
import type { RequestContext } from '../http/context.js';
import { withoutOwnCookies } from '../http/cookies.js';
import { publicOrigin } from '../http/public-url.js';
import { refuse, refuseUpgrade } from '../http/refuse.js';
import { isImmichSetupRequest } from './setup.js';
import { forward, forwardUpgrade, type ForwardOptions } from '../proxy/forward.js';
import { createDeviceGate, DEVICE_HEADER, DEVICE_HEADERS } from './devices.js';
import { createLiveConnections } from './live.js';
import { GATE_PREFIX, PATHS } from './pages.js';
import { safeReturnTo } from './return-to.js';
import { createPasskeys } from './passkeys.js';
import { createSessionChecker } from './session.js';
import { createSignIn } from './signin.js';
import { createAdmin, type AdminSources } from '../admin/index.js';

/** Removes Porthole's cookies from a Cookie header (the pairs the gate reads), leaving Immich's untouched. */
export { withoutOwnCookies } from '../http/cookies.js';

/** Is this under the gate's reserved prefix, however the client spelled the dot? */
export function isReserved(url: string): boolean {
  const second = url.charCodeAt(1);
  if (second !== 0x2e && second !== 0x25) return false;
  const head = url
    .slice(0, 16)
    .toLowerCase()
    .replace(/^\/%2e/, '/.');
  return head === GATE_PREFIX || head.startsWith(`${GATE_PREFIX}/`) || head.startsWith(`${GATE_PREFIX}?`);
}

/** A top-level page load, as opposed to a script's fetch or the mobile app. */
function isNavigation(req: http.IncomingMessage): boolean {
  const mode = req.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  return (req.headers.accept ?? '').includes('text/html') && !(req.url ?? '').startsWith('/api/');
}

const hasBody = (req: http.IncomingMessage) =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

export function createGate(deps: GatewayDeps, adminSources: AdminSources = { admins: { isAdmin: () => false } }): HostHandler {
  const { config, store, origin } = deps;
  const now = deps.now ?? Date.now;
  const sessions = createSessionChecker(store, config, deps.allowlist);
  const passkeys = config.gate.passkeys ? createPasskeys({ config, store, logger: deps.logger, sessions, allowlist: deps.allowlist, now }) : undefined;
  const signIn = createSignIn({ config, store, mailer: deps.mailer, logger: deps.logger, sessions, allowlist: deps.allowlist, now, passkeys });
  const forwardOptions: ForwardOptions = {
    origin,
    surface: 'private',
    filterCookie: withoutOwnCookies,
    maxBodyBytes: config.proxy.maxBodySize ?? undefined,
    idleTimeoutMs: config.proxy.idleTimeout,
  };
  const shareHost = config.hosts.share;
  const devices = createDeviceGate({ config, store, allowlist: deps.allowlist, logger: deps.logger, now });
  const deviceForwardOptions: ForwardOptions = { ...forwardOptions, dropRequestHeaders: DEVICE_HEADERS };
  const live = createLiveConnections({ store, allowlist: deps.allowlist, logger: deps.logger });
  const admin = createAdmin({ ...adminSources, config, store, logger: deps.logger, sessions, now });

  function gatePage(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext): void {
    const url = new URL(req.url!, 'http://gate.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    const fail = (error: unknown) => {
      deps.logger.error({ err: error, url: path }, 'gate request failed');
      if (!res.headersSent) refuse(req, res, { kind: 'bad-request', reason: 'The request could not be handled.' }, 'private');
    };
    const route = (onGet: () => void, onPost: () => Promise<void>) => {
      if (read) return onGet();
      if (method === 'POST') return void onPost().catch(fail);
      refuse(req, res, { kind: 'method-not-allowed', allow: 'GET, HEAD, POST' }, 'private');
    };
    if (passkeys?.route(req, res, ctx, url)) return;
    // Admins only; for everyone else it answers nothing and the request ends below like any unknown path.
    if (admin.route(req, res, ctx, url)) return;
    switch (path) {
      case PATHS.login:
        return route(
          () => signIn.showLogin(req, res, url),
          () => signIn.requestCode(req, res, ctx),
        );
      case PATHS.code:
        return route(
          () => signIn.showCode(req, res),
          () => signIn.verifyCode(req, res, ctx),
        );
      case PATHS.link:
        return route(
          () => signIn.showConfirm(req, res, url),
          () => signIn.confirmLink(req, res, ctx),
        );
      case PATHS.logout:
        return route(
          () => signIn.showLogout(req, res),
          () => signIn.logout(req, res, ctx),
        );
      case GATE_PREFIX:
      case `${GATE_PREFIX}/`:
        if (read) {
          res.writeHead(303, { location: PATHS.login, 'cache-control': 'no-store', 'content-length': 0 });
          return void res.end();
        }
    }
    refuse(req, res, { kind: 'not-found' }, 'private');
  }

  function turnAway(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext): void {
    const url = req.url!;
    if ((req.method === 'GET' || req.method === 'HEAD') && isNavigation(req)) {
      // A share link opened on the private host belongs on the share host, where it works without signing in.
      if (shareHost && (url.startsWith('/share/') || url.startsWith('/s/'))) {
        res.writeHead(302, { location: `${publicOrigin(config, shareHost, ctx, req.socket.localPort)}${url}`, 'cache-control': 'no-store', 'content-length': 0 });
        return void res.end();
      }
      const next = safeReturnTo(url);
      const location = next === '/' ? PATHS.login : `${PATHS.login}?next=${encodeURIComponent(next)}`;
      res.writeHead(302, { location, 'cache-control': 'no-store', 'content-length': 0, 'referrer-policy': 'no-referrer' });
      return void res.end();
    }
    // Do not read (or wait for) an upload we are refusing.
    if (hasBody(req)) res.setHeader('connection', 'close');
    refuse(req, res, { kind: 'unauthenticated' }, 'private');
  }

  return {
    surface: 'private',
    handle(req, res, ctx) {
      if (isReserved(req.url!)) return gatePage(req, res, ctx);
      // Immich's first-admin sign-up and restore stay shut even for signed-in people, unless set-up is on.
      if (!config.allowImmichSetup && req.method !== 'GET' && req.method !== 'HEAD' && isImmichSetupRequest(req.method, req.url)) {
        if (hasBody(req)) res.setHeader('connection', 'close');
        return refuse(req, res, { kind: 'forbidden' }, 'private');
      }
      // A device header alone decides, cookie or not: a wrong token is refused (and counted), never ignored.
      const device = req.headers[DEVICE_HEADER];
      if (device !== undefined) {
        const verdict = devices.check(device, ctx, now());
        return verdict.ok ? forward(req, res, ctx, deviceForwardOptions) : devices.refuse(req, res, ctx, verdict);
      }
      const session = sessions.check(req.headers.cookie, now());
      if (!session) return turnAway(req, res, ctx);
      // Sent along with any cookies Immich sets; withheld from answers a shared cache may keep (proxy/headers.ts).
      if (session.renewedCookie) res.setHeader('set-cookie', session.renewedCookie);
      forward(req, res, ctx, forwardOptions);
    },
    upgrade(req, socket, head, ctx) {
      if (isReserved(req.url!)) return refuseUpgrade(socket, 404);
      const device = req.headers[DEVICE_HEADER];
      if (device !== undefined) {
        const verdict = devices.check(device, ctx, now());
        if (!verdict.ok) return devices.refuseUpgrade(socket, ctx, verdict);
        const { id, tokenHash, email } = verdict.device;
        live.track(socket, { kind: 'device', id, tokenHash, email });
        return forwardUpgrade(req, socket, head, ctx, deviceForwardOptions);
      }
      const session = sessions.check(req.headers.cookie, now());
      if (!session) return refuseUpgrade(socket, 401);
      // The connection lives on after this check: it is closed when the session or the address ends.
      const { id, tokenHash, email } = session.record;
      live.track(socket, { kind: 'session', id, tokenHash, email });
      forwardUpgrade(req, socket, head, ctx, forwardOptions);
    },
  };
}
