// Raw HTTP/2 over TLS for the flood tests: frames built by hand (what a hostile client sends, which node:http2's
// client refuses to), a tiny HPACK encoder (literal fields, no Huffman, no table), and a reader that collects the
// server's frames and tells when the connection is gone.
import tls from 'node:tls';

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK integer with an n-bit prefix (RFC 7541 section 5.1); `first` holds the bits above the prefix. */
function hpackInteger(value: number, prefixBits: number, first: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const bytes = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([hpackInteger(bytes.length, 7, 0), bytes]);
}

/** A header block of literal fields "without indexing" with new names: decodable by any HPACK decoder. */
export function headerBlock(fields: Array<[string, string]>): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0]), hpackString(name), hpackString(value)]));
}

export function settingsFrame(): Buffer {
  return frame(FRAME.SETTINGS, 0, 0);
}

export function pingFrame(data: Buffer = Buffer.alloc(8)): Buffer {
  return frame(FRAME.PING, 0, 0, data);
}

export function rstFrame(stream: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, stream, payload);
}

export interface RawH2 {
  socket: tls.TLSSocket;
  frames: Frame[];
  send(bytes: Buffer): void;
  /** Resolves with the first frame (already received or still to come) that matches; null if the connection closes first. */
  waitFor(match: (f: Frame) => boolean): Promise<Frame | null>;
  /** Resolves when the server closed the connection. */
  closed: Promise<void>;
  /** The GOAWAY error code the server sent, if any. */
  goawayCode(): number | null;
  close(): void;
}

/** A TLS connection offering only "h2", with the client preface and an empty SETTINGS frame already sent. */
export function openRawH2(port: number, servername: string): Promise<RawH2> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['h2'], rejectUnauthorized: false });
    const frames: Frame[] = [];
    const waiters = new Set<() => void>();
    let pending = Buffer.alloc(0);
    let ended = false;
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        frames.push({ type: pending[3]!, flags: pending[4]!, stream: pending.readUInt32BE(5) & 0x7fffffff, payload: pending.subarray(9, 9 + length) });
        pending = pending.subarray(9 + length);
      }
      for (const wake of [...waiters]) wake();
    });
    const closed = new Promise<void>((done) => socket.once('close', () => ((ended = true), done(), [...waiters].forEach((wake) => wake()))));
    socket.on('error', () => undefined);
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol !== 'h2') return reject(new Error(`ALPN settled on ${String(socket.alpnProtocol)}`));
      socket.write(Buffer.concat([PREFACE, settingsFrame()]));
      resolve({
        socket,
        frames,
        closed,
        send: (bytes) => void (socket.writable && socket.write(bytes)),
        waitFor(match) {
          return new Promise((done) => {
            const check = () => {
              const found = frames.find(match);
              if (found || ended) {
                waiters.delete(check);
                done(found ?? null);
              }
            };
            waiters.add(check);
            check();
          });
        },
        goawayCode() {
          const goaway = frames.find((f) => f.type === FRAME.GOAWAY);
          return goaway ? goaway.payload.readUInt32BE(4) : null;
        },
        close: () => socket.destroy(),
      });
    });
    socket.once('error', reject);
  });
}

/** The request header fields of a GET (or another method) for `path` on `authority`. */
export function requestFields(authority: string, path: string, method = 'GET', extra: Array<[string, string]> = []): Array<[string, string]> {
  return [[':method', method], [':scheme', 'https'], [':authority', authority], [':path', path], ...extra];
}
