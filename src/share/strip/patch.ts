// Patch plans: validation/normalisation of what the walkers produced, and the streaming Transform that writes
// the patches over a body starting at any offset (full download or a Range slice) in constant memory.
import { Transform, type TransformCallback } from 'node:stream';
import { NotCleanable, type Patch } from './types.js';

/** Most patches one plan may hold; more means a pathological file and is refused. */
export const MAX_PATCHES = 200_000;

/**
 * Sorts, bounds-checks and merges patches. Overlaps are allowed only between fills of the same byte (e.g. two
 * items sharing data); anything else means the walker's view is ambiguous and the file is refused.
 */
export function normalizePatches(patches: readonly Patch[], size: number): Patch[] {
  if (patches.length > MAX_PATCHES) throw new NotCleanable('too many metadata regions');
  for (const p of patches) {
    if (!Number.isSafeInteger(p.start) || !Number.isSafeInteger(p.end) || p.start < 0 || p.end > size || p.start >= p.end) {
      throw new NotCleanable('metadata region outside the file');
    }
    if ('bytes' in p && p.bytes.length !== p.end - p.start) throw new Error('patch length mismatch');
  }
  const sorted = [...patches].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: Patch[] = [];
  for (const p of sorted) {
    const last = out[out.length - 1];
    if (last && p.start <= last.end && 'fill' in last && 'fill' in p && last.fill === p.fill) {
      if (p.end > last.end) out[out.length - 1] = { start: last.start, end: p.end, fill: last.fill };
      continue;
    }
    if (last && p.start === last.start && p.end === last.end && 'bytes' in last && 'bytes' in p && last.bytes.equals(p.bytes)) {
      continue; // the same write twice (two items sharing one extent)
    }
    if (last && p.start < last.end) throw new NotCleanable('overlapping metadata regions');
    out.push(p);
  }
  return out;
}

/** Index of the first patch whose end lies after `offset` (patches sorted and disjoint). */
function firstPatchAfter(patches: readonly Patch[], offset: number): number {
  let lo = 0;
  let hi = patches.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (patches[mid]!.end <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Writes the patches that fall inside `chunk`, which holds file bytes from `chunkStart`. Returns `chunk` itself
 * when untouched, else a patched copy (the input may be shared with other consumers). `next` is the cursor.
 */
function patchChunk(patches: readonly Patch[], next: number, chunk: Buffer, chunkStart: number): [Buffer, number] {
  const chunkEnd = chunkStart + chunk.length;
  let out = chunk;
  let i = next;
  while (i < patches.length && patches[i]!.start < chunkEnd) {
    const p = patches[i]!;
    const s = Math.max(p.start, chunkStart);
    const e = Math.min(p.end, chunkEnd);
    if (s < e) {
      if (out === chunk) out = Buffer.from(chunk);
      if ('fill' in p) out.fill(p.fill, s - chunkStart, e - chunkStart);
      else p.bytes.copy(out, s - chunkStart, s - p.start, e - p.start);
    }
    if (p.end <= chunkEnd) i++;
    else break;
  }
  return [out, i];
}

/**
 * A Transform for a body whose first byte is at file offset `streamStartOffset` (0 for a full body, the range
 * start for a 206). Patches must come from a successful plan (sorted, disjoint).
 */
export function applyPatches(patches: readonly Patch[], streamStartOffset: number): Transform {
  if (!Number.isSafeInteger(streamStartOffset) || streamStartOffset < 0) throw new RangeError('bad stream offset');
  let pos = streamStartOffset;
  let next = firstPatchAfter(patches, pos);
  return new Transform({
    transform(chunk: Buffer | string, _enc: BufferEncoding, cb: TransformCallback) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const [out, i] = patchChunk(patches, next, buf, pos);
      next = i;
      pos += buf.length;
      cb(null, out);
    },
  });
}

/** Same as the Transform for a body already in memory (small files, tests, zip entries). */
export function applyPatchesToBuffer(patches: readonly Patch[], body: Buffer, bodyStartOffset = 0): Buffer {
  return patchChunk(patches, firstPatchAfter(patches, bodyStartOffset), body, bodyStartOffset)[0];
}
