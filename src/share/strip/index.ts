// Metadata stripping for originals served on the share host: detects the format by magic bytes, asks the
// format's walker for a plan of same-length overwrites, and exposes the streaming patcher. Anything the walkers
// cannot clean with certainty becomes `{ ok: false, reason }`; this module never throws for bad input.
import { planIsobmff } from './isobmff.js';
import { planJpeg } from './jpeg.js';
import { normalizePatches } from './patch.js';
import { planPng } from './png.js';
import { NotCleanable, ReadFailed, Source, type MediaFormat, type Patch, type RandomAccessReader, type StripPlan } from './types.js';
import { planWebp } from './webp.js';

export { applyPatches, applyPatchesToBuffer } from './patch.js';
export { blockCachedReader, bufferReader, openFileReader } from './readers.js';
export type { MediaFormat, Patch, RandomAccessReader, StripPlan } from './types.js';

const QUICKTIME_FIRST_BOXES = new Set(['moov', 'mdat', 'wide', 'free', 'skip', 'pnot']);

/** Which walker a file needs, from its first bytes only. */
export function detectFormat(head: Buffer): 'jpeg' | 'png' | 'webp' | 'isobmff' | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 8 && head.readUInt32BE(0) === 0x89504e47 && head.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (head.length >= 12 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  if (head.length >= 8) {
    const type = head.toString('latin1', 4, 8);
    if (type === 'ftyp' || QUICKTIME_FIRST_BOXES.has(type)) return 'isobmff';
  }
  return undefined;
}

/**
 * Plans the overwrites that remove metadata from a file of `size` bytes readable through `reader`.
 * `mime` (as declared by the origin) only improves the refusal message; the bytes decide the format.
 */
export async function findMetadataRegions(reader: RandomAccessReader, size: number, mime?: string): Promise<StripPlan> {
  if (!Number.isSafeInteger(size) || size < 0) return { ok: false, reason: 'unknown file size' };
  const src = new Source(reader, size);
  try {
    const head = await src.bytes(0, Math.min(size, 16));
    const kind = detectFormat(head);
    let format: MediaFormat;
    let patches: Patch[];
    switch (kind) {
      case 'jpeg':
        [format, patches] = ['jpeg', await planJpeg(src)];
        break;
      case 'png':
        [format, patches] = ['png', await planPng(src)];
        break;
      case 'webp':
        [format, patches] = ['webp', await planWebp(src)];
        break;
      case 'isobmff':
        ({ format, patches } = await planIsobmff(src));
        break;
      default:
        return { ok: false, reason: `unsupported format${mime ? ` (${mime.slice(0, 100)})` : ''}` };
    }
    return { ok: true, format, patches: normalizePatches(patches, size) };
  } catch (err) {
    if (err instanceof NotCleanable) return { ok: false, reason: err.message };
    if (err instanceof ReadFailed) return { ok: false, reason: `read failed: ${err.message}` };
    return { ok: false, reason: `internal error: ${err instanceof Error ? err.message : String(err)}` };
  }
}
