// JPEG walker: neutralises every APPn/COM segment that can carry metadata (Exif, XMP, IPTC/Photoshop, C2PA,
// maker segments, comments) by turning it into an all-zero COM segment of the same length, keeps only what
// decoding needs (JFIF/JFXX, ICC profile, MPF, Adobe), walks concatenated MPF images and zeroes other trailers.
import { NotCleanable, Source, write, zero, type Patch } from './types.js';

const MAX_SEGMENTS = 4096;
const MAX_IMAGES = 16;
const MAX_FILL_BYTES = 4096;
/** Entropy-coded data must be read in full to find its end; large reads keep origin requests few. */
const SCAN_BLOCK = 1024 * 1024;
const NEUTRAL_MARKER = Buffer.from([0xfe]); // COM: every reader knows it, and an all-zero one says nothing

export async function planJpeg(src: Source): Promise<Patch[]> {
  const patches: Patch[] = [];
  let pos = 0;
  for (let images = 0; ; images++) {
    if (images >= MAX_IMAGES) throw new NotCleanable('too many embedded JPEG images');
    pos = await walkImage(src, pos, patches);
    if (pos === src.size) return patches;
    const rest = src.size - pos;
    const head = await src.bytes(pos, Math.min(3, rest));
    if (!(head.length === 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff)) {
      // Unknown trailer (maker blocks, appended videos): decoders stop at EOI, so zeroing it changes no pixel.
      zero(patches, pos, src.size);
      return patches;
    }
  }
}

/** Walks one SOI..EOI image starting at `start`; returns the offset just after its EOI. */
async function walkImage(src: Source, start: number, patches: Patch[]): Promise<number> {
  const soi = await src.bytes(start, 2);
  if (soi[0] !== 0xff || soi[1] !== 0xd8) throw new NotCleanable('not a JPEG');
  let p = start + 2;
  let fills = 0;
  for (let segments = 0; ;) {
    const m = await src.bytes(p, 2);
    if (m[0] !== 0xff) throw new NotCleanable('malformed JPEG: expected a marker');
    const marker = m[1]!;
    if (marker === 0xff) {
      if (++fills > MAX_FILL_BYTES) throw new NotCleanable('malformed JPEG: too many fill bytes');
      p += 1;
      continue;
    }
    if (++segments > MAX_SEGMENTS) throw new NotCleanable('too many JPEG segments');
    if (marker === 0xd9) return p + 2;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      p += 2;
      continue;
    }
    if (marker === 0x00 || marker === 0xd8) throw new NotCleanable('malformed JPEG: unexpected marker');
    const length = (await src.bytes(p + 2, 2)).readUInt16BE(0);
    if (length < 2) throw new NotCleanable('malformed JPEG: bad segment length');
    const end = p + 2 + length;
    if (end > src.size) throw new NotCleanable('truncated JPEG');
    if (await isMetadataSegment(src, marker, p + 4, length - 2)) {
      write(patches, p + 1, NEUTRAL_MARKER);
      zero(patches, p + 4, end);
    }
    p = marker === 0xda ? await skipEntropyData(src, end) : end;
  }
}

/** APPn and COM are metadata unless they are one of the few segments decoders use for pixels or colour. */
async function isMetadataSegment(src: Source, marker: number, payload: number, length: number): Promise<boolean> {
  const isApp = marker >= 0xe0 && marker <= 0xef;
  if (!isApp && marker !== 0xfe) return false;
  const id = (await src.bytes(payload, Math.min(length, 12))).toString('latin1');
  if (marker === 0xe0) return !(id.startsWith('JFIF\0') || id.startsWith('JFXX\0'));
  if (marker === 0xe2) return !(id.startsWith('ICC_PROFILE\0') || id.startsWith('MPF\0'));
  if (marker === 0xee) return !id.startsWith('Adobe');
  return true;
}

/** Finds the marker ending entropy-coded data: 0xFF not followed by a stuffed 0x00, RSTn or another 0xFF. */
async function skipEntropyData(src: Source, start: number): Promise<number> {
  let q = start;
  while (q < src.size) {
    const block = await src.bytes(q, Math.min(SCAN_BLOCK, src.size - q));
    let k = block.indexOf(0xff);
    while (k !== -1) {
      if (k + 1 >= block.length) break;
      const next = block[k + 1]!;
      if (next !== 0x00 && next !== 0xff && !(next >= 0xd0 && next <= 0xd7)) return q + k;
      k = block.indexOf(0xff, k + 1);
    }
    if (k !== -1 && k + 1 >= block.length) {
      if (k === 0) throw new NotCleanable('truncated JPEG');
      q += k; // re-read so the 0xFF and the byte after it are in one block
    } else {
      q += block.length;
    }
  }
  throw new NotCleanable('truncated JPEG: no end of image');
}
