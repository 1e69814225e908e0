// A strict parser for the head of an origin's HTTP/1.1 response (status line and header fields), used by the
// lean origin client. Anything unusual is an error rather than a guess: obs-fold, bare CR or LF, a field name
// that is not a token, control characters in values, conflicting Content-Length, Content-Length next to
// Transfer-Encoding. An error makes the proxy answer 502 and drop the connection, never reuse it.
import { OriginBadResponseError as BadResponse } from './errors.js';

export { BadResponse };

export interface ResponseHead {
  status: number;
  message: string;
  /** Field names and values in arrival order, as node:http's rawHeaders. */
  raw: string[];
  /** -1 when absent. */
  contentLength: number;
  /** Transfer-Encoding with chunked last. */
  chunked: boolean;
  /** Transfer-Encoding without chunked last: the body runs until the connection closes. */
  untilClose: boolean;
  /** The connection cannot carry another request after this response. */
  close: boolean;
  /** The origin's keep-alive timeout hint in ms, or -1. */
  keepAliveMs: number;
}

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const DIGITS = /^\d{1,15}$/;

/** Parses `text`, the head without its final CRLF CRLF (latin1). */
export function parseResponseHead(text: string): ResponseHead {
  // Every CR must start a CRLF and every LF end one.
  for (let at = text.indexOf('\r'); at !== -1; at = text.indexOf('\r', at + 1)) if (text.charCodeAt(at + 1) !== 10) throw new BadResponse('bare CR in response head');
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) if (text.charCodeAt(at - 1) !== 13) throw new BadResponse('bare LF in response head');
  const lines = text.split('\r\n');
  const status = STATUS_LINE.exec(lines[0]!);
  if (!status) throw new BadResponse('malformed status line');
  const head: ResponseHead = {
    status: Number(status[2]),
    message: status[3] ?? '',
    raw: [],
    contentLength: -1,
    chunked: false,
    untilClose: false,
    close: false,
    keepAliveMs: -1,
  };
  let connection = '';
  let transferEncoding: string | null = null;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new BadResponse('malformed header line');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new BadResponse('header name is not a token');
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (BAD_VALUE.test(value)) throw new BadResponse('control character in a header value');
    head.raw.push(name, value);
    switch (name.length === 10 || name.length === 14 || name.length === 17 ? name.toLowerCase() : '') {
      case 'content-length':
        if (!DIGITS.test(value)) throw new BadResponse('invalid Content-Length');
        if (head.contentLength !== -1 && head.contentLength !== Number(value)) throw new BadResponse('conflicting Content-Length');
        head.contentLength = Number(value);
        break;
      case 'transfer-encoding':
        transferEncoding = transferEncoding === null ? value : `${transferEncoding}, ${value}`;
        break;
      case 'connection':
        connection = connection ? `${connection}, ${value}` : value;
        break;
      case 'keep-alive': {
        const hint = /(?:^|[\s,])timeout=(\d{1,6})/i.exec(value);
        if (hint) head.keepAliveMs = Number(hint[1]) * 1000;
        break;
      }
    }
  }
  if (transferEncoding !== null) {
    if (head.contentLength !== -1) throw new BadResponse('Content-Length and Transfer-Encoding together');
    const codings = transferEncoding
      .toLowerCase()
      .split(',')
      .map((c) => c.trim());
    head.chunked = codings[codings.length - 1] === 'chunked';
    head.untilClose = !head.chunked;
  }
  const tokens = connection.toLowerCase();
  const http10 = status[1] === '0';
  head.close = head.untilClose || /(^|[\s,])close($|[\s,])/.test(tokens) || (http10 && !/(^|[\s,])keep-alive($|[\s,])/.test(tokens));
  return head;
}
