// Reads a gate form body: urlencoded only, a few KiB at most (every gate form has two or three short fields).
import type http from 'node:http';

export const MAX_FORM_BYTES = 4096;

export type FormResult = { ok: true; fields: URLSearchParams } | { ok: false; reason: 'too-large' | 'bad-type' | 'aborted' };

export function readForm(req: http.IncomingMessage, res: http.ServerResponse): Promise<FormResult> {
  return new Promise((resolve) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') return resolve({ ok: false, reason: 'bad-type' });
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > MAX_FORM_BYTES) return resolve({ ok: false, reason: 'too-large' });
    // The listener leaves "Expect: 100-continue" to handlers; a small form is welcome.
    if ((req.headers.expect ?? '').toLowerCase() === '100-continue') res.writeContinue();
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_FORM_BYTES) {
        done = true;
        req.pause();
        return resolve({ ok: false, reason: 'too-large' });
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve({ ok: true, fields: new URLSearchParams(Buffer.concat(chunks).toString('utf8')) });
    });
    req.on('error', () => {
      if (!done) (done = true), resolve({ ok: false, reason: 'aborted' });
    });
    req.on('close', () => {
      if (!done) (done = true), resolve({ ok: false, reason: 'aborted' });
    });
  });
}

/** One bounded field; absent, repeated or oversized fields are treated as missing. */
export function field(fields: URLSearchParams, name: string, maxLength: number): string | null {
  const values = fields.getAll(name);
  if (values.length !== 1) return null;
  const value = values[0]!;
  return value.length <= maxLength ? value : null;
}
