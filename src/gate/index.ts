// The private host's gate (placeholder until the email-PIN flow lands): nothing passes without a session.
import type { HostHandler } from '../hosts/dispatch.js';
import { refuse, refuseUpgrade } from '../http/refuse.js';
import type { GatewayDeps } from '../gateway.js';

export function createGate(_deps: GatewayDeps): HostHandler {
  return {
    surface: 'private',
    handle: (req, res) => refuse(req, res, { kind: 'unauthenticated' }, 'private'),
    upgrade: (_req, socket) => refuseUpgrade(socket, 401),
  };
}
