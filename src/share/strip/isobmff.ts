// ISOBMFF walker for HEIC/AVIF and MP4/MOV. Images: Exif, XMP and other non-image items (located through
// meta/iinf + iloc, in mdat or idat) are zeroed. Movies: udta, meta (incl. Apple mdta keys such as
// com.apple.quicktime.location.ISO6709), uuid boxes (XMP) at file, movie and track level become `free` boxes
// with zeroed contents; creation/modification times in mvhd/tkhd/mdhd are zeroed; samples of timed metadata
// and text tracks (GPS tracks, telemetry subtitles) are zeroed through the sample tables. JPEG-coded image
// items are cleaned by the JPEG walker; raw-camera brands and Motion-JPEG/PNG video tracks (whose every frame
// may carry its own Exif) are refused.
import { planJpeg } from './jpeg.js';
import { NotCleanable, Source, write, zero, type MediaFormat, type Patch } from './types.js';

const MAX_BOXES = 100_000;
const MAX_DEPTH = 12;
const MAX_TABLE = 8 * 1024 * 1024;
const FREE = Buffer.from('free', 'latin1');
/** Track handlers whose samples are descriptive data, not picture or sound. */
const TIMED_METADATA_HANDLERS = new Set(['meta', 'text', 'sbtl']);
/** Brands of files this walker understands: plain MP4/3GP/QuickTime, camera MP4 flavours, HEIF and AVIF. */
const KNOWN_BRANDS = new Set([
  'isom',
  'iso2',
  'iso3',
  'iso4',
  'iso5',
  'iso6',
  'iso7',
  'iso8',
  'iso9',
  'mp41',
  'mp42',
  'mp71',
  'avc1',
  'M4V ',
  'M4VH',
  'M4VP',
  'M4A ',
  'qt  ',
  '3gp4',
  '3gp5',
  '3gp6',
  '3gp7',
  '3gp8',
  '3gp9',
  '3g2a',
  '3g2b',
  '3g2c',
  'XAVC',
  'MSNV',
  'mmp4',
  'dash',
  'heic',
  'heix',
  'heim',
  'heis',
  'hevc',
  'hevx',
  'mif1',
  'mif2',
  'msf1',
  'miaf',
  'avif',
  'avis',
  'MA1A',
  'MA1B',
]);
/** ISOBMFF raw-camera containers: their previews and maker boxes are not something this walker can vouch for. */
const RAW_BRANDS = new Set(['crx ']);
/** Video codecs whose frames are whole still images that may each embed Exif/XMP/text. */
const STILL_FRAME_CODECS = new Set(['jpeg', 'mjpa', 'mjpb', 'AVDJ', 'dmb1', 'mjp2', 'png ', 'tiff']);
const MAX_JPEG_ITEMS = 256;
/** File-level boxes holding media or structure; any other one (udta, uuid such as XMP or C2PA, unknown) is freed. */
const TOP_LEVEL_SKIP = new Set(['ftyp', 'styp', 'mdat', 'free', 'skip', 'wide', 'pdin', 'sidx', 'ssix', 'prft', 'mfra', 'emsg', 'pnot', 'PICT', 'imda']);

interface Box {
  readonly type: string;
  readonly start: number;
  /** Size and type fields only (8 or 16 bytes); a uuid's extended type counts as payload here. */
  readonly typeHeader: number;
  /** Where the box's own content starts (after the uuid extended type for uuid boxes). */
  readonly payload: number;
  readonly end: number;
}

class Walk {
  boxes = 0;
  readonly patches: Patch[] = [];
  hasFragments = false;
  constructor(readonly src: Source) {}

  async children(start: number, end: number, depth: number, topLevel = false): Promise<Box[]> {
    if (depth > MAX_DEPTH) throw new NotCleanable('boxes nested too deeply');
    const out: Box[] = [];
    let p = start;
    while (p < end) {
      if (++this.boxes > MAX_BOXES) throw new NotCleanable('too many boxes');
      if (end - p < 8) {
        // QuickTime allows a 32-bit zero terminator at the end of some containers.
        const tail = await this.src.bytes(p, end - p);
        if (tail.every((b) => b === 0)) break;
        throw new NotCleanable('malformed box');
      }
      const h = await this.src.bytes(p, 8);
      let size = h.readUInt32BE(0);
      const type = h.toString('latin1', 4, 8);
      let typeHeader = 8;
      if (size === 1) {
        const big = (await this.src.bytes(p + 8, 8)).readBigUInt64BE(0);
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new NotCleanable('box too large');
        size = Number(big);
        typeHeader = 16;
      } else if (size === 0) {
        if (!topLevel) throw new NotCleanable('open-ended box inside a container');
        size = end - p;
      }
      if (size < typeHeader || p + size > end) throw new NotCleanable('box exceeds its container');
      const payload = type === 'uuid' ? p + typeHeader + 16 : p + typeHeader;
      if (payload > p + size) throw new NotCleanable('malformed uuid box');
      out.push({ type, start: p, typeHeader, payload, end: p + size });
      p += size;
    }
    return out;
  }

  /** Renames the box to `free` and zeroes everything after its size/type fields. */
  free(box: Box): void {
    write(this.patches, box.start + 4, FREE);
    zero(this.patches, box.start + box.typeHeader, box.end);
  }

  async fullBoxHeader(box: Box, need: number): Promise<Buffer> {
    if (box.end - box.payload < need) throw new NotCleanable(`malformed ${box.type} box`);
    return this.src.bytes(box.payload, need);
  }
}

export async function planIsobmff(src: Source): Promise<{ format: MediaFormat; patches: Patch[] }> {
  const walk = new Walk(src);
  const top = await walk.children(0, src.size, 0, true);
  const first = top[0];
  if (!first) throw new NotCleanable('empty file');
  let format: MediaFormat = 'mov'; // QuickTime files from before ftyp existed
  if (first.type === 'ftyp') format = brandFormat(await src.bytes(first.payload, Math.min(first.end - first.payload, 256)));
  walk.hasFragments = top.some((b) => b.type === 'moof');
  for (const box of top) {
    if (box.type === 'meta') await topLevelMeta(walk, box);
    else if (box.type === 'moov') await movie(walk, box);
    else if (box.type === 'moof') continue;
    else if (!TOP_LEVEL_SKIP.has(box.type)) walk.free(box); // udta, uuid (XMP, C2PA), unknown boxes
  }
  return { format, patches: walk.patches };
}

function brandFormat(ftyp: Buffer): MediaFormat {
  const brands: string[] = [];
  for (let i = 0; i + 4 <= ftyp.length; i += 4) if (i !== 4) brands.push(ftyp.toString('latin1', i, i + 4));
  const major = brands[0] ?? '';
  if (brands.some((b) => RAW_BRANDS.has(b))) throw new NotCleanable('raw camera files are not cleanable');
  if (!brands.some((b) => KNOWN_BRANDS.has(b))) throw new NotCleanable(`unsupported ISOBMFF brand ${JSON.stringify(major)}`);
  if (major === 'avif' || major === 'avis') return 'avif';
  if (['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1'].includes(major)) return 'heif';
  if (major === 'qt  ') return 'mov';
  if (brands.includes('avif')) return 'avif';
  if (brands.includes('heic') || brands.includes('mif1')) return 'heif';
  return 'mp4';
}

// ---- movies -----------------------------------------------------------------------------------------------

async function movie(walk: Walk, moov: Box): Promise<void> {
  for (const box of await walk.children(moov.payload, moov.end, 1)) {
    if (box.type === 'cmov') throw new NotCleanable('compressed QuickTime movie header is not cleanable');
    if (box.type === 'udta' || box.type === 'meta' || box.type === 'uuid') walk.free(box);
    else if (box.type === 'mvhd') await zeroTimes(walk, box);
    else if (box.type === 'trak') await track(walk, box);
  }
}

async function track(walk: Walk, trak: Box): Promise<void> {
  for (const box of await walk.children(trak.payload, trak.end, 2)) {
    if (box.type === 'udta' || box.type === 'meta' || box.type === 'uuid') walk.free(box);
    else if (box.type === 'tkhd') await zeroTimes(walk, box);
    else if (box.type === 'mdia') await media(walk, box);
  }
}

async function media(walk: Walk, mdia: Box): Promise<void> {
  const boxes = await walk.children(mdia.payload, mdia.end, 3);
  let handler = '';
  for (const box of boxes) {
    if (box.type === 'mdhd') await zeroTimes(walk, box);
    else if (box.type === 'udta' || box.type === 'uuid') walk.free(box);
    else if (box.type === 'hdlr') handler = (await walk.fullBoxHeader(box, 12)).toString('latin1', 8, 12);
  }
  const minf = boxes.find((b) => b.type === 'minf');
  const stbl = minf && (await walk.children(minf.payload, minf.end, 4)).find((b) => b.type === 'stbl');
  if (stbl) await refuseStillFrameCodecs(walk, stbl);
  if (!TIMED_METADATA_HANDLERS.has(handler)) return;
  if (walk.hasFragments) throw new NotCleanable('timed metadata track in a fragmented file');
  if (!stbl) throw new NotCleanable('metadata track without sample table');
  await zeroSamples(walk, stbl);
}

async function refuseStillFrameCodecs(walk: Walk, stbl: Box): Promise<void> {
  const stsd = (await walk.children(stbl.payload, stbl.end, 5)).find((b) => b.type === 'stsd');
  if (!stsd) return;
  await walk.fullBoxHeader(stsd, 8);
  for (const entry of await walk.children(stsd.payload + 8, stsd.end, 6)) {
    if (STILL_FRAME_CODECS.has(entry.type)) throw new NotCleanable(`video made of still frames (${entry.type.trim()}) is not cleanable`);
  }
}

/** mvhd/tkhd/mdhd: version 0 has 32-bit creation+modification times, version 1 64-bit. */
async function zeroTimes(walk: Walk, box: Box): Promise<void> {
  const version = (await walk.fullBoxHeader(box, 4))[0];
  const width = version === 1 ? 16 : 8;
  if (box.end - box.payload < 4 + width) throw new NotCleanable(`malformed ${box.type} box`);
  zero(walk.patches, box.payload + 4, box.payload + 4 + width);
}

async function tableOf(walk: Walk, box: Box): Promise<Buffer> {
  if (box.end - box.payload > MAX_TABLE) throw new NotCleanable('sample table too large');
  return walk.src.bytes(box.payload, box.end - box.payload);
}

/** Zeroes every sample of a track, chunk by chunk, using stsc + stsz/stz2 + stco/co64. */
async function zeroSamples(walk: Walk, stbl: Box): Promise<void> {
  const boxes = await walk.children(stbl.payload, stbl.end, 5);
  const find = (t: string) => boxes.find((b) => b.type === t);
  const stscBox = find('stsc');
  const sizeBox = find('stsz') ?? find('stz2');
  const offsetBox = find('stco') ?? find('co64');
  if (!stscBox || !sizeBox || !offsetBox) throw new NotCleanable('incomplete sample table');
  const sizes = sampleSizes(await tableOf(walk, sizeBox), sizeBox.type === 'stz2');
  const stsc = await tableOf(walk, stscBox);
  const offsets = await tableOf(walk, offsetBox);
  const wide = offsetBox.type === 'co64';

  const chunkCount = checkedCount(offsets, wide ? 8 : 4);
  const runs = checkedCount(stsc, 12);
  let sample = 0;
  for (let r = 0; r < runs; r++) {
    const firstChunk = stsc.readUInt32BE(8 + r * 12);
    const perChunk = stsc.readUInt32BE(12 + r * 12);
    const nextFirst = r + 1 < runs ? stsc.readUInt32BE(8 + (r + 1) * 12) : chunkCount + 1;
    if (firstChunk < 1 || nextFirst < firstChunk || nextFirst > chunkCount + 1) throw new NotCleanable('malformed stsc');
    for (let c = firstChunk; c < nextFirst; c++) {
      const at = 8 + (c - 1) * (wide ? 8 : 4);
      const big = wide ? offsets.readBigUInt64BE(at) : BigInt(offsets.readUInt32BE(at));
      if (big > BigInt(walk.src.size)) throw new NotCleanable('sample outside the file');
      const offset = Number(big);
      const take = Math.min(perChunk, sizes.count - sample);
      const length = sizes.sum(sample, take);
      sample += take;
      if (offset + length > walk.src.size) throw new NotCleanable('sample outside the file');
      zero(walk.patches, offset, offset + length);
      if (walk.patches.length > 200_000) throw new NotCleanable('too many metadata samples');
    }
  }
}

function checkedCount(table: Buffer, entrySize: number): number {
  if (table.length < 8) throw new NotCleanable('malformed sample table');
  const count = table.readUInt32BE(4);
  if (count > (table.length - 8) / entrySize) throw new NotCleanable('sample table shorter than its count');
  return count;
}

interface SampleSizes {
  count: number;
  sum(first: number, n: number): number;
}

function sampleSizes(table: Buffer, compact: boolean): SampleSizes {
  if (table.length < 12) throw new NotCleanable('malformed sample size table');
  const count = table.readUInt32BE(8);
  if (!compact) {
    const fixed = table.readUInt32BE(4);
    if (fixed !== 0) return { count, sum: (_first, n) => fixed * n };
    if (count > (table.length - 12) / 4) throw new NotCleanable('sample size table shorter than its count');
    return { count, sum: (first, n) => sumEntries(n, (i) => table.readUInt32BE(12 + (first + i) * 4)) };
  }
  const field = table[7]!;
  if (field !== 4 && field !== 8 && field !== 16) throw new NotCleanable('malformed stz2');
  if (count > ((table.length - 12) * 8) / field) throw new NotCleanable('sample size table shorter than its count');
  const entry = (i: number): number => {
    if (field === 16) return table.readUInt16BE(12 + i * 2);
    if (field === 8) return table[12 + i]!;
    const b = table[12 + (i >> 1)]!;
    return i & 1 ? b & 0x0f : b >> 4;
  };
  return { count, sum: (first, n) => sumEntries(n, (i) => entry(first + i)) };
}

function sumEntries(n: number, entry: (i: number) => number): number {
  let total = 0;
  for (let i = 0; i < n; i++) total += entry(i);
  return total;
}

// ---- still images (HEIF / AVIF) ---------------------------------------------------------------------------

async function topLevelMeta(walk: Walk, meta: Box): Promise<void> {
  await walk.fullBoxHeader(meta, 4);
  const boxes = await walk.children(meta.payload + 4, meta.end, 1);
  const hdlr = boxes.find((b) => b.type === 'hdlr');
  const handler = hdlr ? (await walk.fullBoxHeader(hdlr, 12)).toString('latin1', 8, 12) : '';
  if (handler !== 'pict') {
    walk.free(meta); // iTunes-style or other descriptive metadata at file level
    return;
  }
  const iinf = boxes.find((b) => b.type === 'iinf');
  const iloc = boxes.find((b) => b.type === 'iloc');
  const idat = boxes.find((b) => b.type === 'idat');
  for (const box of boxes) if (box.type === 'xml ' || box.type === 'bxml' || box.type === 'udta' || box.type === 'uuid') walk.free(box);
  if (!iinf) return;
  const metadataItems = await metadataItemIds(walk, iinf);
  if (metadataItems.size === 0) return;
  if (!iloc) throw new NotCleanable('metadata items without locations');
  let jpegItems = 0;
  for (const extent of await itemExtents(walk, iloc, metadataItems)) {
    let start: number;
    let end: number;
    if (extent.method === 0) {
      start = extent.offset;
      end = extent.length === 0 ? walk.src.size : extent.offset + extent.length;
    } else {
      if (!idat) throw new NotCleanable('item in missing idat');
      start = idat.payload + extent.offset;
      end = extent.length === 0 ? idat.end : start + extent.length;
      if (end > idat.end) throw new NotCleanable('item outside idat');
    }
    if (!Number.isSafeInteger(end) || end > walk.src.size) throw new NotCleanable('item outside the file');
    if (extent.kind === 'jpeg') {
      if (!extent.only) throw new NotCleanable('JPEG item split into several extents');
      if (++jpegItems > MAX_JPEG_ITEMS) throw new NotCleanable('too many JPEG items');
      for (const p of await planJpeg(walk.src.view(start, end - start))) {
        walk.patches.push('fill' in p ? { start: start + p.start, end: start + p.end, fill: p.fill } : { start: start + p.start, end: start + p.end, bytes: p.bytes });
      }
      continue;
    }
    // An empty but well-formed payload keeps strict readers from reporting a broken Exif/XMP item.
    const template = extent.first ? EMPTY_PAYLOAD[extent.kind] : undefined;
    if (template && end - start >= template.length) {
      write(walk.patches, start, template);
      zero(walk.patches, start + template.length, end);
    } else {
      zero(walk.patches, start, end);
    }
  }
}

/** exif/xmp/other items are metadata to erase; jpeg items are pictures whose own segments need cleaning. */
type ItemKind = 'exif' | 'xmp' | 'other' | 'jpeg';

const EMPTY_PAYLOAD: Partial<Record<ItemKind, Buffer>> = {
  // 4-byte offset to the TIFF header, then a big-endian TIFF header pointing at an IFD with no entries.
  exif: Buffer.from('00000000' + '4d4d002a00000008' + '0000' + '00000000', 'hex'),
  xmp: Buffer.from('<x:xmpmeta xmlns:x="adobe:ns:meta/"/>', 'latin1'),
};

/** Item ids of metadata (Exif, mime incl. XMP, uri) and of JPEG-coded pictures. */
async function metadataItemIds(walk: Walk, iinf: Box): Promise<Map<number, ItemKind>> {
  const data = await tableOf(walk, iinf);
  const r = new Cursor(data);
  const version = r.u8();
  r.skip(3);
  const count = version === 0 ? r.u16() : r.u32();
  const ids = new Map<number, ItemKind>();
  let p = r.pos;
  for (let i = 0; i < count; i++) {
    if (p + 8 > data.length) throw new NotCleanable('iinf shorter than its count');
    const size = data.readUInt32BE(p);
    const type = data.toString('latin1', p + 4, p + 8);
    if (size < 8 || p + size > data.length) throw new NotCleanable('malformed infe');
    if (type === 'infe') {
      const item = parseInfe(data.subarray(p + 8, p + size));
      if (item.kind) ids.set(item.id, item.kind);
    }
    p += size;
  }
  return ids;
}

function parseInfe(body: Buffer): { id: number; kind: ItemKind | undefined } {
  const r = new Cursor(body);
  const version = r.u8();
  r.skip(3);
  if (version < 2) {
    // Legacy entries have no item type; their content_type tells.
    const id = r.u16();
    r.skip(2);
    r.cstring();
    const contentType = r.cstring();
    return { id, kind: contentType === '' ? undefined : contentType === XMP_MIME ? 'xmp' : 'other' };
  }
  const id = version === 2 ? r.u16() : r.u32();
  r.skip(2);
  const itemType = r.fourcc();
  if (itemType === 'Exif') return { id, kind: 'exif' };
  if (itemType === 'uri ') return { id, kind: 'other' };
  if (itemType === 'jpeg') return { id, kind: 'jpeg' };
  if (itemType !== 'mime') return { id, kind: undefined };
  r.cstring();
  return { id, kind: r.cstring() === XMP_MIME ? 'xmp' : 'other' };
}

const XMP_MIME = 'application/rdf+xml';

interface Extent {
  kind: ItemKind;
  first: boolean;
  only: boolean;
  method: 0 | 1;
  offset: number;
  length: number;
}

async function itemExtents(walk: Walk, iloc: Box, wanted: Map<number, ItemKind>): Promise<Extent[]> {
  const r = new Cursor(await tableOf(walk, iloc));
  const version = r.u8();
  r.skip(3);
  if (version > 2) throw new NotCleanable('unknown iloc version');
  const sizes1 = r.u8();
  const sizes2 = r.u8();
  const offsetSize = sizes1 >> 4;
  const lengthSize = sizes1 & 0x0f;
  const baseSize = sizes2 >> 4;
  const indexSize = version >= 1 ? sizes2 & 0x0f : 0;
  for (const s of [offsetSize, lengthSize, baseSize, indexSize]) if (s !== 0 && s !== 4 && s !== 8) throw new NotCleanable('malformed iloc');
  const count = version < 2 ? r.u16() : r.u32();
  const out: Extent[] = [];
  for (let i = 0; i < count; i++) {
    const id = version < 2 ? r.u16() : r.u32();
    const method = version >= 1 ? r.u16() & 0x0f : 0;
    const dataRef = r.u16();
    const base = r.sized(baseSize);
    const extents = r.u16();
    for (let e = 0; e < extents; e++) {
      r.sized(indexSize);
      const offset = r.sized(offsetSize);
      const length = r.sized(lengthSize);
      const kind = wanted.get(id);
      if (!kind || dataRef !== 0) continue; // data in another file is not served with this one
      if (method !== 0 && method !== 1) throw new NotCleanable('metadata item built from other items');
      out.push({ kind, first: e === 0, only: extents === 1, method, offset: checkedAdd(base, offset), length });
    }
  }
  return out;
}

function checkedAdd(a: number, b: number): number {
  const sum = a + b;
  if (!Number.isSafeInteger(sum)) throw new NotCleanable('offset overflow');
  return sum;
}

/** Bounds-checked reads over an in-memory box body; running off the end means a malformed box. */
class Cursor {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  private need(n: number): number {
    const at = this.pos;
    if (at + n > this.buf.length) throw new NotCleanable('malformed box contents');
    this.pos += n;
    return at;
  }
  skip(n: number): void {
    this.need(n);
  }
  u8(): number {
    return this.buf[this.need(1)]!;
  }
  u16(): number {
    return this.buf.readUInt16BE(this.need(2));
  }
  u32(): number {
    return this.buf.readUInt32BE(this.need(4));
  }
  fourcc(): string {
    return this.buf.toString('latin1', this.need(4), this.pos);
  }
  sized(bytes: number): number {
    if (bytes === 0) return 0;
    if (bytes === 4) return this.u32();
    const v = this.buf.readBigUInt64BE(this.need(8));
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new NotCleanable('offset overflow');
    return Number(v);
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end === -1) throw new NotCleanable('unterminated string');
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }
}
