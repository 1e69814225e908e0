// Originals of links that hide metadata: served with EXIF, XMP, IPTC and GPS overwritten in place (same
// length, same offsets), streaming, with Range requests intact, and named by asset id instead of the original
// file name. The overwrite plan is found through ranged reads of the origin; a format that cannot be cleaned
// is refused with a clear message instead of being sent with its metadata.
import { LRUCache } from 'lru-cache';
import type http from 'node:http';
import type { RequestContext } from '../http/context.js';
import { originRefusal, refuse } from '../http/refuse.js';
import { forwardedHeaders } from '../origin/forwarded.js';
import type { Origin } from '../origin/origin.js';
import { originRequest, readSmallBody, type OriginResponse } from '../origin/request.js';
import { guestJson } from './guest-answers.js';
import { applyPatches, blockCachedReader, findMetadataRegions, type Patch, type RandomAccessReader } from './strip/index.js';

export interface OriginalRequest {
  assetId: string;
  /** Headers Porthole adds to the answer (share-host headers). */
  responseHeaders: http.OutgoingHttpHeaders;
  /** The client's unlock cookie for password links, already validated. */
  cookie: string | undefined;
}

export interface OriginalHandler {
  serve(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, request: OriginalRequest): void;
}

const PLAN_TTL_MS = 60_000;
const MAX_PLANS = 1000;
/** Client request headers that reach the origin on this path (everything else is irrelevant to a file read). */
const PASSED = ['accept', 'accept-language', 'user-agent', 'range'] as const;

interface CachedPlan {
  patches: readonly Patch[];
  size: number;
  etag: string | undefined;
  until: number;
}

/** An answer that is not the plain file (e.g. compressed by a proxy in front of Immich): offsets would be wrong. */
class NotPlainFile extends Error {}

type Headers = Record<string, string | undefined>;

function encoded(answer: OriginResponse): boolean {
  const encoding = answer.headers['content-encoding'];
  return encoding !== undefined && encoding.trim().toLowerCase() !== 'identity';
}

class OriginStatus extends Error {
  constructor(readonly status: number) {
    super(`origin answered ${status}`);
  }
}

function contentRange(value: string | undefined): { start: number; size: number } | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value ?? '');
  return m ? { start: Number(m[1]), size: Number(m[3]) } : null;
}

/** An error answer's body, if it is small (errors are); null otherwise. */
function readSmall(answer: OriginResponse, limit = 64 * 1024): Promise<Buffer | null> {
  return readSmallBody(answer.body, limit).catch(() => null);
}

function extensionOf(disposition: string | undefined): string {
  const m = /filename="?[^";]*?(\.[A-Za-z0-9]{1,5})"?(?:;|$)/.exec(disposition ?? '');
  return m ? m[1]!.toLowerCase() : '';
}

export function createOriginalHandler(options: { origin: Origin; idleTimeoutMs: number; now?: () => number }): OriginalHandler {
  const { origin } = options;
  const now = options.now ?? Date.now;
  const plans = new LRUCache<string, CachedPlan>({ max: MAX_PLANS });

  function originHeaders(req: http.IncomingMessage, ctx: RequestContext, cookie: string | undefined, range: string | undefined): Headers {
    const headers: Headers = {
      // The overwrite plan is made of byte offsets into the file itself, so only the file itself will do.
      'accept-encoding': 'identity',
    };
    const forwarded = forwardedHeaders(req, ctx);
    for (let i = 0; i < forwarded.length; i += 2) headers[forwarded[i]!.toLowerCase()] = forwarded[i + 1]!;
    for (const name of PASSED) {
      const value = req.headers[name];
      if (name !== 'range' && value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    if (range) headers.range = range;
    if (cookie) headers.cookie = `immich_shared_link_token=${cookie}`;
    return headers;
  }

  function request(path: string, headers: Headers): Promise<OriginResponse> {
    return originRequest(origin, { path, headers, timeoutMs: options.idleTimeoutMs });
  }

  async function readAll(res: OriginResponse, limit: number): Promise<Buffer> {
    const body = await readSmallBody(res.body, limit);
    if (body === null) throw new Error('ranged read returned too much');
    return body;
  }

  /** Ranged reads of the same original, through the visitor's own credentials. */
  function originReader(path: string, headers: (range: string) => Headers, learned: { size?: number; etag?: string }): RandomAccessReader {
    return {
      async read(offset, length) {
        const res = await request(path, headers(`bytes=${offset}-${offset + length - 1}`));
        if (res.status !== 206) {
          res.body.resume();
          throw new OriginStatus(res.status);
        }
        if (encoded(res)) {
          res.body.resume();
          throw new NotPlainFile('it reached Porthole compressed');
        }
        const range = contentRange(res.headers['content-range']);
        if (!range || range.start !== offset) {
          res.body.resume();
          throw new Error('origin ignored the range');
        }
        learned.size = range.size;
        learned.etag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
        return readAll(res, length);
      },
    };
  }

  /** Plans the overwrites for one original, reading it through ranged requests of the same URL. */
  async function planFor(path: string, headers: (range: string) => Headers): Promise<CachedPlan | { refused: string } | { status: number }> {
    const learned: { size?: number; etag?: string } = {};
    const reader = blockCachedReader(originReader(path, headers, learned));
    try {
      await reader.read(0, 1);
    } catch (error) {
      if (error instanceof OriginStatus) return { status: error.status };
      if (error instanceof NotPlainFile) return { refused: error.message };
      throw error;
    }
    const size = learned.size!;
    let plan: Awaited<ReturnType<typeof findMetadataRegions>>;
    try {
      plan = await findMetadataRegions(reader, size);
    } catch (error) {
      if (error instanceof NotPlainFile) return { refused: error.message };
      throw error;
    }
    if (!plan.ok) return { refused: plan.reason };
    const entry: CachedPlan = { patches: plan.patches, size, etag: learned.etag, until: now() + PLAN_TTL_MS };
    plans.set(path, entry);
    return entry;
  }

  /** Does this answer carry exactly the file the plan was made for? */
  function sameFile(answer: OriginResponse, plan: CachedPlan): { start: number } | null {
    const etag = typeof answer.headers.etag === 'string' ? answer.headers.etag : undefined;
    if (plan.etag !== undefined && etag !== undefined && etag !== plan.etag) return null;
    if (answer.status === 206) {
      const range = contentRange(answer.headers['content-range']);
      return range && range.size === plan.size ? { start: range.start } : null;
    }
    return Number(answer.headers['content-length']) === plan.size ? { start: 0 } : null;
  }

  async function serve(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, r: OriginalRequest, fresh = false): Promise<void> {
    // Keyed by the whole target (asset and link): a plan is only ever reused for the same request shape.
    const path = req.url!;
    const cached = fresh ? undefined : plans.get(path);
    const plan = cached && cached.until > now() ? cached : await planFor(path, (range) => originHeaders(req, ctx, r.cookie, range));
    if ('refused' in plan) {
      return refuse(req, res, { kind: 'unsupported-media', what: 'uncleanable-file', detail: plan.refused }, 'share');
    }
    const clientRange = typeof req.headers.range === 'string' ? req.headers.range : undefined;
    const answer = await request(path, originHeaders(req, ctx, r.cookie, clientRange));
    const status = answer.status;
    if ('status' in plan || (status !== 200 && status !== 206)) {
      // Not a file (refused by Immich, or an unsatisfiable range): no bytes of the original in it.
      if (status === 200 || status === 206) {
        answer.body.resume();
        return refuse(req, res, { kind: 'not-found' }, 'share');
      }
      const headers: http.OutgoingHttpHeaders = { ...r.responseHeaders, 'content-type': answer.headers['content-type'] ?? 'application/json' };
      if (answer.headers['content-range']) headers['content-range'] = answer.headers['content-range'];
      // Immich's error answer, checked like every other JSON answer on the share host (guest-answers.ts).
      const body = await readSmall(answer);
      const checked =
        body && answer.headers['content-encoding'] === undefined && /json/i.test(String(headers['content-type'])) ? guestJson(body) : body?.length === 0 ? body : null;
      if (checked === null) return refuse(req, res, { kind: 'not-found' }, 'share');
      res.writeHead(status, { ...headers, 'content-length': checked.length });
      res.end(req.method === 'HEAD' ? undefined : checked);
      return;
    }
    if (encoded(answer)) {
      answer.body.resume();
      return refuse(req, res, { kind: 'unsupported-media', what: 'uncleanable-file', detail: 'it reached Porthole compressed' }, 'share');
    }
    const range = sameFile(answer, plan);
    if (!range) {
      // The file changed since the plan was made: never send bytes the plan does not cover. Plan afresh once.
      answer.body.resume();
      plans.delete(path);
      if (!fresh && plan === cached) return serve(req, res, ctx, r, true);
      return refuse(req, res, { kind: 'not-found' }, 'share');
    }
    const headers: http.OutgoingHttpHeaders = {
      'content-type': answer.headers['content-type'] ?? 'application/octet-stream',
      'accept-ranges': 'bytes',
      'cache-control': answer.headers['cache-control'] ?? 'private, max-age=86400, no-transform',
      'content-disposition': `${/^inline/i.test(answer.headers['content-disposition'] ?? '') ? 'inline' : 'attachment'}; filename="${r.assetId}${extensionOf(answer.headers['content-disposition'])}"`,
      ...r.responseHeaders,
    };
    if (answer.headers['content-length']) headers['content-length'] = answer.headers['content-length'];
    if (answer.headers['content-range']) headers['content-range'] = answer.headers['content-range'];
    res.writeHead(status, headers);
    const patcher = applyPatches(plan.patches, range.start);
    const body = answer.body;
    body.on('error', () => res.destroy());
    body.on('close', () => {
      if (!body.readableEnded) res.destroy();
    });
    patcher.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) body.destroy();
    });
    body.pipe(patcher).pipe(res);
  }

  return {
    serve(req, res, ctx, r) {
      serve(req, res, ctx, r).catch((error: unknown) => {
        if (res.headersSent) return void res.destroy();
        refuse(req, res, originRefusal(error, origin.describe()), 'share');
      });
    },
  };
}
