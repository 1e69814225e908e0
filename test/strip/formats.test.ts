// Proves, per format and with independent readers, that stripped originals carry no GPS, camera, date, XMP or
// IPTC data, keep their exact length, and decode to the same pixels/samples as the original.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import ExifReader from 'exifreader';
import { FIXTURES, decodedDigest, exiftoolTags, leaks, planFor, readFixture, strip } from './helpers.js';

const SECRETS = ['FixtureCam', 'Fixture Person', 'SN-4242', 'secret place', 'Fixtureville', 'com.apple.quicktime', '\xa9xyz', 'GPS 48'];

/** Flattens exifreader's expanded result to "group:tag" → description, dropping file-structure groups. */
function exifreaderTags(data: Buffer): Record<string, unknown> {
  let expanded: Record<string, unknown>;
  try {
    expanded = ExifReader.load(data, { expanded: true, includeUnknown: true }) as unknown as Record<string, unknown>;
  } catch (err) {
    if (err instanceof Error && err.name === 'MetadataMissingError') return {};
    throw err;
  }
  const flat: Record<string, unknown> = {};
  for (const [group, tags] of Object.entries(expanded)) {
    if (group === 'file' || group === 'icc' || !tags || typeof tags !== 'object') continue;
    for (const [name, tag] of Object.entries(tags as Record<string, unknown>)) {
      const t = tag as { description?: unknown; value?: unknown };
      flat[`${group}:${name}`] = t && typeof t === 'object' && 'description' in t ? t.description : tag;
    }
  }
  return flat;
}

for (const fixture of FIXTURES) {
  test(`${fixture.file}: stripped copy has no metadata, same length, same decoded content`, async () => {
    const input = await readFixture(fixture.file);
    const plan = await planFor(input);
    assert.equal(plan.format, fixture.format);
    const output = await strip(input);
    assert.equal(output.length, input.length, 'length preserved');
    assert.ok(!output.equals(input), 'something was overwritten');

    const before = await exiftoolTags(input, fixture.file);
    const after = await exiftoolTags(output, fixture.file);
    assert.ok(leaks(before).length > 0, 'fixture must carry metadata for this test to mean anything');
    assert.deepEqual(leaks(after), [], 'exiftool still sees metadata');
    assert.equal(after['ExifTool:Warning'], undefined, 'exiftool finds the stripped file well-formed');
    assert.equal(after['ExifTool:Error'], undefined);
    assert.equal(after['File:FileType'], before['File:FileType']);

    if (fixture.exifreader) {
      const readerBefore = exifreaderTags(input);
      assert.ok(leaks(readerBefore).length > 0, 'exifreader sees the fixture metadata');
      const readerAfter = exifreaderTags(output);
      assert.deepEqual(leaks(readerAfter), [], 'exifreader still sees metadata');
      for (const group of ['gps', 'xmp', 'iptc']) {
        assert.equal(Object.keys((readerAfter as Record<string, object>)[group] ?? {}).length, 0, `no ${group}`);
      }
    }

    assert.ok(
      SECRETS.some((secret) => input.toString('latin1').includes(secret)),
      'fixture holds readable secrets',
    );
    const text = output.toString('latin1');
    for (const secret of SECRETS) assert.ok(!text.includes(secret), `raw bytes still contain ${secret}`);

    assert.equal(await decodedDigest(output, fixture), await decodedDigest(input, fixture), 'decoded content unchanged');
  });
}

test('stripping is idempotent: a stripped file plans to itself', async () => {
  for (const fixture of FIXTURES) {
    const once = await strip(await readFixture(fixture.file));
    const twice = await strip(once);
    assert.ok(twice.equals(once), fixture.file);
  }
});
