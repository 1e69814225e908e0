// What the plain HTTP port does once Porthole terminates TLS itself: answers ACME HTTP-01 challenges (for
// every certificate name, before anything else), and otherwise sends browsers to HTTPS with a 308 that keeps
// the method and path. On the HTTPS port, responses carry Strict-Transport-Security.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { HostHandler } from '../hosts/dispatch.js';
import type { RequestContext } from '../http/context.js';
import { refuse, refuseUpgrade } from '../http/refuse.js';

const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';
/** RFC 8555 section 8.3: the token is base64url. */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

type HandlerFor = (hostName: string) => HostHandler | undefined;

export interface HttpPortOptions {
  /** The hosts' own handlers (gate, share policy). */
  handlerFor: HandlerFor;
  /** Key authorization for an HTTP-01 token (from a shared store: asynchronously); absent when ACME is off or uses TLS-ALPN-01. */
  answerChallenge?: (token: string) => string | undefined | Promise<string | undefined>;
  /** Names that have a certificate from ACME (may include the tunnel's public name, which has no handler). */
  acmeNames: string[];
  /** Redirect everything else to HTTPS on this public port (443 is left out of the URL); absent: serve as before. */
  redirectToHttpsPort?: number;
}

function answerChallenge(req: http.IncomingMessage, res: http.ServerResponse, answer: HttpPortOptions['answerChallenge']): void {
  const token = req.url!.slice(CHALLENGE_PREFIX.length);
  const found = TOKEN.test(token) && (req.method === 'GET' || req.method === 'HEAD') ? answer?.(token) : undefined;
  if (found instanceof Promise) {
    found.then(
      (keyAuthorization) => sendAnswer(req, res, keyAuthorization),
      () => sendAnswer(req, res, undefined),
    );
    return;
  }
  sendAnswer(req, res, found);
}

function sendAnswer(req: http.IncomingMessage, res: http.ServerResponse, keyAuthorization: string | undefined): void {
  if (res.destroyed) return;
  if (keyAuthorization === undefined) return refuse(req, res, { kind: 'not-found' }, 'share');
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(keyAuthorization), 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : keyAuthorization);
}

export function httpPortHandlers(options: HttpPortOptions): HandlerFor {
  const acmeNames = new Set(options.acmeNames.map((n) => n.toLowerCase()));
  const redirectPort = options.redirectToHttpsPort;
  const cache = new Map<string, HostHandler | undefined>();
  const build = (hostName: string): HostHandler | undefined => {
    const inner = options.handlerFor(hostName);
    const isAcmeName = acmeNames.has(hostName);
    if (!inner && !isAcmeName) return undefined; // unknown host: the listener's 421, as before
    const redirect = redirectPort !== undefined && inner !== undefined;
    if (!isAcmeName && !redirect) return inner;
    const authority = redirectPort === undefined || redirectPort === 443 ? hostName : `${hostName}:${redirectPort}`;
    return {
      handle(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext) {
        if (isAcmeName && req.url!.startsWith(CHALLENGE_PREFIX)) return answerChallenge(req, res, options.answerChallenge);
        if (redirect) {
          res.writeHead(308, { location: `https://${authority}${req.url}`, 'content-length': 0, 'cache-control': 'no-store' });
          return void res.end();
        }
        if (inner) return inner.handle(req, res, ctx);
        refuse(req, res, { kind: 'not-found' }, 'share');
      },
      upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext) {
        if (inner && !redirect) return inner.upgrade(req, socket, head, ctx);
        refuseUpgrade(socket, 404);
      },
    };
  };
  // Only known names are remembered: a flood of made-up Host headers must not grow the map.
  return (hostName) => {
    const known = cache.get(hostName);
    if (known) return known;
    const built = build(hostName);
    if (built) cache.set(hostName, built);
    return built;
  };
}

export interface HstsOptions {
  maxAgeMs: number;
  includeSubDomains: boolean;
}

export function hstsHeader(options: HstsOptions): string {
  return `max-age=${Math.floor(options.maxAgeMs / 1000)}${options.includeSubDomains ? '; includeSubDomains' : ''}`;
}

/** Adds Strict-Transport-Security to every response on the HTTPS port (set first, so every writeHead keeps it). */
export function withHsts(handlerFor: HandlerFor, header: string): HandlerFor {
  const cache = new Map<string, HostHandler>();
  return (hostName) => {
    const known = cache.get(hostName);
    if (known) return known;
    const inner = handlerFor(hostName);
    if (!inner) return undefined;
    const wrapped: HostHandler = {
      handle(req, res, ctx) {
        res.setHeader('strict-transport-security', header);
        inner.handle(req, res, ctx);
      },
      upgrade: (req, socket, head, ctx) => inner.upgrade(req, socket, head, ctx),
    };
    cache.set(hostName, wrapped);
    return wrapped;
  };
}
