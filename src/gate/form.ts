// Reads a gate form body: urlencoded only, a few KiB at most (every gate form has two or three short fields),
// and at the rate of a request head (listener/deadlines.ts): anyone can post these forms, so a body trickled in
// to hold the connection is cut off.
import type http from 'node:http';
import { watchProgress, type ProgressRule } from '../listener/deadlines.js';

const MAX_FORM_BYTES = 4096;

export type FormResult = { ok: true; fields: URLSearchParams } | { ok: false; reason: 'too-large' | 'bad-type' | 'aborted' | 'too-slow' };

export type SmallBodyResult = { ok: true; body: Buffer } | { ok: false; reason: 'too-large' | 'bad-type' | 'aborted' | 'too-slow' };

/**
 * Reads a small body of one content type, at most `maxBytes`, at the rate of a request head. The one reader
 * behind every gate form and the passkey endpoints' JSON.
 */
export function readSmallBody(req: http.IncomingMessage, res: http.ServerResponse, rule: ProgressRule, contentType: string, maxBytes: number): Promise<SmallBodyResult> {
  return new Promise((resolve) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== contentType) return resolve({ ok: false, reason: 'bad-type' });
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > maxBytes) return resolve({ ok: false, reason: 'too-large' });
    // The listener leaves "Expect: 100-continue" to handlers; a small body is welcome.
    if ((req.headers.expect ?? '').toLowerCase() === '100-continue') res.writeContinue();
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const stopWatch = watchProgress(
      rule,
      () => size,
      () => finish({ ok: false, reason: 'too-slow' }),
    );
    const finish = (result: SmallBodyResult) => {
      if (done) return;
      done = true;
      stopWatch();
      if (!result.ok) req.pause();
      resolve(result);
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxBytes) return finish({ ok: false, reason: 'too-large' });
      chunks.push(chunk);
    });
    req.on('end', () => finish({ ok: true, body: Buffer.concat(chunks) }));
    req.on('error', () => finish({ ok: false, reason: 'aborted' }));
    req.on('close', () => finish({ ok: false, reason: 'aborted' }));
  });
}

export async function readForm(req: http.IncomingMessage, res: http.ServerResponse, rule: ProgressRule): Promise<FormResult> {
  const result = await readSmallBody(req, res, rule, 'application/x-www-form-urlencoded', MAX_FORM_BYTES);
  return result.ok ? { ok: true, fields: new URLSearchParams(result.body.toString('utf8')) } : result;
}

/** One bounded field; absent, repeated or oversized fields are treated as missing. */
export function field(fields: URLSearchParams, name: string, maxLength: number): string | null {
  const values = fields.getAll(name);
  if (values.length !== 1) return null;
  const value = values[0]!;
  return value.length <= maxLength ? value : null;
}
