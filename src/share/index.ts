// The share host. Until the share policy lands, everything here is refused with the share host's single 404.
import type { HostHandler } from '../hosts/dispatch.js';
import { refuse, refuseUpgrade } from '../http/refuse.js';

export function createShareHost(): HostHandler {
  return {
    surface: 'share',
    handle: (req, res) => refuse(req, res, { kind: 'not-found' }, 'share'),
    upgrade: (_req, socket) => refuseUpgrade(socket, 404),
  };
}
