// The tunnel's wire contract, shared by gateway (hub) and home connector: ALPN name, HTTP/2 tuning,
// the paths and headers of the control exchange, and bounds on everything read from the peer.
import type http2 from 'node:http2';

/** Negotiated on the gateway's HTTPS port so browsers (h2, http/1.1) and connectors share one port. */
export const TUNNEL_ALPN = 'porthole-tunnel/1';

const MiB = 1024 * 1024;

// Default HTTP/2 windows (64 KiB per stream and per connection) cap a stream at about window/RTT, roughly
// 2 MB/s at 20 ms. The stream window lets one stream fill a fast long-distance link (8 MiB: about 400 MB/s at
// 20 ms). It is also what bounds memory: Node hands the connection-level window back as soon as a DATA frame
// arrives, read or not, and the stream-level one only when the stream is read, so a peer can push at most one
// stream window into a stream nobody reads (measured: 8.1 MiB into a paused stream behind a 64 KiB session
// window). The session window therefore bounds no memory; it only has to cover the link's bandwidth-delay
// product, as window updates take a round trip. STREAM_WINDOW is the widest a stream gets: the gateway
// narrows it as more streams are busy (receive-windows.ts).
export const STREAM_WINDOW = 8 * MiB;
export const SESSION_WINDOW = 8 * MiB;
export const MAX_FRAME_SIZE = 256 * 1024;

/** Settings both peers announce. */
export const H2_SETTINGS: http2.Settings = {
  initialWindowSize: STREAM_WINDOW,
  maxFrameSize: MAX_FRAME_SIZE,
  maxConcurrentStreams: 4096,
  maxHeaderListSize: 16 * 1024,
  enablePush: false,
};

/** Node refuses new streams once buffered session data passes this (MB); must exceed the windows above. */
export const MAX_SESSION_MEMORY_MB = 256;

/** Control exchange: the gateway asks who the connector is, then tells it the id it was given. */
export const HELLO_PATH = '/.porthole-tunnel/hello';
export const WELCOME_PATH = '/.porthole-tunnel/welcome';
export const HEADER_TOKEN = 'porthole-token';
export const HEADER_NAME = 'porthole-connector-name';
export const HEADER_VERSION = 'porthole-connector-version';
export const HEADER_CONNECTOR_ID = 'porthole-connector-id';
/**
 * The gateway asks the connector to reset one of its origin streams (named by HEADER_STREAM_ID) instead of
 * resetting it itself. nghttp2 ends a session with INTERNAL_ERROR once its client has reset more than 1,000
 * streams at over 33 a second (its answer to the "rapid reset" flood), and Node 20 cannot raise that limit.
 * The gateway is the client here, so every cancelled download, closed keep-alive connection or viewer who
 * left would count, and enough of them (one visitor cancelling requests in a loop) would drop the tunnel for
 * everyone. A reset sent by the connector, the server, counts against no limit; this request and its answer
 * both end cleanly.
 */
export const ABORT_PATH = '/.porthole-tunnel/abort';
export const HEADER_STREAM_ID = 'porthole-stream-id';
/** In the connector's hello answer: what it understands beyond version 1 (comma-separated). */
export const HEADER_FEATURES = 'porthole-connector-features';
export const FEATURE_ABORT = 'abort';
/** On a refused origin connection: the connector's socket error code (ECONNREFUSED, ENOTFOUND, ...). */
export const HEADER_ERROR_CODE = 'porthole-error-code';
export const HEADER_ERROR_MESSAGE = 'porthole-error-message';

/** GOAWAY code the gateway uses to say "your token is not (or no longer) accepted": do not retry. */
export const GOAWAY_UNAUTHORIZED = 0x5054_0001;
/**
 * GOAWAY code the gateway uses to say "I cannot check tokens now, dial again later" (its shared store is
 * unavailable): nothing is said about the token. A connector that predates it sees a closed connection and
 * redials with its backoff, which is what it should do anyway.
 */
export const GOAWAY_TRY_LATER = 0x5054_0002;

export const PROTOCOL_VERSION = '1';
export const MAX_NAME_LENGTH = 64;
export const MAX_TOKEN_LENGTH = 2048;

/** Marks the origin stream request; the connector ignores its authority and dials its own origin. */
export const ORIGIN_AUTHORITY = 'origin.porthole-tunnel';
