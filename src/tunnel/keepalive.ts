// HTTP/2 PING keepalive shared by both peers: a link that silently died (NAT dropped, cable pulled) never
// delivers a FIN, so only an unanswered ping notices it.
import type http2 from 'node:http2';

export interface KeepaliveOptions {
  intervalMs: number;
  timeoutMs: number;
}

export const DEFAULT_KEEPALIVE: KeepaliveOptions = { intervalMs: 15_000, timeoutMs: 10_000 };

export function startKeepalive(session: http2.Http2Session, options: KeepaliveOptions, onDead: () => void): () => void {
  let deadline: NodeJS.Timeout | undefined;
  const interval = setInterval(() => {
    if (deadline || session.destroyed) return;
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
