// How wide the receive window of each origin stream to one connector is, decided from how many of them are
// busy. What the gateway holds in memory for downloads is its stream window times the streams with answers
// nobody has read yet: Node hands the connection-level window back as soon as a DATA frame arrives
// (protocol.ts), so only stream windows bound it. One stream alone needs a wide window to fill a long link
// (8 MiB: about 400 MB/s at 20 ms RTT); eight at once need an eighth each, and with 8 MiB apiece eight
// downloads from a fast home link parked 64 MiB at the gateway. HTTP/2 has one initial stream window per
// session (SETTINGS_INITIAL_WINDOW_SIZE), and a new value applies to every open stream at once (RFC 9113,
// 6.9.2), so the window narrows as streams get busy and widens as they finish.
//
// A stream is busy from its opening to its close, except while the origin pool keeps it idle between
// exchanges, and once it carries a WebSocket (every open Immich tab or app holds one; they carry little). Narrowing is announced at once, before the new stream's request goes out (nghttp2 sends SETTINGS
// ahead of new streams). Widening waits a moment and takes the count as it is then, so requests starting and
// ending around a step do not send a SETTINGS frame each (every one is answered, and walks every open stream).
import type http2 from 'node:http2';
import { STREAM_WINDOW } from './protocol.js';

/** What the busy streams of one connector may hold between them, unless each is already at the narrowest window. */
export const RECEIVE_BUDGET = 2 * STREAM_WINDOW;
/** The narrowest window: a thumbnail-sized answer still arrives in one round trip. */
export const MIN_STREAM_WINDOW = 256 * 1024;
/** How long a wider window waits before it is announced (the count is taken again then). */
export const WIDEN_AFTER_MS = 250;
/** SETTINGS frames awaiting the peer's acknowledgement at once (Node refuses an eleventh). */
const MAX_UNACKNOWLEDGED = 4;

/** The widest power-of-two step from STREAM_WINDOW down to MIN_STREAM_WINDOW that keeps `busy` streams within the budget. */
export function windowFor(busy: number): number {
  let window = STREAM_WINDOW;
  while (window > MIN_STREAM_WINDOW && window * busy > RECEIVE_BUDGET) window /= 2;
  return window;
}

export interface ReceiveWindows {
  /** Counts a stream just opened as busy until it closes (or is marked idle). */
  track(stream: http2.Http2Stream): void;
  /** The stream carries no answer (parked by the origin pool, or a WebSocket) or carries one again (false). */
  setIdle(stream: http2.Http2Stream, idle: boolean): void;
  /** The window last announced to the peer. */
  readonly announced: number;
  /** Streams counted as busy now. */
  readonly busy: number;
  close(): void;
}

export function receiveWindows(session: http2.Http2Session): ReceiveWindows {
  const busy = new Set<http2.Http2Stream>();
  let announced = STREAM_WINDOW;
  let unacknowledged = 0;
  let widenTimer: NodeJS.Timeout | null = null;
  let closed = false;

  function announce(window: number): void {
    if (closed || window === announced || session.destroyed || session.closed) return;
    if (unacknowledged >= MAX_UNACKNOWLEDGED) return; // sent once an acknowledgement comes back
    try {
      session.settings({ initialWindowSize: window }, () => {
        unacknowledged--;
        if (windowFor(busy.size) < announced) announce(windowFor(busy.size));
        else changed();
      });
    } catch {
      return; // the session is going away
    }
    unacknowledged++;
    announced = window;
  }

  /** Narrows at once; widens after WIDEN_AFTER_MS, to what the count allows by then. */
  function changed(): void {
    const wanted = windowFor(busy.size);
    if (wanted < announced) return announce(wanted);
    if (wanted === announced || widenTimer) return;
    widenTimer = setTimeout(() => {
      widenTimer = null;
      announce(windowFor(busy.size));
    }, WIDEN_AFTER_MS);
    widenTimer.unref();
  }

  function setBusy(stream: http2.Http2Stream, isBusy: boolean): void {
    if (closed || busy.has(stream) === isBusy) return;
    if (isBusy) busy.add(stream);
    else busy.delete(stream);
    changed();
  }

  return {
    track(stream) {
      stream.once('close', () => setBusy(stream, false));
      setBusy(stream, true);
    },
    setIdle(stream, idle) {
      if (!stream.closed && !stream.destroyed) setBusy(stream, !idle);
    },
    get announced() {
      return announced;
    },
    get busy() {
      return busy.size;
    },
    close() {
      closed = true;
      if (widenTimer) clearTimeout(widenTimer);
      widenTimer = null;
      busy.clear();
    },
  };
}
