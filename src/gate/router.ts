// The gate's own pages under /.porthole/: one table of paths, each with what a read (GET, HEAD) shows and what a
// POST does. Nothing under the prefix is ever forwarded to Immich; a path not in the table is the gate's 404, a
// method a path does not take is a 405 naming the ones it does. A new page is a list of routes handed to the
// router where the gate is assembled (index.ts), the way the sign-in flow and passkeys hand theirs.
import type http from 'node:http';
import type { RequestContext } from '../http/context.js';
import { refuse } from '../http/refuse.js';
import type { Logger } from '../log.js';
import { GATE_PREFIX } from './pages.js';

export interface GateRoute {
  /** The exact path, under GATE_PREFIX. */
  readonly path: string;
  /** Answers GET and HEAD. */
  show?(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, url: URL): void;
  /** Answers POST; a failure is logged and answered with a plain 400 if nothing was sent yet. */
  submit?(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, url: URL): Promise<void>;
}

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

const allowed = (route: GateRoute) => [route.show ? 'GET, HEAD' : '', route.submit ? 'POST' : ''].filter(Boolean).join(', ');

/** Builds the router once; a path listed twice, or outside the prefix, is a programming error caught at start. */
export function createGateRouter(routes: readonly GateRoute[], logger: Logger) {
  const table = new Map<string, GateRoute>();
  for (const route of routes) {
    if (!isReserved(route.path)) throw new Error(`gate route ${route.path} is outside ${GATE_PREFIX}`);
    if (table.has(route.path)) throw new Error(`gate route ${route.path} is listed twice`);
    table.set(route.path, route);
  }
  return (req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext): void => {
    const url = new URL(req.url!, 'http://gate.invalid');
    const route = table.get(url.pathname);
    if (!route) return refuse(req, res, { kind: 'not-found' }, 'private');
    const method = req.method ?? 'GET';
    if ((method === 'GET' || method === 'HEAD') && route.show) return route.show(req, res, ctx, url);
    if (method === 'POST' && route.submit)
      return void route.submit(req, res, ctx, url).catch((error: unknown) => {
        logger.error({ err: error, url: url.pathname }, 'gate request failed');
        if (!res.headersSent) refuse(req, res, { kind: 'bad-request', reason: 'The request could not be handled.' }, 'private');
      });
    refuse(req, res, { kind: 'method-not-allowed', allow: allowed(route) }, 'private');
  };
}
