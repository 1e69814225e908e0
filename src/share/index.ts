// The share host: Immich's own share pages for anyone holding a link, and nothing else. Each request is
// normalised, matched against the policy table (policy.ts), its link looked up at Immich and checked against
// what the owner chose (password, downloads, uploads, metadata), then streamed to Immich with every foreign
// credential removed. Every refusal goes through refuse() and looks the same: one 404 (a page for browsers,
// JSON for scripts). What Immich said about a link is forgotten as soon as the store's change feed says the link
// changed (announced by `porthole links audit --apply` or the admin page, on any gateway sharing the store).
import type http from 'node:http';
import type { ResolvedConfig } from '../config/load.js';
import type { HostHandler } from '../hosts/dispatch.js';
import type { RequestContext } from '../http/context.js';
import { pickLocale } from '../http/locale.js';
import { sendPage } from '../http/page.js';
import { publicOrigin } from '../http/public-url.js';
import { createLogThrottle, type Logger } from '../log.js';
import { originRefusal, refuse, refuseUpgrade, type Refusal } from '../http/refuse.js';
import { OriginError } from '../origin/errors.js';
import { forward, type AnswerFilter, type ForwardOptions } from '../proxy/forward.js';
import { tagProxied } from '../metrics/tags.js';
import type { Origin } from '../origin/origin.js';
import type { Store } from '../store/store.js';
import { keepShareCookie, shareCookieValue } from './cookies.js';
import { checkBody, checkQuery, failedCondition, matchRoute, pathCredential, type LinkCredential, type RouteMatch } from './engine.js';
import { NO_INDEX, robotsTxt, shareHeaders } from './headers.js';
import { createLinkResolver, type LinkCacheState, type LinkState, type Lookup, type ResolverOptions } from './links.js';
import { createShareLimits } from './limits.js';
import { linkTag } from './link-tag.js';
import { decodeComponent, parseTarget, type Target } from './normalise.js';
import { DROPPED_REQUEST_HEADERS } from './policy.js';
import { createOriginalHandler, type OriginalHandler } from './original.js';
import { guestAnswers } from './guest-answers.js';
import { createLinkEvents, looseCredential, refusingRule } from './link-events.js';

const LOCKOUT_NAMES = { client: 'link and client', ip: 'ip', link: 'link' } as const;

/** The part of the config the share host reads. */
export type ShareHostConfig = Pick<ResolvedConfig, 'share' | 'hosts' | 'proxy' | 'publicScheme' | 'publicPort'>;

export interface ShareHostDeps {
  config: ShareHostConfig;
  store: Store;
  origin: Origin;
  logger: Logger;
  /** The share host's clock (link cache, brute-force delays and lockouts, cleaning plans). */
  now: () => number;
  /** Told whether each link lookup was answered from the cache (metrics). */
  onLinkCache?: ResolverOptions['onCache'];
}

export interface ShareHost extends HostHandler {
  /** Stops listening to the store's change feed; the share host holds no timers or sockets (its caches go with it). */
  close(): void;
  /** What the link cache holds, for the admin page on the private host. */
  linkCache(): LinkCacheState;
}

export function createShareHost(deps: ShareHostDeps): ShareHost {
  const { config, store, origin, now } = deps;
  const logger = deps.logger.child({ module: 'share' });
  const refusalLog = createLogThrottle();
  const shareHost = config.hosts.share ?? 'share.invalid';
  const resolver = createLinkResolver({ origin, host: shareHost, ttlMs: config.share.linkCacheTtl, now, onCache: deps.onLinkCache });
  const limits = createShareLimits(store, config.share.rateLimits, {
    logger,
    now,
    onLockout: (limit, ip, link) => store.audit.record({ type: 'share.locked', ip, detail: `password failures per ${LOCKOUT_NAMES[limit]}, link ${link}` }),
  });
  const publicLinks = new Set(config.share.publicLinks);
  const robots = robotsTxt(config.share.publicLinks);
  // Immich's answers as a guest may see them; one that cannot be checked is withheld and the log says so.
  const answerFilter: AnswerFilter = { head: guestAnswers.head, withheld: (why) => logger.warn({ why }, 'share answer withheld: it could not be checked for secrets') };
  const original: OriginalHandler = createOriginalHandler({ origin, idleTimeoutMs: config.proxy.idleTimeout, now });
  const linkEvents = createLinkEvents(store, config);
  const stopForgetting = store.changes.subscribe((change) => {
    if (change.kind !== 'link') return;
    const forgotten = resolver.forget(change.ids);
    // Counts only: the ids are link ids and hashes, but a log line has no need of them.
    logger.info({ forgotten, links: change.ids?.length ?? 'all' }, 'link cache: forgot answers about changed links');
  });

  /** Every refusal on this host: the share host's one 404 (or a visible rate limit), never indexed. */
  const refuseShare = (req: http.IncomingMessage, res: http.ServerResponse, refusal: Refusal, why?: string) => {
    // One info line per kind of refusal per minute, with how many were held back: an attack cannot flood the log.
    const kind = why ? `${refusal.kind}: ${why.replace(/(parameter|condition) \S+/, '$1').slice(0, 60)}` : refusal.kind;
    refusalLog.pass(kind, (suppressed) =>
      logger.info({ refusal: kind, method: req.method, ...(suppressed ? { alsoRefusedSinceLastLine: suppressed } : {}) }, 'share host refused a request'),
    );
    if (!res.headersSent) res.setHeader('x-robots-tag', NO_INDEX);
    refuse(req, res, refusal, 'share');
  };
  /** `credential`: the link a refused request named, for that link's record (only links Immich confirmed have one). */
  const notFound = (req: http.IncomingMessage, res: http.ServerResponse, why: string, credential?: LinkCredential, ip?: string) => {
    logger.debug({ method: req.method, why }, 'share refused');
    if (credential && ip) linkEvents.refused(credential, ip, why === 'password link not unlocked' ? 'password-required' : 'blocked-route', why.slice(0, 60));
    refuseShare(req, res, { kind: 'not-found' }, why);
  };

  function redirectToPrivateHost(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, path: string): void {
    const location = `${publicOrigin(config, config.hosts.private, ctx, req.socket.localPort)}${path}`;
    res.writeHead(302, { ...shareHeaders({ indexable: false, passwordProtected: false }), location, 'content-length': 0, 'cache-control': 'no-store' });
    res.end();
  }

  function serveSpecial(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, match: RouteMatch, target: Target): boolean {
    switch (match.rule.special) {
      case 'robots':
        res.writeHead(200, {
          ...shareHeaders({ indexable: true, passwordProtected: false }),
          'content-type': 'text/plain; charset=utf-8',
          'content-length': Buffer.byteLength(robots),
          'cache-control': 'public, max-age=3600',
        });
        res.end(req.method === 'HEAD' ? undefined : robots);
        return true;
      case 'root':
        if (config.share.root === 'not-found') notFound(req, res, 'root');
        else {
          const locale = pickLocale(req.headers['accept-language']);
          const [title, text] =
            locale === 'de' ? ['Geteilte Fotos', 'Diese Adresse öffnet nur geteilte Foto-Links.'] : ['Shared photos', 'This address only opens shared photo links.'];
          sendPage(res, { status: 200, locale, title, body: `<h1>${title}</h1><p>${text}</p>`, headers: { 'x-robots-tag': NO_INDEX } }, req.method);
        }
        return true;
      case 'to-private-host':
        redirectToPrivateHost(req, res, ctx, target.path);
        return true;
      default:
        return false;
    }
  }

  // The link path is synchronous on a cached link (the common case: every thumbnail of an open album); it
  // returns a promise only where it must wait for Immich or the store (a lookup, an unlock, a limiter).
  function handleLink(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    ctx: RequestContext,
    match: RouteMatch,
    target: Target,
    credential: LinkCredential,
  ): Promise<void> | void {
    // Say "offline" plainly (before a lookup that could only fail) when the home connector is away.
    const unavailable = origin.unavailable();
    if (unavailable) return refuseShare(req, res, { kind: 'tunnel-offline', since: unavailable.since });
    const locked = limits.unknownLocked(ctx.client.ip);
    if (!locked.ok) linkEvents.refused(credential, ctx.client.ip, 'rate-limited', 'too many unknown links from this client');
    if (!locked.ok) return refuseShare(req, res, { kind: 'rate-limited', retryAfterSeconds: locked.retryAfterSeconds });
    const found = resolver.peek(credential);
    if (found === undefined) return resolver.lookup(credential).then((looked) => withLinkState(req, res, ctx, match, target, credential, looked));
    return withLinkState(req, res, ctx, match, target, credential, found);
  }

  function withLinkState(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    ctx: RequestContext,
    match: RouteMatch,
    target: Target,
    credential: LinkCredential,
    found: Lookup,
  ): Promise<void> | void {
    if (found.kind === 'unknown') return refuseUnknownLink(req, res, ctx.client.ip, 'unknown link');
    linkEvents.learned(credential, found.kind === 'open' ? found.link : null, found);
    if (found.kind === 'password' && match.rule.password !== 'exempt') return unlockThenServe(req, res, ctx, match, target, credential);
    return serveLink(req, res, ctx, match, target, credential, found.kind === 'open' ? found.link : null, found.kind === 'password');
  }

  async function refuseUnknownLink(req: http.IncomingMessage, res: http.ServerResponse, ip: string, why: string): Promise<void> {
    const { started } = await limits.countUnknown(ip);
    if (started) store.audit.record({ type: 'share.locked', ip, detail: 'unknown-link lookups' });
    notFound(req, res, why);
  }

  async function unlockThenServe(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    ctx: RequestContext,
    match: RouteMatch,
    target: Target,
    credential: LinkCredential,
  ): Promise<void> {
    const cookie = shareCookieValue(req.headers.cookie);
    const link = cookie ? await resolver.unlock(credential, cookie) : null;
    if (link) linkEvents.learned(credential, link, link);
    if (link) return serveLink(req, res, ctx, match, target, credential, link, true);
    // A cookie Immich does not accept is a guess (the web page only calls these after /me said yes):
    // it counts like a lookup of an unknown link, so guessing tokens cannot hammer Immich either.
    if (cookie) return refuseUnknownLink(req, res, ctx.client.ip, 'password link not unlocked');
    notFound(req, res, 'password link not unlocked', credential, ctx.client.ip);
  }

  function serveLink(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    ctx: RequestContext,
    match: RouteMatch,
    target: Target,
    credential: LinkCredential,
    link: LinkState | null,
    passwordProtected: boolean,
  ): Promise<void> | void {
    const { rule } = match;
    const ip = ctx.client.ip;
    const gatewayRule = refusingRule(config.share.rules, rule, link, passwordProtected, now());
    if (gatewayRule) {
      store.audit.record({ type: 'share.refused', ip, detail: `rule ${gatewayRule}, link ${linkTag(credential)}` });
      linkEvents.refused(credential, ip, `rule:${gatewayRule}`);
      return notFound(req, res, `rule ${gatewayRule}`);
    }
    if (rule.when?.length) {
      if (!link) return notFound(req, res, 'link state unknown', credential, ip);
      const failed = failedCondition(rule.when, link, target, match, { uploadsEnabled: config.share.allowUploads });
      if (failed === 'metadataShown') {
        // A valid link holder asked for a zip we cannot clean: say so instead of a bare 404.
        linkEvents.refused(credential, ip, 'blocked-route', 'zip of a link that shows metadata');
        return refuseShare(req, res, { kind: 'unsupported-media', what: 'zip-with-location' });
      }
      if (failed) return notFound(req, res, `condition ${failed}`, credential, ip);
    }

    const indexable = !passwordProtected && link !== null && (publicLinks.has(link.key) || (link.slug !== null && publicLinks.has(link.slug)));
    const headers = shareHeaders({ indexable, passwordProtected });
    const options = {
      origin,
      surface: 'share' as const,
      dropRequestHeaders: DROPPED_REQUEST_HEADERS,
      filterCookie: keepShareCookie,
      idleTimeoutMs: config.proxy.idleTimeout,
      maxBodyBytes: rule.body?.type === 'multipart' ? config.share.maxUploadSize : (rule.body?.maxBytes ?? 0),
      responseHeaders: headers,
      answerFilter,
    };
    if (rule.special === 'login') return loginThenForward(req, res, ctx, credential, options);
    linkEvents.served(req, res, rule, credential, ip, match.groups.uuid);
    if (rule.special === 'clean-media' && link && !link.showMetadata) {
      res.setHeader('x-robots-tag', NO_INDEX);
      tagProxied(res);
      return original.serve(req, res, ctx, { assetId: match.groups.uuid!, responseHeaders: headers, cookie: shareCookieValue(req.headers.cookie) });
    }
    forward(req, res, ctx, options);
  }

  async function loginThenForward(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, credential: LinkCredential, options: ForwardOptions): Promise<void> {
    const ip = ctx.client.ip;
    const verdict = await limits.passwordAttempt(ip, credential);
    if (!verdict.ok) {
      logger.debug({ limit: verdict.limit }, 'share password attempt refused');
      if (verdict.limit === 'unavailable') return refuseShare(req, res, { kind: 'store-unavailable', retryAfterSeconds: verdict.retryAfterSeconds });
      linkEvents.refused(credential, ip, 'rate-limited', `password attempts (${verdict.limit})`);
      return refuseShare(req, res, { kind: 'rate-limited', retryAfterSeconds: verdict.retryAfterSeconds, subject: 'password' });
    }
    // Settled once, however the exchange ends. A status that went out counts even if the client hung up before
    // the body: the status alone tells a guess apart. No status sent says nothing about the password.
    res.on('close', () => {
      const status = res.headersSent ? res.statusCode : 0;
      if (status >= 200 && status < 300) {
        verdict.settle('right');
        linkEvents.unlocked(credential, ip);
      } else if (status === 401) {
        verdict.settle('wrong');
        linkEvents.refused(credential, ip, 'wrong-password');
        store.audit.record({ type: 'share.password-wrong', ip, detail: `link ${linkTag(credential)}` });
      } else verdict.settle('other');
    });
    forward(req, res, ctx, options);
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext): Promise<void> | void {
    const parsed = parseTarget(req.url);
    if (!parsed.ok) return notFound(req, res, parsed.reason);
    const { target } = parsed;
    const match = matchRoute(req.method ?? '', target.path);
    if (!match) return notFound(req, res, 'no policy row', looseCredential(target), ctx.client.ip);
    const query = checkQuery(match.rule, target);
    if (!query.ok) return notFound(req, res, query.reason, looseCredential(target), ctx.client.ip);
    const body = checkBody(match.rule, req.headers);
    if (!body.ok) return notFound(req, res, body.reason, looseCredential(target), ctx.client.ip);
    if (serveSpecial(req, res, ctx, match, target)) return;

    const credential = match.rule.link === 'path' ? pathCredential(match, (raw) => decodeComponent(raw, false)) : match.rule.link === 'query' ? query.credential : undefined;
    if (match.rule.link !== 'none') {
      if (!credential) return notFound(req, res, 'malformed link credential');
      return handleLink(req, res, ctx, match, target, credential);
    }
    forward(req, res, ctx, {
      origin,
      surface: 'share',
      dropRequestHeaders: DROPPED_REQUEST_HEADERS,
      filterCookie: () => undefined,
      idleTimeoutMs: config.proxy.idleTimeout,
      maxBodyBytes: 0,
      responseHeaders: shareHeaders({ indexable: publicLinks.size > 0 && match.rule.id === 'web-app', passwordProtected: false }),
      answerFilter,
    });
  }

  const failed = (req: http.IncomingMessage, res: http.ServerResponse, error: unknown) => {
    const refusal: Refusal = error instanceof OriginError ? originRefusal(error, origin.describe()) : { kind: 'not-found' };
    if (!(error instanceof OriginError)) logger.error({ err: error }, 'share handler failed');
    refuseShare(req, res, refusal);
  };

  return {
    handle(req, res, ctx) {
      try {
        const waiting = handle(req, res, ctx);
        if (waiting) waiting.catch((error: unknown) => failed(req, res, error));
      } catch (error) {
        failed(req, res, error);
      }
    },
    upgrade: (_req, socket) => refuseUpgrade(socket, 404),
    close: stopForgetting,
    linkCache: () => resolver.state(),
  };
}
