// HTTP/2 PING keepalive shared by both peers: a link that silently died (NAT dropped, cable pulled) never
// delivers a FIN, so only an unanswered ping notices it. Measured here: even a peer process killed outright
// (kernel closes its socket) is often not noticed by a session that has nothing to send, so the ping
// timeout is also what bounds how long a dead connector's in-flight requests hang.
import type http2 from 'node:http2';

export interface KeepaliveOptions {
  intervalMs: number;
  timeoutMs: number;
}

export const DEFAULT_KEEPALIVE: KeepaliveOptions = { intervalMs: 5_000, timeoutMs: 5_000 };

export function startKeepalive(session: http2.Http2Session, options: KeepaliveOptions, onDead: () => void): () => void {
  let deadline: NodeJS.Timeout | undefined;
  const interval = setInterval(() => {
    if (session.destroyed) {
      // Its owner stops this on the session's 'close'; one that ended without a word is reported dead, once.
      clearInterval(interval);
      return onDead();
    }
    if (deadline) return;
    deadline = setTimeout(onDead, options.timeoutMs);
    deadline.unref();
    try {
      session.ping((err) => {
        clearTimeout(deadline);
        deadline = undefined;
        if (err && !session.destroyed) onDead();
      });
    } catch {
      onDead();
    }
  }, options.intervalMs);
  interval.unref();
  return () => {
    clearInterval(interval);
    clearTimeout(deadline);
  };
}
