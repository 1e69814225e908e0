// Tiny ISOBMFF builders for hand-made test files: structures the committed fixtures do not contain (idat items,
// JPEG-coded items, timed metadata tables in compact/64-bit form, hostile sizes).
export const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
export const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
export const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};
export const box = (type: string, ...parts: Buffer[]) => {
  const payload = Buffer.concat(parts);
  return Buffer.concat([u32(8 + payload.length), Buffer.from(type, 'latin1'), payload]);
};
export const full = (type: string, version: number, ...parts: Buffer[]) => box(type, Buffer.from([version, 0, 0, 0]), ...parts);
export const ftyp = (brand: string) => box('ftyp', Buffer.from(brand), u32(0), Buffer.from('mif1' + brand));
export const hdlr = (handler: string) => full('hdlr', 0, u32(0), Buffer.from(handler), Buffer.alloc(12), Buffer.from([0]));
const infe = (id: number, type: string) => full('infe', 2, u16(id), u16(0), Buffer.from(type), Buffer.from([0]));

/** A HEIF with one item of `type` stored per `method` (0: file offset, 1: idat, 2: item) at `offset`/`length`. */
export function heifWithItem(type: string, method: number, offset: number, length: number, data: Buffer): Buffer {
  const iinf = full('iinf', 0, u16(2), infe(1, 'hvc1'), infe(2, type));
  const iloc = full('iloc', 1, Buffer.from([0x44, 0x00]), u16(1), u16(2), u16(method), u16(0), u16(1), u32(offset), u32(length));
  const meta = full('meta', 0, hdlr('pict'), iinf, iloc, box('idat', data));
  return Buffer.concat([ftyp('heic'), meta]);
}

/** A movie whose single video track uses sample entry `codec`. */
export function movieWithCodec(codec: string): Buffer {
  const stsd = full('stsd', 0, u32(1), box(codec, Buffer.alloc(78)));
  const mdia = box('mdia', hdlr('vide'), box('minf', box('stbl', stsd)));
  return Buffer.concat([ftyp('qt  '), box('moov', box('trak', mdia)), box('mdat', Buffer.alloc(8))]);
}

/**
 * An MP4 with a timed metadata track (handler `meta`) whose samples lie in mdat between picture-like filler,
 * described with stz2 (8-bit sizes) and co64 chunk offsets. Returns the file and the sample byte ranges.
 */
export function movieWithTimedMetadata(samples: Buffer[][]): { file: Buffer; ranges: [number, number][] } {
  const head = ftyp('isom');
  const filler = Buffer.alloc(16, 0xaa);
  // Layout of mdat: filler, chunk 1, filler, chunk 2, ... ; each chunk holds consecutive samples.
  const mdatParts: Buffer[] = [];
  const chunkOffsetsInMdat: number[] = [];
  let cursor = 0;
  for (const chunk of samples) {
    mdatParts.push(filler);
    cursor += filler.length;
    chunkOffsetsInMdat.push(cursor);
    for (const s of chunk) {
      mdatParts.push(s);
      cursor += s.length;
    }
  }
  mdatParts.push(filler);
  const build = (mdatStart: number) => {
    const all = samples.flat();
    const stz2 = full('stz2', 0, Buffer.from([0, 0, 0, 8]), u32(all.length), Buffer.from(all.map((s) => s.length)));
    const stsc = full('stsc', 0, u32(samples.length), ...samples.map((c, i) => Buffer.concat([u32(i + 1), u32(c.length), u32(1)])));
    const co64 = full('co64', 0, u32(samples.length), ...chunkOffsetsInMdat.map((o) => u64(mdatStart + 8 + o)));
    const stbl = box('stbl', full('stsd', 0, u32(1), box('mebx', Buffer.alloc(8))), stz2, stsc, co64);
    const trak = box('trak', box('mdia', full('mdhd', 0, Buffer.alloc(20)), hdlr('meta'), box('minf', stbl)));
    return box('moov', full('mvhd', 0, Buffer.alloc(96)), trak);
  };
  const moovSize = build(0).length;
  const moov = build(head.length + moovSize);
  const mdat = box('mdat', ...mdatParts);
  const file = Buffer.concat([head, moov, mdat]);
  const mdatData = head.length + moov.length + 8;
  const ranges = samples.map((chunk, i): [number, number] => {
    const start = mdatData + chunkOffsetsInMdat[i]!;
    return [start, start + chunk.reduce((n, s) => n + s.length, 0)];
  });
  return { file, ranges };
}
