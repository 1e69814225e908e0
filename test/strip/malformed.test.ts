// Refusals and edge structures: unsupported formats, every truncation of every fixture, hand-built hostile
// headers (bad lengths, 64-bit overflows, items outside the file, endless fill bytes), and the structures the
// fixtures do not cover (idat-stored Exif, concatenated JPEGs, trailers after the image).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyPatchesToBuffer, bufferReader, findMetadataRegions, type StripPlan } from '../../src/share/strip/index.js';
import { box, ftyp, full, heifWithItem, movieWithCodec, movieWithTimedMetadata, u32 } from './builders.js';
import { FIXTURES, readFixture, strip } from './helpers.js';

const plan = (buf: Buffer): Promise<StripPlan> => findMetadataRegions(bufferReader(buf), buf.length);

async function refused(buf: Buffer, reason?: RegExp): Promise<string> {
  const result = await plan(buf);
  assert.equal(result.ok, false, `expected a refusal, got a plan`);
  if (result.ok) return '';
  assert.ok(!result.reason.startsWith('internal error'), result.reason);
  if (reason) assert.match(result.reason, reason);
  return result.reason;
}

const heifWithExif = (method: number, offset: number, length: number, exif: Buffer) => heifWithItem('Exif', method, offset, length, exif);

const EXIF = Buffer.concat([Buffer.from('0000000649492a00', 'hex'), Buffer.from('FixtureCam GPS 48.858 secret padding bytes')]);

test('unsupported formats and empty input are refused with a clear reason', async () => {
  assert.match(await refused(Buffer.alloc(0)), /unsupported format/);
  assert.match(await refused(Buffer.from('GIF89a\x01\x00\x01\x00')), /unsupported format/);
  assert.match(await refused(Buffer.from('II*\0\x08\0\0\0')), /unsupported format/);
  assert.match(await refused(Buffer.from('hello world, not media')), /unsupported format/);
  const withMime = await findMetadataRegions(bufferReader(Buffer.from('BM......')), 8, 'image/bmp');
  assert.deepEqual(withMime, { ok: false, reason: 'unsupported format (image/bmp)' });
  assert.deepEqual(await findMetadataRegions(bufferReader(Buffer.alloc(4)), Number.NaN), { ok: false, reason: 'unknown file size' });
});

test('every truncation of every fixture is refused, or cleaned exactly like the full file', async () => {
  let refusedCount = 0;
  let cleanedCount = 0;
  for (const fixture of FIXTURES) {
    const input = await readFixture(fixture.file);
    const full = await strip(input);
    for (let cut = 0; cut < input.length; cut++) {
      const part = input.subarray(0, cut);
      const result = await plan(part);
      if (!result.ok) {
        assert.ok(!result.reason.startsWith('internal error'), `${fixture.file} cut at ${cut}: ${result.reason}`);
        refusedCount++;
        continue;
      }
      // Only a cut between top-level boxes leaves a well-formed file; then its metadata must be cleaned as well.
      assert.ok(['mp4', 'mov', 'heif', 'avif'].includes(result.format), `${fixture.file} cut at ${cut} accepted`);
      assert.ok(applyPatchesToBuffer(result.patches, part).equals(full.subarray(0, cut)), `${fixture.file} cut at ${cut}`);
      cleanedCount++;
    }
  }
  assert.ok(refusedCount > 50_000, `refused ${refusedCount}`);
  assert.ok(cleanedCount < 100, `cleaned ${cleanedCount}`);
});

test('JPEG: hostile segment structures are refused', async () => {
  const soi = Buffer.from([0xff, 0xd8]);
  await refused(Buffer.concat([soi, Buffer.alloc(10_000, 0xff), Buffer.from([0xd9])]), /fill bytes/);
  await refused(Buffer.concat([soi, Buffer.from([0xff, 0xe1, 0x00, 0x01])]), /segment length/);
  await refused(Buffer.concat([soi, Buffer.from([0xff, 0xe1, 0xff, 0xff, 0x00])]), /truncated/);
  await refused(Buffer.concat([soi, Buffer.from([0xff, 0xda, 0x00, 0x02, 0x12, 0x34, 0xff, 0x00])]), /no end of image|truncated/);
  await refused(Buffer.concat([soi, Buffer.from([0xff, 0xe0, 0x00, 0x02, 0x12, 0x34])]), /expected a marker/);
  const nested = Buffer.concat(Array.from({ length: 17 }, () => Buffer.from([0xff, 0xd8, 0xff, 0xd9])));
  await refused(nested, /too many embedded/);
  const manySegments = Buffer.concat([soi, Buffer.concat(Array.from({ length: 5000 }, () => Buffer.from([0xff, 0xfe, 0x00, 0x02]))), Buffer.from([0xff, 0xd9])]);
  await refused(manySegments, /too many JPEG segments/);
});

test('JPEG: concatenated images are each cleaned and unknown trailers are zeroed', async () => {
  const jpeg = await readFixture('gps.jpg');
  const trailer = Buffer.from('appended: FixtureCam GPS 48.858 2.294 secret place');
  const input = Buffer.concat([jpeg, jpeg, trailer]);
  const output = await strip(input);
  assert.equal(output.length, input.length);
  assert.equal(output.toString('latin1').indexOf('FixtureCam'), -1);
  assert.ok(output.subarray(output.length - trailer.length).equals(Buffer.alloc(trailer.length)));
  assert.ok(output.subarray(0, jpeg.length).equals(await strip(jpeg)), 'first image cleaned as on its own');
});

test('PNG: hostile chunks are refused, bytes after IEND are zeroed', async () => {
  const png = await readFixture('gps.png');
  const bad = Buffer.from(png);
  bad.writeUInt32BE(0xffffffff, 8); // IHDR length
  await refused(bad, /malformed PNG chunk/);
  const noIhdr = Buffer.from(png);
  noIhdr.write('IHDX', 12, 'latin1');
  await refused(noIhdr, /IHDR/);
  const tail = Buffer.from('FixtureCam after IEND');
  const output = await strip(Buffer.concat([png, tail]));
  assert.ok(output.subarray(png.length).equals(Buffer.alloc(tail.length)));
});

test('WebP: RIFF size beyond the file or a chunk beyond the RIFF is refused', async () => {
  const webp = await readFixture('gps.webp');
  const big = Buffer.from(webp);
  big.writeUInt32LE(webp.length * 2, 4);
  await refused(big, /truncated/);
  const chunk = Buffer.from(webp);
  chunk.writeUInt32LE(0x7fffffff, 16); // first chunk (VP8X) length
  await refused(chunk, /truncated WebP chunk/);
});

test('ISOBMFF: boxes that overflow, nest badly or point outside the file are refused', async () => {
  const ftypBox = ftyp('isom');
  await refused(Buffer.concat([ftypBox, u32(4), Buffer.from('moov')]), /box exceeds/);
  await refused(Buffer.concat([ftypBox, u32(1), Buffer.from('mdat'), Buffer.from('ffffffffffffffff', 'hex')]), /box too large/);
  await refused(Buffer.concat([ftypBox, u32(1), Buffer.from('mdat'), Buffer.from('0000000100000000', 'hex')]), /box exceeds/);
  await refused(Buffer.concat([ftypBox, box('moov', u32(0), Buffer.from('trak'))]), /open-ended box/);
  await refused(Buffer.concat([ftypBox, box('moov', Buffer.from([1, 2, 3]))]), /malformed box/);
  await refused(heifWithExif(0, 1_000_000, 10, EXIF), /item outside the file/);
  await refused(heifWithExif(1, 4, 1000, EXIF), /item outside idat/);
  await refused(heifWithExif(2, 0, 10, EXIF), /other items/);
  const manyBoxes = Buffer.concat([ftypBox, Buffer.concat(Array.from({ length: 100_001 }, () => box('free')))]);
  await refused(manyBoxes, /too many boxes/);
});

test('HEIF: an Exif item stored in idat is replaced by an empty Exif block', async () => {
  const input = heifWithExif(1, 0, EXIF.length, EXIF);
  const result = await plan(input);
  assert.ok(result.ok);
  assert.equal(result.format, 'heif');
  const output = applyPatchesToBuffer(result.patches, input);
  const at = input.indexOf(EXIF);
  const cleaned = output.subarray(at, at + EXIF.length);
  assert.ok(cleaned.subarray(0, 18).equals(Buffer.from('000000004d4d002a00000008000000000000', 'hex')));
  assert.ok(cleaned.subarray(18).equals(Buffer.alloc(EXIF.length - 18)));
  assert.ok(output.subarray(0, at).equals(input.subarray(0, at)), 'structure before the item untouched');
});

test('MP4: file-level meta/udta/uuid boxes become free boxes; timed metadata in fragmented files is refused', async () => {
  const xmp = box('uuid', Buffer.from('be7acfcb97a942e89c71999491e3afac', 'hex'), Buffer.from('<x:xmpmeta>FixtureCam</x:xmpmeta>'));
  const input = Buffer.concat([ftyp('isom'), box('udta', box('\xa9xyz', Buffer.from('+48.85+002.29/'))), xmp, box('mdat', Buffer.alloc(16, 7))]);
  const output = await strip(input);
  assert.equal(output.indexOf('FixtureCam'), -1);
  assert.equal(output.indexOf('+48.85'), -1);
  assert.equal(output.toString('latin1').split('free').length - 1, 2);
  assert.ok(output.subarray(output.length - 16).equals(Buffer.alloc(16, 7)), 'media data untouched');

  const metaTrack = box('trak', box('mdia', full('hdlr', 0, u32(0), Buffer.from('meta'), Buffer.alloc(13))));
  const fragmented = Buffer.concat([ftyp('isom'), box('moov', metaTrack), box('moof'), box('mdat')]);
  await refused(fragmented, /fragmented/);
  const noTable = Buffer.concat([ftyp('isom'), box('moov', metaTrack), box('mdat')]);
  await refused(noTable, /sample table/);
});

test('ISOBMFF: raw-camera brands, unknown brands and still-frame video codecs are refused', async () => {
  await refused(Buffer.concat([box('ftyp', Buffer.from('crx '), u32(1), Buffer.from('crx isom')), box('moov')]), /raw camera/);
  await refused(Buffer.concat([box('ftyp', Buffer.from('zzzz'), u32(0), Buffer.from('yyyy')), box('moov')]), /unsupported ISOBMFF brand "zzzz"/);
  for (const codec of ['jpeg', 'mjpa', 'png ']) await refused(movieWithCodec(codec), /still frames/);
  await refused(Buffer.concat([ftyp('qt  '), box('moov', box('cmov', Buffer.alloc(12)))]), /compressed QuickTime/);
  const h264 = await plan(movieWithCodec('avc1'));
  assert.ok(h264.ok, 'the same movie with an ordinary codec is accepted');
});

test('HEIF: a JPEG-coded image item is cleaned by the JPEG walker, the rest of the file untouched', async () => {
  const jpeg = await readFixture('gps.jpg');
  const input = heifWithItem('jpeg', 1, 0, jpeg.length, jpeg);
  const output = await strip(input);
  const at = input.indexOf(jpeg);
  assert.ok(output.subarray(at, at + jpeg.length).equals(await strip(jpeg)), 'item cleaned exactly like the JPEG file');
  assert.equal(output.indexOf('FixtureCam'), -1);
  assert.ok(output.subarray(0, at).equals(input.subarray(0, at)));
  // An item whose extent ends inside the JPEG cannot be vouched for.
  await refused(heifWithItem('jpeg', 1, 0, jpeg.length - 10, jpeg), /truncated JPEG|no end of image/);
});

test('MP4: samples of a timed metadata track (stz2 sizes, co64 offsets) are zeroed, nothing else', async () => {
  const gps = (n: number) => Buffer.from(`GPS 48.85${n} 2.29${n} secret`);
  const { file, ranges } = movieWithTimedMetadata([[gps(1), gps(2)], [gps(3)], [gps(4), gps(5), gps(6)]]);
  const result = await plan(file);
  assert.ok(result.ok);
  const output = applyPatchesToBuffer(result.patches, file);
  assert.equal(output.indexOf('GPS 48'), -1);
  for (const [start, end] of ranges) assert.ok(output.subarray(start, end).equals(Buffer.alloc(end - start)));
  const mdat = file.lastIndexOf('mdat') + 4;
  const outside = (buf: Buffer) =>
    Buffer.concat([buf.subarray(mdat, ranges[0]![0]), ...ranges.slice(1).map(([s], i) => buf.subarray(ranges[i]![1], s)), buf.subarray(ranges[2]![1])]);
  assert.ok(outside(output).equals(outside(file)), 'filler between samples untouched');
});
