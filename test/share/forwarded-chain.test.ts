// Originals of links that hide metadata are fetched by Porthole itself (src/share/original.ts), not forwarded:
// they must still tell Immich who asked the way every forwarded request does (src/origin/forwarded.ts), keeping
// the chain a trusted proxy reported instead of cutting it to the last address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startShare } from './harness.js';

test('originals of links that hide metadata reach Immich with the trusted proxy chain kept', async () => {
  const s = await startShare({ trustedProxies: ['127.0.0.1/32'] });
  try {
    const lib = s.origin.library;
    const video = [...lib.assets.values()].find((a) => a.type === 'VIDEO' && lib.album.assetIds.includes(a.id));
    if (!video) return void assert.fail('the media fixtures include a video');
    const link = lib.createLink({ showMetadata: false });
    const from = s.origin.received.length;
    const answer = await s.share(`/api/assets/${video.id}/video/playback?key=${link.key}`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    assert.equal(answer.status, 200);
    const reads = s.origin.received.slice(from).filter((r) => r.url.includes('/video/playback'));
    assert.ok(reads.length >= 2, 'ranged reads for the plan, then the file itself');
    for (const read of reads) {
      // The proxy in front (127.0.0.1, trusted) reported 203.0.113.7; Porthole appends the proxy's own address.
      assert.equal(read.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
      assert.equal(read.headers['x-real-ip'], '203.0.113.7');
    }
  } finally {
    await s.close();
  }
});
