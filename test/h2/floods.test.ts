// The open HTTP/2 port under attack: each protection of src/listener/http2.ts (and the ones nghttp2 brings) gets
// the flood it exists for, from raw frames or node:http2's client, against a real gateway; afterwards the gateway
// still serves a fresh connection. Limits are set low here so that the floods stay short.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import { SHARE_HOST, startShare, type ShareSetup } from '../share/harness.js';
import { connectH2, h2request } from './harness.js';
import { FLAG, FRAME, frame, headerBlock, openRawH2, pingFrame, requestFields, rstFrame, settingsFrame, type RawH2 } from './frames.js';

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_REFUSED_STREAM } = http2.constants;
const LIMITS = { maxConcurrentStreams: 20, resetsPerWindow: 50, controlFramesPerWindow: 40, window: '60s', maxHeaderListSize: '8KiB' };

let s: ShareSetup;
let port: number;
let authority: string;
before(async () => {
  // headersTimeout 2s: the receive rule's grace (and its cap) shrink with it, so the deadline tests are short.
  // Metrics on: they count bytes per connection, which for HTTP/2 must survive a session torn down mid-request.
  s = await startShare({ listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 }, http2: LIMITS, proxy: { headersTimeout: '2s' }, metrics: { listen: '127.0.0.1:0' } });
  port = s.gateway.https!.port;
  authority = `${SHARE_HOST}:${port}`;
});
after(() => s.close());

/**
 * After a flood sent in one write: nghttp2 works through the whole write before Porthole's handler can act, so
 * ask with one more PING whether the connection is still served. False: the server closed it.
 */
async function answersProbe(raw: RawH2): Promise<boolean> {
  // First the end of the flood: a marker PING answered (or the connection gone) means all of it was read.
  raw.send(pingFrame(Buffer.from('marker01')));
  await raw.waitFor((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0 && f.payload.toString() === 'marker01');
  raw.send(pingFrame(Buffer.from('probe123')));
  const ack = await raw.waitFor((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0 && f.payload.toString() === 'probe123');
  return ack !== null;
}

/** A fresh session still gets the share host's answers: the flood ended one connection, not the gateway. */
async function stillServes(): Promise<void> {
  const session = await connectH2(port, SHARE_HOST);
  try {
    const reply = await h2request(session, '/api/server/config');
    assert.equal(reply.status, 200);
  } finally {
    session.close();
  }
}

test('rapid reset (CVE-2023-44487): a client cancelling request after request gets GOAWAY(ENHANCE_YOUR_CALM) and is cut off', async () => {
  const raw = await openRawH2(port, SHARE_HOST);
  const pairs: Buffer[] = [];
  // Each request is cancelled right after its HEADERS. 400 pairs: well past the budget of 50, far below
  // nghttp2's own bound (a burst of 1000): what stops this is Porthole's budget.
  for (let i = 0; i < 400; i++) {
    const id = 1 + 2 * i;
    pairs.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, headerBlock(requestFields(authority, '/api/server/config'))), rstFrame(id, NGHTTP2_CANCEL));
  }
  raw.send(Buffer.concat(pairs));
  assert.equal(await answersProbe(raw), false, 'the connection is still served after 400 cancelled requests');
  await raw.closed;
  assert.equal(raw.goawayCode(), NGHTTP2_ENHANCE_YOUR_CALM);
  await stillServes();
});

test('a browser-like burst of cancelled thumbnails (under the budget) keeps its connection', async () => {
  const session = await connectH2(port, SHARE_HOST);
  try {
    // Three screens scrolled past: 15 thumbnails cancelled each time (45 resets, the budget is 50).
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 15; i++) {
        const stream = session.request({ ':path': '/api/server/config', ':authority': authority });
        stream.on('error', () => undefined);
        stream.close(NGHTTP2_CANCEL);
      }
      const reply = await h2request(session, '/api/server/config');
      assert.equal(reply.status, 200);
    }
    assert.equal(session.destroyed, false);
  } finally {
    session.close();
  }
});

test('PING flood: past the control-frame budget the connection gets GOAWAY(ENHANCE_YOUR_CALM) and is closed', async () => {
  const raw = await openRawH2(port, SHARE_HOST);
  const flood = [];
  for (let i = 0; i < 200; i++) flood.push(pingFrame(Buffer.from(String(i).padStart(8, '0'))));
  raw.send(Buffer.concat(flood));
  assert.equal(await answersProbe(raw), false, 'the connection is still served after 200 PINGs');
  await raw.closed;
  assert.equal(raw.goawayCode(), NGHTTP2_ENHANCE_YOUR_CALM);
  await stillServes();
});

test('SETTINGS flood: past the control-frame budget the connection gets GOAWAY(ENHANCE_YOUR_CALM) and is closed', async () => {
  const raw = await openRawH2(port, SHARE_HOST);
  const flood = [];
  for (let i = 0; i < 200; i++) flood.push(settingsFrame());
  raw.send(Buffer.concat(flood));
  assert.equal(await answersProbe(raw), false, 'the connection is still served after 200 SETTINGS frames');
  await raw.closed;
  assert.equal(raw.goawayCode(), NGHTTP2_ENHANCE_YOUR_CALM);
  await stillServes();
});

test('CONTINUATION flood: a header block that never ends is cut off, not collected', async () => {
  const raw = await openRawH2(port, SHARE_HOST);
  const first = headerBlock(requestFields(authority, '/api/server/config'));
  const pieces = [frame(FRAME.HEADERS, 0, 1, first)];
  // 2,000 CONTINUATION frames of 1 KiB each without END_HEADERS: 2 MB of header block if anyone kept it.
  for (let i = 0; i < 2000; i++) pieces.push(frame(FRAME.CONTINUATION, 0, 1, headerBlock([[`x-filler-${i}`, 'a'.repeat(1000)]])));
  raw.send(Buffer.concat(pieces));
  // nghttp2 (1.61 and later, in Node 20.12.1 and later) ends the session after a few CONTINUATION frames.
  await raw.closed;
  assert.equal(
    raw.frames.some((f) => f.type === FRAME.HEADERS),
    false,
    'no answer to the endless header block',
  );
  await stillServes();
});

test('a header list over maxHeaderListSize is refused; the connection and other requests go on', async () => {
  const session = await connectH2(port, SHARE_HOST);
  try {
    // Sent before the client acknowledged the server's SETTINGS: Porthole checks each request itself.
    const big = session.request({ ':path': '/api/server/config', ':authority': authority, 'x-big': 'b'.repeat(12 * 1024) });
    const outcome = await new Promise<string>((resolve) => {
      big.on('response', (h) => resolve(`status ${String(h[':status'])}`));
      big.on('close', () => resolve(`reset ${big.rstCode}`));
      big.on('error', () => undefined);
      big.resume();
    });
    assert.match(outcome, /^(reset [1-9]|status 431)/);
    const small = await h2request(session, '/api/server/config');
    assert.equal(small.status, 200);
  } finally {
    session.close();
  }
});

test('max concurrent streams: the stream over the limit is refused with REFUSED_STREAM', async () => {
  const raw = await openRawH2(port, SHARE_HOST);
  try {
    // Uploads whose bodies never come: each holds its stream open (the share host waits for the body).
    const streams: Buffer[] = [];
    for (let i = 0; i <= LIMITS.maxConcurrentStreams; i++) {
      const id = 1 + 2 * i;
      streams.push(frame(FRAME.HEADERS, FLAG.END_HEADERS, id, headerBlock(requestFields(authority, `/api/shared-links/login?key=k${i}`, 'POST', [['content-length', '100']]))));
    }
    raw.send(Buffer.concat(streams));
    const lastId = 1 + 2 * LIMITS.maxConcurrentStreams;
    const refused = await raw.waitFor((f) => f.type === FRAME.RST_STREAM && f.stream === lastId);
    assert.ok(refused, 'the stream over the limit was reset');
    assert.equal(refused.payload.readUInt32BE(0), NGHTTP2_REFUSED_STREAM);
    const earlier = raw.frames.filter((f) => f.type === FRAME.RST_STREAM && f.stream < lastId && f.payload.readUInt32BE(0) === NGHTTP2_REFUSED_STREAM);
    assert.deepEqual(earlier, [], 'streams within the limit were not refused');
  } finally {
    raw.close();
  }
});

/** Resolves with whether the connection closed before `ms` (the guard against a test that would wait forever). */
function closesWithin(raw: RawH2, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const guard = setTimeout(() => resolve(false), ms);
    void raw.closed.then(() => {
      clearTimeout(guard);
      resolve(true);
    });
  });
}

test('a header block left unfinished (slowloris over HTTP/2) is cut off by the receive deadline', async () => {
  const raw = await openRawH2(port, SHARE_HOST);
  try {
    // HEADERS without END_HEADERS, then silence: nghttp2 waits for the CONTINUATION as long as the socket lives.
    raw.send(frame(FRAME.HEADERS, 0, 1, headerBlock(requestFields(authority, '/api/server/config'))));
    assert.equal(await closesWithin(raw, 30_000), true, 'the connection is still open 30 s later');
    assert.equal(
      raw.frames.some((f) => f.type === FRAME.HEADERS),
      false,
    );
  } finally {
    raw.close();
  }
});

test('an idle session is closed with GOAWAY(NO_ERROR) like an idle HTTP/1.1 connection; one with a request open is not', async () => {
  const idle = await openRawH2(port, SHARE_HOST);
  const busy = await openRawH2(port, SHARE_HOST);
  try {
    // A password POST whose body is still to come: the request is open, so its connection is left alone.
    const link = s.origin.library.createLink({ password: 'secret' });
    busy.send(
      frame(
        FRAME.HEADERS,
        FLAG.END_HEADERS,
        1,
        headerBlock(
          requestFields(authority, `/api/shared-links/login?key=${link.key}`, 'POST', [
            ['content-type', 'application/json'],
            ['content-length', '50'],
          ]),
        ),
      ),
    );
    assert.equal(await closesWithin(idle, 30_000), true, 'the idle session is still open 30 s later');
    assert.equal(idle.goawayCode(), 0);
    assert.equal(await answersProbe(busy), true, 'the session with an open request was kept');
    assert.equal(
      busy.frames.some((f) => f.type === FRAME.HEADERS && f.stream === 1),
      false,
      'the request is still waiting for its body',
    );
  } finally {
    idle.close();
    busy.close();
  }
});
