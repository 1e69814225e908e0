// Reads one origin answer off a connection as its bytes arrive: the head (parsed strictly by response-head.ts),
// then the body by its framing (Content-Length, chunked with extensions and trailers, or until the origin
// closes), handing body bytes on as they come without copying them. Bounds on heads, chunk lines and trailers
// hold however the bytes are split into reads. Anything malformed throws OriginBadResponseError.
import { BadResponse, parseResponseHead, type ResponseHead } from './response-head.js';

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE = 4096;

export type ParserPhase = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'until-close' | 'done';

export interface ParserEvents {
  /** A 1xx answer before the final one (100 Continue, 103 Early Hints); a 101 only reaches head(). */
  informational(head: ResponseHead): void;
  /** The final head, or a 101. Returns false to stop reading here (an upgrade: `rest` belongs to the new protocol). */
  head(head: ResponseHead, rest: Buffer): boolean;
  /** Body bytes, in order, without framing. They may live in a reused read buffer (see pool.ts). */
  body(data: Buffer): void;
}

const NO_BODY_STATUS = (status: number) => status === 204 || status === 304;

export class ResponseParser {
  phase: ParserPhase = 'head';
  /** The answer to a HEAD request carries no body whatever its head says. */
  headRequest = false;
  /** Bytes of an unfinished head or chunk-size/trailer line. */
  private pending: Buffer | null = null;
  private remaining = 0;

  constructor(private readonly events: ParserEvents) {}

  reset(headRequest: boolean): void {
    this.phase = 'head';
    this.headRequest = headRequest;
    this.pending = null;
    this.remaining = 0;
  }

  /** Takes the next bytes. Returns what follows a complete answer (empty if nothing), or null while it is unfinished. */
  feed(chunk: Buffer): Buffer | null {
    let data = chunk;
    while (data.length > 0 || this.phase === 'done') {
      switch (this.phase) {
        case 'head': {
          const buffered = this.pending ? Buffer.concat([this.pending, data]) : data;
          const end = buffered.indexOf('\r\n\r\n');
          if (end === -1) {
            if (buffered.length > MAX_HEAD_BYTES) throw new BadResponse('response head too large');
            // A head ending in bare LFs would never match CRLF CRLF: refuse it now instead of waiting for a timeout.
            const lf = buffered.indexOf(10);
            if (lf !== -1 && buffered[lf - 1] !== 13) throw new BadResponse('bare LF in response head');
            this.pending = buffered === data ? Buffer.from(data) : buffered; // data may live in a reused read buffer
            return null;
          }
          // The bound holds however the head was split into reads, not only while it is incomplete.
          if (end > MAX_HEAD_BYTES) throw new BadResponse('response head too large');
          this.pending = null;
          data = buffered.subarray(end + 4);
          const head = parseResponseHead(buffered.toString('latin1', 0, end));
          if (head.status < 200 && head.status !== 101) {
            this.events.informational(head);
            continue;
          }
          if (!this.events.head(head, data)) {
            this.phase = 'done';
            return data;
          }
          this.startBody(head);
          break;
        }
        case 'length':
          data = this.relayCounted(data, 'done');
          break;
        case 'until-close':
          this.events.body(data);
          return null;
        case 'chunk-size':
        case 'trailers': {
          const buffered = this.pending ? Buffer.concat([this.pending, data]) : data;
          const eol = buffered.indexOf('\r\n');
          if (eol === -1) {
            if (buffered.length > MAX_CHUNK_LINE && this.phase === 'chunk-size') throw new BadResponse('chunk size line too long');
            if (buffered.length > MAX_HEAD_BYTES) throw new BadResponse('trailers too large');
            this.pending = buffered === data ? Buffer.from(data) : buffered;
            return null;
          }
          this.pending = null;
          const line = buffered.toString('latin1', 0, eol);
          data = buffered.subarray(eol + 2);
          if (line.includes('\r') || line.includes('\n')) throw new BadResponse('bare CR or LF in chunked framing');
          if (this.phase === 'trailers') {
            if (line === '') this.phase = 'done';
            break;
          }
          const size = /^([0-9A-Fa-f]{1,12})(?:[ \t]*;.*)?$/.exec(line);
          if (!size) throw new BadResponse('invalid chunk size');
          this.remaining = parseInt(size[1]!, 16);
          this.phase = this.remaining === 0 ? 'trailers' : 'chunk-data';
          break;
        }
        case 'chunk-data':
          data = this.relayCounted(data, 'chunk-crlf');
          break;
        case 'chunk-crlf': {
          const buffered = this.pending ? Buffer.concat([this.pending, data]) : data;
          if (buffered.length < 2) {
            this.pending = buffered === data ? Buffer.from(data) : buffered;
            return null;
          }
          this.pending = null;
          if (buffered[0] !== 13 || buffered[1] !== 10) throw new BadResponse('chunk not followed by CRLF');
          data = buffered.subarray(2);
          this.phase = 'chunk-size';
          break;
        }
        case 'done':
          return data;
      }
    }
    return null;
  }

  private startBody(head: ResponseHead): void {
    if (this.headRequest || NO_BODY_STATUS(head.status) || head.status === 101) this.phase = 'done';
    else if (head.chunked) this.phase = 'chunk-size';
    else if (head.contentLength >= 0) {
      this.remaining = head.contentLength;
      this.phase = head.contentLength === 0 ? 'done' : 'length';
    } else this.phase = 'until-close';
  }

  /** Relays up to `remaining` body bytes of `data`; returns the rest, moving to `next` once they are all out. */
  private relayCounted(data: Buffer, next: ParserPhase): Buffer {
    const n = Math.min(data.length, this.remaining);
    this.remaining -= n;
    if (n > 0) this.events.body(n === data.length ? data : data.subarray(0, n));
    if (this.remaining === 0) this.phase = next;
    return data.subarray(n);
  }
}

/** True when an answer with this head has its body framed by the connection closing (never reusable). */
export function closeDelimited(head: ResponseHead): boolean {
  return !head.chunked && head.contentLength < 0;
}
