// The optional gateway rules on the share host (share.rules): links older than N days, album links without a
// password, uploads. Each refuses with the share host's one 404 (byte for byte the answer to a route that does
// not exist), never reaches Immich for the refused request, is audited with the rule's name and lands in the
// link's record; with the rule off the same request passes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startShare, type Reply, type ShareSetup } from './harness.js';

const DAY = 86_400_000;
const MULTIPART = { 'content-type': 'multipart/form-data; boundary=x' };

async function assertSameAsNoSuchRoute(s: ShareSetup, reply: Reply, what: string): Promise<void> {
  const reference = await s.share('/no/such/route');
  assert.equal(reply.status, 404, what);
  assert.equal(reply.text, reference.text, what);
  assert.equal(reply.headers['content-type'], reference.headers['content-type'], what);
}

function ruleAudited(s: ShareSetup, rule: string): number {
  s.gateway.deps.store.audit.flush();
  return s.gateway.deps.store.audit
    .list({ type: 'share.refused', limit: 1000 })
    .filter((e) => e.detail?.startsWith(`rule ${rule},`))
    .reduce((n, e) => n + (e.count ?? 1), 0);
}

test('rule maxLinkAge: links made longer ago than the limit are refused, younger ones open', async () => {
  for (const maxLinkAge of ['30d', null] as const) {
    const s = await startShare({ share: { rules: { maxLinkAge } } });
    try {
      const lib = s.origin.library;
      const old = lib.createLink({ createdAt: new Date(Date.now() - 40 * DAY).toISOString() });
      const young = lib.createLink({ createdAt: new Date(Date.now() - 20 * DAY).toISOString() });
      const asset = lib.album.assetIds[0]!;
      assert.equal((await s.share(`/share/${young.key}`)).status, 200);
      assert.equal((await s.share(`/api/assets/${asset}/thumbnail?key=${young.key}`)).status, 200);
      const before = s.origin.received.length;
      const page = await s.share(`/share/${old.key}`);
      const thumbnail = await s.share(`/api/assets/${asset}/thumbnail?key=${old.key}`);
      if (maxLinkAge === null) {
        assert.equal(page.status, 200, 'without the rule the old link opens');
        assert.equal(thumbnail.status, 200);
        assert.equal(ruleAudited(s, 'max-link-age'), 0);
        continue;
      }
      await assertSameAsNoSuchRoute(s, page, 'old page');
      await assertSameAsNoSuchRoute(s, thumbnail, 'old thumbnail');
      assert.deepEqual(
        s.origin.received.slice(before).filter((r) => !r.url.startsWith('/api/shared-links/me')),
        [],
        'only the link lookup reached Immich',
      );
      assert.equal(ruleAudited(s, 'max-link-age'), 2);
      assert.equal(s.gateway.deps.store.linkRecords.read(old.key)!.refusals['rule:max-link-age'], 2);
    } finally {
      await s.close();
    }
  }
});

test('rule albumLinksNeedPassword: open album links are refused; password album links and single-photo links open', async () => {
  for (const albumLinksNeedPassword of [true, false]) {
    const s = await startShare({ share: { rules: { albumLinksNeedPassword } } });
    try {
      const lib = s.origin.library;
      const asset = lib.album.assetIds[0]!;
      const openAlbum = lib.createLink({});
      const lockedAlbum = lib.createLink({ password: 'secret' });
      const single = lib.createLink({ assetIds: [asset] });
      const page = await s.share(`/share/${openAlbum.key}`);
      const timeline = await s.share(`/api/timeline/buckets?albumId=${lib.album.id}&key=${openAlbum.key}`);
      assert.equal((await s.share(`/share/${single.key}`)).status, 200);
      assert.equal((await s.share(`/api/assets/${asset}?key=${single.key}`)).status, 200);
      assert.equal((await s.share(`/share/${lockedAlbum.key}`)).status, 200);
      const login = await s.share(`/api/shared-links/login?key=${lockedAlbum.key}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"password":"secret"}',
      });
      assert.equal(login.status, 201);
      const cookie = String(login.headers['set-cookie']).split(';')[0]!;
      assert.equal((await s.share(`/api/timeline/buckets?albumId=${lib.album.id}&key=${lockedAlbum.key}`, { headers: { cookie } })).status, 200);
      if (!albumLinksNeedPassword) {
        assert.equal(page.status, 200, 'without the rule the open album opens');
        assert.equal(timeline.status, 200);
        continue;
      }
      await assertSameAsNoSuchRoute(s, page, 'open album page');
      await assertSameAsNoSuchRoute(s, timeline, 'open album timeline');
      assert.equal(ruleAudited(s, 'album-needs-password'), 2);
      assert.equal(s.gateway.deps.store.linkRecords.read(openAlbum.key)!.refusals['rule:album-needs-password'], 2);
    } finally {
      await s.close();
    }
  }
});

test('rule noUploads: no upload through any link, even with share.allowUploads and a link that allows them', async () => {
  for (const noUploads of [true, false]) {
    const s = await startShare({ share: { allowUploads: true, rules: { noUploads } } });
    try {
      const link = s.origin.library.createLink({ allowUpload: true });
      assert.equal((await s.share(`/share/${link.key}`)).status, 200);
      const before = s.origin.library.uploads.length;
      const reply = await s.share(`/api/assets?key=${link.key}`, { method: 'POST', headers: MULTIPART, body: Buffer.alloc(500, 1) });
      if (!noUploads) {
        assert.equal(reply.status, 201, 'without the rule the upload passes');
        assert.equal(s.origin.library.uploads.length, before + 1);
        continue;
      }
      await assertSameAsNoSuchRoute(s, reply, 'upload');
      assert.equal(s.origin.library.uploads.length, before, 'nothing reached Immich');
      assert.equal(ruleAudited(s, 'no-uploads'), 1);
      assert.equal(s.gateway.deps.store.linkRecords.read(link.key)!.refusals['rule:no-uploads'], 1);
    } finally {
      await s.close();
    }
  }
});
