// The admin page's routes under the gate's reserved prefix, on the private host only: GET /.porthole/admin (the
// page, with event filters in the query), POST /.porthole/admin/revoke and POST /.porthole/admin/forget-links
// (one action each, CSRF-checked, audited).
// Only a signed-in session whose address is in gate.admins gets here. Everyone else, signed in or not, whatever
// the method, is not answered here at all: route() returns false and the gate gives its answer for any unknown
// path under the prefix, byte for byte, so the page's existence is not visible to them.
import type http from 'node:http';
import type { GateConfig } from '../gate/config.js';
import { createCsrf, CSRF_COOKIE_SECONDS } from '../gate/csrf.js';
import { field, readForm } from '../gate/form.js';
import { deriveKeys, loadOrCreateSecret } from '../gate/secret.js';
import { cookieHeader, cookieNames, type SessionChecker } from '../gate/session.js';
import type { RequestContext } from '../http/context.js';
import { pickLocale } from '../http/locale.js';
import { sendPage } from '../http/page.js';
import { refuse } from '../http/refuse.js';
import { receiveRule } from '../listener/deadlines.js';
import type { Logger } from '../log.js';
import type { LinkCacheState } from '../share/links.js';
import { boundText } from '../store/audit-guard.js';
import type { SessionRecord, Store } from '../store/store.js';
import type { TunnelStatus } from '../tunnel/status.js';
import { forgetLinks, parseForget, parseRevoke, revoke, type AdminTunnel } from './actions.js';
import type { AdminList } from './admins.js';
import { parseQuery, readEvents } from './filters.js';
import { ADMIN_PATHS, ADMIN_STYLE, adminPage, type LinkRecordView } from './pages.js';

export { ADMIN_PATHS } from './pages.js';
export { LiveAdmins, type AdminList } from './admins.js';

/** What the admin page reads beyond the store; each part is absent when that part of the gateway is off. */
export interface AdminSources {
  admins: AdminList;
  /**
   * The tunnel's hub and tokens (tunnel.enabled): this gateway's live status (with its id among gateways sharing
   * the store), and through `others` what every other gateway on the store last shared.
   */
  tunnel?: AdminTunnel & { status(): TunnelStatus };
  /** The share host's link cache (hosts.share). */
  linkCache?: () => LinkCacheState;
  /**
   * A share link's record (views, unlocks, downloads, uploads, refusals) by its key, slug, Immich id or URL, from
   * the store of per-link records; the page has a section to look one up when this is set. Wired in gateway.ts.
   */
  linkRecord?: (keyOrSlug: string) => LinkRecordView | undefined;
}

export interface AdminDeps extends AdminSources {
  config: GateConfig;
  store: Store;
  logger: Logger;
  sessions: SessionChecker;
  now: () => number;
}

export interface AdminRoutes {
  /** Answers the request and returns true when it is an admin's request for the admin page; else touches nothing. */
  route(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, url: URL): boolean;
}

/** Where each action's section is on the page, to land there again afterwards. */
const SECTION = { session: 'sessions', device: 'devices', passkey: 'passkeys', 'tunnel-token': 'tunnel' } as const;

export function createAdmin(deps: AdminDeps): AdminRoutes {
  const { config, store, logger } = deps;
  const keys = deriveKeys(loadOrCreateSecret(config.dataDir));
  const names = cookieNames(config);
  const csrf = createCsrf(keys.csrf, names.csrf, config.publicScheme);

  const adminSession = (req: http.IncomingMessage): SessionRecord | undefined => {
    // peek, not check: looking does not renew the session (no Set-Cookie that a non-admin's answer would lack).
    const session = deps.sessions.peek(req.headers.cookie, deps.now());
    return session && deps.admins.isAdmin(session.email) ? session : undefined;
  };

  function show(req: http.IncomingMessage, res: http.ServerResponse, session: SessionRecord) {
    const rawUrl = req.url ?? '';
    const at = rawUrl.indexOf('?');
    const query = parseQuery(at < 0 ? '' : rawUrl.slice(at + 1));
    if (!query.ok) return refuse(req, res, { kind: 'bad-request', reason: query.reason }, 'private');
    const locale = pickLocale(req.headers['accept-language']);
    const cookie = csrf.cookieFor(req);
    const now = deps.now();
    const { events, hasMore } = readEvents(store.audit, query.filter);
    let others: TunnelStatus[] = [];
    let othersUnknown = false;
    try {
      others = deps.tunnel?.others?.() ?? [];
    } catch (error) {
      // The page still shows this gateway's own connectors, and says the others could not be read.
      othersUnknown = true;
      logger.warn({ err: (error as Error).message }, 'admin page: the other gateways’ connectors could not be read from the store');
    }
    const built = adminPage({
      locale,
      csrf: csrf.tokenFor(cookie.value),
      admin: session.email,
      currentSessionId: session.id,
      now,
      notice: query.notice,
      sessions: store.sessions.list(now),
      devices: store.devices.list(),
      passkeys: store.passkeys.list(),
      tunnel: deps.tunnel && { status: deps.tunnel.status(), others, othersUnknown, tokens: deps.tunnel.tokens.list() },
      filter: query.filter,
      events,
      moreEvents: hasMore,
      linkCache: deps.linkCache?.(),
      linkRecords: deps.linkRecord !== undefined,
      linkRecord: deps.linkRecord && query.filter.link ? (deps.linkRecord(query.filter.link) ?? null) : undefined,
    });
    // "same-origin", not "no-referrer": browsers would send "Origin: null" with the forms, failing the Origin check.
    const headers: http.OutgoingHttpHeaders = { 'referrer-policy': 'same-origin' };
    if (cookie.isNew) headers['set-cookie'] = cookieHeader(config, names.csrf, cookie.value, CSRF_COOKIE_SECONDS);
    sendPage(res, { status: 200, locale, title: built.title, body: built.body, headers, extraStyle: ADMIN_STYLE }, req.method);
  }

  async function act(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, session: SessionRecord, path: string) {
    const form = await readForm(req, res, receiveRule(config.proxy.headersTimeout));
    if (!form.ok) {
      if (form.reason === 'aborted') return;
      if (form.reason === 'too-slow') return refuse(req, res, { kind: 'too-slow' }, 'private');
      if (form.reason === 'too-large') return refuse(req, res, { kind: 'too-large', limitBytes: 4096 }, 'private');
      return refuse(req, res, { kind: 'bad-request', reason: 'Expected a form submission.' }, 'private');
    }
    const failure = csrf.check(req, ctx, field(form.fields, 'csrf', 128));
    if (failure) {
      store.audit.record({ type: 'csrf.rejected', at: deps.now(), email: session.email, ip: ctx.client.ip, detail: `${path}: ${failure}` });
      return refuse(req, res, { kind: 'csrf' }, 'private');
    }
    const context = { store, tunnel: deps.tunnel, actor: session.email, ip: ctx.client.ip, now: deps.now() };
    if (path === ADMIN_PATHS.forget) {
      const request = parseForget(form.fields.getAll('link'));
      if (!request) return refuse(req, res, { kind: 'bad-request', reason: 'Expected which link to forget: a name from the link cache table, or none for every link.' }, 'private');
      forgetLinks(request, context);
      logger.info({ admin: session.email, link: request.link ?? 'all' }, 'admin page: forget cached link answers');
      return seeOther(res, `${ADMIN_PATHS.page}?done=link-cache#link-cache`);
    }
    const request = parseRevoke(field(form.fields, 'kind', 16), field(form.fields, 'id', 32));
    if (!request) return refuse(req, res, { kind: 'bad-request', reason: 'Expected what to revoke: kind (session, device, passkey or tunnel-token) and its id.' }, 'private');
    const done = revoke(request, context);
    logger.info({ admin: session.email, kind: request.kind, id: request.id, done }, 'admin page: revoke');
    seeOther(res, `${ADMIN_PATHS.page}?done=${done ? request.kind : 'gone'}#${SECTION[request.kind]}`);
  }

  function seeOther(res: http.ServerResponse, location: string): void {
    res.writeHead(303, { location, 'cache-control': 'no-store', 'content-length': 0, 'referrer-policy': 'no-referrer' });
    res.end();
  }

  return {
    route(req, res, ctx, url) {
      const path = url.pathname;
      if (path !== ADMIN_PATHS.page && path !== ADMIN_PATHS.revoke && path !== ADMIN_PATHS.forget) return false;
      const session = adminSession(req);
      if (!session) return false;
      const method = req.method ?? 'GET';
      if (path === ADMIN_PATHS.page) {
        if (method === 'GET' || method === 'HEAD') show(req, res, session);
        else refuse(req, res, { kind: 'method-not-allowed', allow: 'GET, HEAD' }, 'private');
        return true;
      }
      if (method !== 'POST') {
        refuse(req, res, { kind: 'method-not-allowed', allow: 'POST' }, 'private');
        return true;
      }
      act(req, res, ctx, session, path).catch((error: unknown) => {
        logger.error({ err: error, url: boundText(path, 120) }, 'admin action failed');
        if (!res.headersSent) refuse(req, res, { kind: 'bad-request', reason: 'The request could not be handled.' }, 'private');
      });
      return true;
    },
  };
}
