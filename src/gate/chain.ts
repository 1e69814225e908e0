// The private host's order of checks, written once. A request and a WebSocket upgrade pass the same steps in
// the same order and get the same decision; only the answer differs by kind of exchange (index.ts: a page, a
// redirect or a forward for a request; a status line or a forwarded upgrade for an upgrade). The steps are
// built once from config and tried in order; the first that decides wins; a request none of them takes is
// turned away.
import type http from 'node:http';
import type { RequestContext } from '../http/context.js';
import type { DeviceRecord, Store } from '../store/store.js';
import { DEVICE_HEADER, type DeviceGate, type DeviceRefusal } from './devices.js';
import { isReserved } from './router.js';
import type { SessionChecker, ValidSession } from './session.js';
import { isImmichSetupRequest } from './setup.js';

export type GateDecision =
  /** The store cannot vouch for its records (a shared store that lost Redis): nothing is decided on them. */
  | { step: 'store-unavailable' }
  /** Under /.porthole/: the gate's own pages, never forwarded. */
  | { step: 'reserved' }
  /** Immich's first-admin sign-up or restore while allowImmichSetup is off: refused even when signed in. */
  | { step: 'setup' }
  /** A device header with a valid token: forwarded (the header dropped). */
  | { step: 'device'; device: DeviceRecord }
  /** A device header that does not hold: refused and counted, never ignored in favour of a cookie. */
  | { step: 'device-refused'; refusal: DeviceRefusal }
  /** A valid session cookie: forwarded (Porthole's cookies removed). */
  | { step: 'session'; session: ValidSession }
  /** No credential, a page load of a share link: it belongs on the share host. */
  | { step: 'to-share-host' }
  /** No credential, a page load: to the sign-in page, coming back here afterwards. */
  | { step: 'to-sign-in' }
  /** No credential otherwise (API calls, the app, scripts). */
  | { step: 'unauthenticated' };

export type GateStepName = 'store' | 'reserved-path' | 'immich-setup' | 'device-token' | 'session';

export interface GateStep {
  readonly name: GateStepName;
  /** The decision, or undefined to leave it to the next step. `at` is the gate's clock, read once per request. */
  decide(req: http.IncomingMessage, ctx: RequestContext, at: number): GateDecision | undefined;
}

export interface GateChainOptions {
  allowImmichSetup: boolean;
  /** The share host's name, when one is configured. */
  shareHost: string | undefined;
  devices: Pick<DeviceGate, 'check'>;
  sessions: Pick<SessionChecker, 'check'>;
  now: () => number;
  /** The store, when it can be unavailable (a shared Redis store): then every request is refused first. */
  store?: Pick<Store, 'unavailable'>;
}

export interface GateChain {
  readonly steps: readonly GateStep[];
  decide(req: http.IncomingMessage, ctx: RequestContext): GateDecision;
}

/** A top-level page load, as opposed to a script's fetch, the mobile app or a WebSocket. */
export function isNavigation(req: http.IncomingMessage): boolean {
  const mode = req.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  return (req.headers.accept ?? '').includes('text/html') && !(req.url ?? '').startsWith('/api/');
}

const isShareLink = (url: string) => url.startsWith('/share/') || url.startsWith('/s/');

/** Without a credential: page loads go where they can work, everything else is refused. */
function turnAway(req: http.IncomingMessage, shareHost: string | undefined): GateDecision {
  if ((req.method !== 'GET' && req.method !== 'HEAD') || !isNavigation(req)) return { step: 'unauthenticated' };
  return shareHost && isShareLink(req.url!) ? { step: 'to-share-host' } : { step: 'to-sign-in' };
}

export function createGateChain(options: GateChainOptions): GateChain {
  const { devices, sessions, shareHost, now } = options;
  const { store } = options;
  const steps: GateStep[] = [
    // First of all, fail closed: a mirror that may have missed a revocation decides nothing, not even the
    // sign-in pages (they write codes and sessions that could not be shared).
    ...(store?.unavailable ? [{ name: 'store', decide: () => (store.unavailable?.() ? { step: 'store-unavailable' } : undefined) } satisfies GateStep] : []),
    { name: 'reserved-path', decide: (req) => (isReserved(req.url!) ? { step: 'reserved' } : undefined) },
    // Before any credential: set-up stays shut for signed-in people too.
    ...(options.allowImmichSetup
      ? []
      : [{ name: 'immich-setup', decide: (req) => (isImmichSetupRequest(req.method, req.url) ? { step: 'setup' } : undefined) } satisfies GateStep]),
    {
      name: 'device-token',
      // The header alone decides, cookie or not: a wrong token is refused (and counted), never ignored.
      decide(req, ctx, at) {
        const value = req.headers[DEVICE_HEADER];
        if (value === undefined) return undefined;
        const verdict = devices.check(value, ctx, at);
        return verdict.ok ? { step: 'device', device: verdict.device } : { step: 'device-refused', refusal: verdict };
      },
    },
    {
      name: 'session',
      decide(req, _ctx, at) {
        const session = sessions.check(req.headers.cookie, at);
        return session ? { step: 'session', session } : undefined;
      },
    },
  ];
  return {
    steps,
    decide(req, ctx) {
      const at = now();
      for (const step of steps) {
        const decision = step.decide(req, ctx, at);
        if (decision) return decision;
      }
      return turnAway(req, shareHost);
    },
  };
}
