// The PNG walker's CRC of a renamed, zero-filled chunk (computed in logarithmic time) must equal a plain
// byte-by-byte CRC-32, or strict decoders would reject cleaned files.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crcOfZeroedChunk, NEUTRAL_TYPE } from '../../src/share/strip/png.js';

function referenceCrc(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

test('CRC of the neutral chunk type plus N zero bytes matches a reference CRC-32', () => {
  for (const n of [0, 1, 2, 3, 7, 8, 255, 256, 1000, 4097, 65_537, 1_000_003]) {
    assert.equal(crcOfZeroedChunk(n), referenceCrc(Buffer.concat([NEUTRAL_TYPE, Buffer.alloc(n)])), `length ${n}`);
  }
});

test('a multi-megabyte zeroed chunk matches the reference too', () => {
  const n = 3_000_017;
  assert.equal(crcOfZeroedChunk(n), referenceCrc(Buffer.concat([NEUTRAL_TYPE, Buffer.alloc(n)])));
});
