// PNG walker: every ancillary chunk not needed to render (eXIf, tEXt, zTXt, iTXt incl. XMP, tIME, C2PA, private
// chunks) becomes a private ancillary chunk of the same length with zeroed data and a recomputed CRC, so strict
// decoders still accept the file. Bytes after IEND are zeroed.
import { NotCleanable, Source, write, zero, type Patch } from './types.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const MAX_CHUNKS = 200_000;
/** After small chunks (typical IDAT runs) read headers 1 MiB at a time; after big ones, just the header. */
const READ_AHEAD = 1024 * 1024;
const SMALL_CHUNK = 256 * 1024;
/** Ancillary, private, reserved bit clear, safe-to-copy: any decoder skips it. */
export const NEUTRAL_TYPE = Buffer.from('zeRo', 'latin1');
/** Ancillary chunks that affect how pixels are decoded, composed or coloured (incl. APNG). */
const RENDERING = new Set([
  'tRNS',
  'gAMA',
  'cHRM',
  'sRGB',
  'iCCP',
  'cICP',
  'mDCv',
  'cLLi',
  'sBIT',
  'bKGD',
  'hIST',
  'pHYs',
  'sPLT',
  'acTL',
  'fcTL',
  'fdAT',
  'oFFs',
  'pCAL',
  'sCAL',
  'sTER',
  'gIFg',
]);

export async function planPng(src: Source): Promise<Patch[]> {
  const sig = await src.bytes(0, 8);
  if (!sig.equals(SIGNATURE)) throw new NotCleanable('not a PNG');
  const patches: Patch[] = [];
  let p = 8;
  let previousLength = 0;
  for (let chunks = 0; ; chunks++) {
    if (chunks >= MAX_CHUNKS) throw new NotCleanable('too many PNG chunks');
    const head = await src.bytesAhead(p, 8, previousLength < SMALL_CHUNK ? READ_AHEAD : 0);
    const length = head.readUInt32BE(0);
    const type = head.toString('latin1', 4, 8);
    if (length > 0x7fffffff || !/^[A-Za-z]{4}$/.test(type)) throw new NotCleanable('malformed PNG chunk');
    if (chunks === 0 && type !== 'IHDR') throw new NotCleanable('malformed PNG: IHDR must come first');
    const end = p + 12 + length;
    if (end > src.size) throw new NotCleanable('truncated PNG');
    if (type === 'IEND') {
      zero(patches, end, src.size);
      return patches;
    }
    const ancillary = (head[4]! & 0x20) !== 0;
    if (ancillary && !RENDERING.has(type)) {
      write(patches, p + 4, NEUTRAL_TYPE);
      zero(patches, p + 8, p + 8 + length);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crcOfZeroedChunk(length), 0);
      write(patches, p + 8 + length, crc);
    }
    p = end;
    previousLength = length;
  }
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crcUpdate(crc: number, byte: number): number {
  return CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
}

/**
 * CRC-32 over the neutral type followed by `length` zero bytes, in O(log length): feeding zero bytes to the
 * CRC register is a linear map, so it is applied as repeated squares of the one-byte operator.
 */
export function crcOfZeroedChunk(length: number): number {
  let reg = 0xffffffff;
  for (const b of NEUTRAL_TYPE) reg = crcUpdate(reg, b);
  let op = ZERO_BYTE_OPERATOR;
  for (let n = length; n > 0; n = Math.floor(n / 2)) {
    if (n % 2 === 1) reg = applyOperator(op, reg);
    op = squareOperator(op);
  }
  return (reg ^ 0xffffffff) >>> 0;
}

/** A 32x32 matrix over GF(2), one column per bit of the register. */
type Operator = Uint32Array;

function applyOperator(op: Operator, vec: number): number {
  let sum = 0;
  for (let i = 0; vec !== 0; i++, vec >>>= 1) if (vec & 1) sum ^= op[i]!;
  return sum >>> 0;
}

function squareOperator(op: Operator): Operator {
  const out = new Uint32Array(32);
  for (let i = 0; i < 32; i++) out[i] = applyOperator(op, op[i]!);
  return out;
}

const ZERO_BYTE_OPERATOR: Operator = (() => {
  // One zero bit: shift right, folding the polynomial in when the low bit falls out.
  let op: Operator = new Uint32Array(32);
  op[0] = 0xedb88320;
  for (let i = 1; i < 32; i++) op[i] = (1 << (i - 1)) >>> 0;
  for (let bits = 1; bits < 8; bits *= 2) op = squareOperator(op);
  return op;
})();
