// Proves the streaming patcher is exact for any Range a client can ask for and any chunking the network
// produces, never mutates the caller's buffers, and that the planners give the same plan through the file and
// block-cache readers the gateway uses as through an in-memory buffer.
import assert from 'node:assert/strict';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { applyPatches, blockCachedReader, findMetadataRegions, openFileReader } from '../../src/share/strip/index.js';
import { FIXTURES, FIXTURE_DIR, planFor, prng, readFixture, strip } from './helpers.js';

const RANGES_PER_FIXTURE = 200;

/** Splits `buf` into random-size chunks (1 byte up to 4 KiB). */
function chunked(buf: Buffer, rand: () => number): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p < buf.length;) {
    const n = 1 + Math.floor(rand() * Math.min(4096, buf.length - p));
    out.push(buf.subarray(p, p + n));
    p += n;
  }
  return out;
}

async function streamThrough(chunks: Buffer[], transform: Transform): Promise<Buffer> {
  const got: Buffer[] = [];
  await pipeline(Readable.from(chunks), transform, async (source: AsyncIterable<Buffer | string>) => {
    for await (const c of source) got.push(Buffer.from(c));
  });
  return Buffer.concat(got);
}

for (const fixture of FIXTURES) {
  test(`${fixture.file}: every random byte range streams to the same bytes as the fully stripped file`, async () => {
    const input = await readFixture(fixture.file);
    const pristine = Buffer.from(input);
    const { patches } = await planFor(input);
    const full = await strip(input);
    assert.ok(!full.equals(input));
    const rand = prng(0x5eed + input.length);

    const whole = await streamThrough(chunked(input, rand), applyPatches(patches, 0));
    assert.ok(whole.equals(full), 'full body');

    for (let i = 0; i < RANGES_PER_FIXTURE; i++) {
      const a = Math.floor(rand() * input.length);
      const b = a + Math.floor(rand() * (input.length - a)); // inclusive, as in "bytes=a-b"
      const slice = input.subarray(a, b + 1);
      const out = await streamThrough(chunked(slice, rand), applyPatches(patches, a));
      assert.ok(out.equals(full.subarray(a, b + 1)), `range ${a}-${b}`);
    }
    // Suffix and one-byte ranges at both ends.
    for (const [a, b] of [
      [input.length - 1, input.length - 1],
      [0, 0],
      [input.length - 500, input.length - 1],
    ] as const) {
      const out = await streamThrough([input.subarray(a, b + 1)], applyPatches(patches, a));
      assert.ok(out.equals(full.subarray(a, b + 1)), `range ${a}-${b}`);
    }
    assert.ok(input.equals(pristine), 'input chunks were not modified in place');
  });
}

test('plans through the file reader and a small block cache equal plans from memory', async () => {
  for (const fixture of FIXTURES) {
    const input = await readFixture(fixture.file);
    const fromMemory = await planFor(input);
    const file = await openFileReader(join(FIXTURE_DIR, fixture.file));
    try {
      let innerReads = 0;
      const counting = { read: (o: number, l: number) => (innerReads++, file.read(o, l)) };
      const cached = blockCachedReader(counting, { blockSize: 512, maxBlocks: 4 });
      const plan = await findMetadataRegions(cached, file.size, 'application/octet-stream');
      assert.deepEqual(plan, { ok: true, ...fromMemory }, fixture.file);
      assert.ok(innerReads > 0);
    } finally {
      await file.close();
    }
  }
});

test('a reader that fails gives a refusal, not an exception', async () => {
  const plan = await findMetadataRegions({ read: async () => Promise.reject(new Error('origin gone')) }, 1000);
  assert.deepEqual(plan, { ok: false, reason: 'read failed: origin gone' });
});

test('chunks no patch touches pass through as the same buffers (no copy), patched ones are copies', async () => {
  const input = await readFixture('gps.mp4');
  const { patches } = await planFor(input);
  const lastEnd = patches[patches.length - 1]!.end;
  const untouched = input.subarray(lastEnd);
  const touched = input.subarray(0, lastEnd);
  const seen: Buffer[] = [];
  const transform = applyPatches(patches, 0);
  transform.on('data', (c: Buffer) => seen.push(c));
  transform.write(touched);
  transform.end(untouched);
  await new Promise((resolve) => transform.on('end', resolve));
  assert.equal(seen.length, 2);
  assert.notEqual(seen[0], touched);
  assert.equal(seen[1], untouched);
});

test('patch plans are validated: outside the file or conflicting writes refuse, equal overlaps merge', async () => {
  const { normalizePatches } = await import('../../src/share/strip/patch.js');
  assert.throws(() => normalizePatches([{ start: 5, end: 11, fill: 0 }], 10), /outside the file/);
  assert.throws(() => normalizePatches([{ start: 3, end: 3, fill: 0 }], 10), /outside the file/);
  const a = Buffer.from('ab');
  assert.throws(
    () =>
      normalizePatches(
        [
          { start: 2, end: 4, bytes: a },
          { start: 3, end: 5, fill: 0 },
        ],
        10,
      ),
    /overlapping/,
  );
  assert.deepEqual(
    normalizePatches(
      [
        { start: 4, end: 8, fill: 0 },
        { start: 2, end: 5, fill: 0 },
        { start: 8, end: 9, fill: 0 },
      ],
      10,
    ),
    [{ start: 2, end: 9, fill: 0 }],
  );
  assert.deepEqual(
    normalizePatches(
      [
        { start: 2, end: 4, bytes: a },
        { start: 2, end: 4, bytes: Buffer.from('ab') },
      ],
      10,
    ),
    [{ start: 2, end: 4, bytes: a }],
  );
});

test('block cache: neighbouring misses become one inner read, hits none, failures are retried', async () => {
  const data = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
  const calls: [number, number][] = [];
  let failNext = false;
  const inner = {
    async read(offset: number, length: number) {
      calls.push([offset, length]);
      if (failNext) {
        failNext = false;
        throw new Error('flaky origin');
      }
      return data.subarray(offset, Math.min(data.length, offset + length));
    },
  };
  const cached = blockCachedReader(inner, { blockSize: 1000, maxBlocks: 8 });
  assert.ok((await cached.read(1500, 4000)).equals(data.subarray(1500, 5500)));
  assert.deepEqual(calls, [[1000, 5000]], 'blocks 1..5 fetched by one read');
  assert.ok((await cached.read(2000, 100)).equals(data.subarray(2000, 2100)));
  assert.equal(calls.length, 1, 'served from cache');
  assert.ok((await cached.read(9500, 1000)).equals(data.subarray(9500)), 'short read at end of file');
  failNext = true;
  await assert.rejects(cached.read(7000, 10), /flaky origin/);
  assert.ok((await cached.read(7000, 10)).equals(data.subarray(7000, 7010)), 'retried after failure');
  assert.ok((await cached.read(0, 9000)).equals(data.subarray(0, 9000)), 'wider than the cache: direct read');
});
