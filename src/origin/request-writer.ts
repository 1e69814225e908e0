// Puts a request on an origin connection: the head in one write, then the body as its sender delivers it,
// chunk-encoded when its length is not known (the client sent chunked), with the connection's backpressure
// passed back to the sender.
import type { Duplex } from 'node:stream';

/** What a request carries after its head: nothing, a body of a declared length, or a body sent chunked. */
export type RequestBody = 'none' | 'length' | 'chunked';

export interface OriginRequestHead {
  method: string;
  /** The request target: an origin-form path with its query. */
  path: string;
  /** Flat [name, value, ...] list, written as given; framing (Content-Length or Transfer-Encoding) must match `body`. */
  headers: readonly string[];
  body: RequestBody;
}

/** A value a handler rewrote may not smuggle a line break or NUL into the head (Node's parser refused those from the client). */
const UNSAFE_VALUE = /[\0\r\n]/;
const UNSAFE_TARGET = /[\0-\x20\x7f]/;

export class UnsafeRequestError extends Error {}

/** The request head as one string; throws UnsafeRequestError for a header value or target that would break it. */
export function formatRequestHead(request: OriginRequestHead): string {
  if (UNSAFE_TARGET.test(request.path) || !/^[A-Z]+$/.test(request.method)) throw new UnsafeRequestError('Invalid request target.');
  let head = `${request.method} ${request.path} HTTP/1.1\r\n`;
  const headers = request.headers;
  for (let i = 0; i < headers.length; i += 2) {
    const value = headers[i + 1]!;
    if (UNSAFE_VALUE.test(value) || UNSAFE_VALUE.test(headers[i]!)) throw new UnsafeRequestError('Invalid header value.');
    head += `${headers[i]}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

/** Writes one body chunk; false when the connection wants the sender to wait for 'drain'. */
export function writeBodyChunk(socket: Duplex, chunk: Buffer, body: RequestBody): boolean {
  if (body !== 'chunked') return socket.write(chunk);
  socket.cork();
  socket.write(`${chunk.length.toString(16)}\r\n`);
  socket.write(chunk);
  const flushed = socket.write('\r\n');
  socket.uncork();
  return flushed;
}

/** Ends the body: the last chunk of a chunked one (a declared length ends by itself). */
export function endBody(socket: Duplex, body: RequestBody): void {
  if (body === 'chunked') socket.write('0\r\n\r\n');
}
