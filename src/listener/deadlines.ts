// Deadlines for what a client sends before Porthole has an answer to give: request heads, what is left of a
// request body after the answer went out, and the gate's small form bodies. One rule for all of them — a grace
// period, then a minimum average rate, and a hard cap — checked by one function that any transport can use
// (HTTP/1.1 sockets here; HTTP/2 streams can watch the same way). Node's own headersTimeout is not relied on:
// its checker only runs on servers that called listen(), which the HTTPS port's HTTP server never does, and
// it half-closes instead of freeing the socket.
import type http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';

export interface ProgressRule {
  /** Nothing is demanded before this (a head normally arrives in one packet; a slow link needs a moment). */
  graceMs: number;
  /** After the grace period, at least this many bytes per second on average since the start. */
  minBytesPerSecond: number;
  /** Done by then whatever the rate. */
  maxMs: number;
}

/** Grace before the minimum rate applies. Also how long an idle connection may wait before its first byte. */
export const RECEIVE_GRACE_MS = 5_000;
/** Below this a head (or a gate form) is being trickled, not sent: real clients send either in one go. */
export const RECEIVE_MIN_BYTES_PER_SECOND = 512;

/** The rule for request heads and gate forms, given the configured proxy.headersTimeout (the hard cap). */
export function receiveRule(headersTimeoutMs: number): ProgressRule {
  return { graceMs: Math.min(RECEIVE_GRACE_MS, headersTimeoutMs), minBytesPerSecond: RECEIVE_MIN_BYTES_PER_SECOND, maxMs: headersTimeoutMs };
}

export function isOverdue(rule: ProgressRule, elapsedMs: number, bytes: number): boolean {
  if (elapsedMs >= rule.maxMs) return true;
  if (elapsedMs <= rule.graceMs) return false;
  return bytes < (rule.minBytesPerSecond * (elapsedMs - rule.graceMs)) / 1000;
}

/** Earliest elapsed time at which `bytes` received so far would break the rule. */
function nextCheckAt(rule: ProgressRule, bytes: number): number {
  const byRate = rule.graceMs + ((bytes + 1) * 1000) / rule.minBytesPerSecond;
  return Math.min(rule.maxMs, byRate);
}

/**
 * Calls onOverdue once if `bytesSoFar()` falls behind the rule. Wakes only when the rule could first be broken
 * by what has arrived, so a fast transfer costs a handful of timer callbacks. Returns a stop function.
 */
export function watchProgress(rule: ProgressRule, bytesSoFar: () => number, onOverdue: () => void, now: () => number = Date.now): () => void {
  const start = now();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const check = () => {
    if (stopped) return;
    const elapsed = now() - start;
    const bytes = bytesSoFar();
    if (isOverdue(rule, elapsed, bytes)) {
      stopped = true;
      onOverdue();
      return;
    }
    timer = setTimeout(check, Math.max(10, nextCheckAt(rule, bytes) - elapsed + 1));
    timer.unref();
  };
  timer = setTimeout(check, Math.max(10, nextCheckAt(rule, 0) + 1));
  timer.unref();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * Ends a connection with a bare status line when nothing else is on the wire, and really closes it: a
 * half-close would leave the socket held until the client decides to close its side.
 */
export function closeWithStatus(socket: Duplex, statusLine: string | null): void {
  if (socket.destroyed) return;
  if (!statusLine || !socket.writable) return void socket.destroy();
  const force = setTimeout(() => socket.destroy(), 1000);
  force.unref();
  socket.once('close', () => clearTimeout(force));
  socket.end(`HTTP/1.1 ${statusLine}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
}

interface SocketState {
  /** Requests whose head arrived and whose answer has not finished. */
  inFlight: number;
  stop: (() => void) | null;
  upgraded: boolean;
}

/**
 * Enforces the receive rule on every HTTP/1.1 connection of `server` (plain sockets or TLS sockets emitted
 * into it): from accept, and again after each answer, until the next head has fully arrived. While an answer
 * is being worked on nothing is demanded here (uploads are bounded by the idle timeout only); a body that is
 * still arriving after its answer went out is only being discarded, so it gets the same rule as a head.
 */
export function enforceReceiveDeadlines(server: http.Server, rule: ProgressRule): void {
  const states = new WeakMap<Duplex, SocketState>();

  const bytesRead = (socket: net.Socket) => socket.bytesRead ?? 0;

  const watch = (socket: net.Socket, state: SocketState, answered: boolean) => {
    state.stop?.();
    const base = bytesRead(socket);
    state.stop = watchProgress(
      rule,
      () => bytesRead(socket) - base,
      () => {
        state.stop = null;
        // 408 only where no answer is on the wire (it would land inside that one's body) and a head had begun:
        // an idle kept-alive connection is closed silently, as its keep-alive timeout would, so a client that
        // sends its next request at that very moment sees a reset it retries, not an answer it believes.
        const begun = bytesRead(socket) > base;
        closeWithStatus(socket, answered || state.inFlight > 0 || !begun ? null : '408 Request Timeout');
      },
    );
  };

  server.on('connection', (socket: net.Socket) => {
    if (socket.destroyed) return;
    const state: SocketState = { inFlight: 0, stop: null, upgraded: false };
    states.set(socket, state);
    watch(socket, state, false);
    socket.once('close', () => {
      state.stop?.();
      state.stop = null;
    });
  });

  const onHead = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    const state = states.get(socket);
    if (!state) return;
    state.inFlight++;
    state.stop?.();
    state.stop = null;
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      state.inFlight--;
      if (state.inFlight > 0 || state.upgraded || socket.destroyed) return;
      if (req.complete) return watch(socket, state, false);
      // The answer is out but the body is still coming: whatever remains is discarded (or, rarely, still
      // forwarded), and either way is not worth holding a connection for at a trickle.
      watch(socket, state, true);
      req.once('end', () => {
        if (state.inFlight === 0 && !socket.destroyed) watch(socket, state, false);
      });
    };
    res.once('finish', finished);
    res.once('close', finished);
  };
  server.on('request', onHead);
  server.on('checkContinue', onHead);
  server.on('checkExpectation', onHead);
  server.on('upgrade', (req: http.IncomingMessage) => {
    const state = states.get(req.socket);
    if (!state) return;
    // Leaves HTTP: an upgraded connection is the handler's (and the idle timeout's) business.
    state.upgraded = true;
    state.stop?.();
    state.stop = null;
  });
}
