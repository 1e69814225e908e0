// WebP walker: RIFF chunks other than those needed to decode (VP8, VP8L, VP8X, ALPH, ANIM, ANMF, ICCP) — above
// all EXIF and XMP — become zero-filled unknown chunks of the same size, which readers must skip, and the
// VP8X EXIF/XMP flags are cleared. Bytes after the RIFF payload are zeroed.
import { NotCleanable, Source, write, zero, type Patch } from './types.js';

const MAX_CHUNKS = 100_000;
const NEUTRAL_FOURCC = Buffer.from('JUNK', 'latin1');
const DECODING = new Set(['VP8 ', 'VP8L', 'VP8X', 'ALPH', 'ANIM', 'ANMF', 'ICCP']);
const VP8X_EXIF = 0x08;
const VP8X_XMP = 0x04;

export async function planWebp(src: Source): Promise<Patch[]> {
  const head = await src.bytes(0, 12);
  if (head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WEBP') {
    throw new NotCleanable('not a WebP');
  }
  const riffEnd = 8 + head.readUInt32LE(4);
  if (riffEnd > src.size || riffEnd < 12) throw new NotCleanable('truncated WebP');
  const patches: Patch[] = [];
  let p = 12;
  for (let chunks = 0; p < riffEnd; chunks++) {
    if (chunks >= MAX_CHUNKS) throw new NotCleanable('too many WebP chunks');
    const h = await src.bytes(p, 8);
    const fourcc = h.toString('latin1', 0, 4);
    const length = h.readUInt32LE(4);
    const dataEnd = p + 8 + length;
    // The pad byte may be missing on the very last chunk; tolerate only that.
    const end = Math.min(dataEnd + (length & 1), riffEnd);
    if (dataEnd > riffEnd) throw new NotCleanable('truncated WebP chunk');
    if (fourcc === 'VP8X') {
      if (chunks !== 0 || length < 10) throw new NotCleanable('malformed WebP: misplaced VP8X');
      const flags = (await src.bytes(p + 8, 1))[0]!;
      if (flags & (VP8X_EXIF | VP8X_XMP)) write(patches, p + 8, Buffer.from([flags & ~(VP8X_EXIF | VP8X_XMP)]));
    } else if (!DECODING.has(fourcc)) {
      write(patches, p, NEUTRAL_FOURCC);
      zero(patches, p + 8, dataEnd);
    }
    p = end;
  }
  zero(patches, riffEnd, src.size);
  return patches;
}
