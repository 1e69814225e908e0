// The generated attack corpus (>= 10,000 seeded requests) against the share host. The origin's recorder must
// show zero requests outside the allowed shapes and zero requests a link's settings forbid. What is allowed is
// judged by an oracle written from Immich's share surface (./oracle.ts), never by src/share itself, so a policy
// row broader than the surface fails here.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { passwordToken } from '../../src/demo/sample-immich/server.js';
import { corpusLinks, generateCorpus, type AttackRequest } from './corpus.js';
import { DIRECT_MARK, SHARE_HOST, startShare } from './harness.js';
import { judge } from './oracle.js';

const SEED = 20260727;
const COUNT = 10_000;

const CAMERA = /SampleCam|FixtureCam/;

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Resolves with the status and whether the answer carried camera tags (original bytes with metadata). */
function fire(port: number, agent: http.Agent, request: AttackRequest): Promise<{ status: number; camera: boolean }> {
  return new Promise((resolve) => {
    let req: http.ClientRequest;
    try {
      const headers: http.OutgoingHttpHeaders = { host: SHARE_HOST, ...request.headers };
      if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
      req = http.request({ host: '127.0.0.1', port, agent, method: request.method, path: request.target, headers, setHost: false });
    } catch {
      return resolve({ status: -1, camera: false }); // the client itself refuses to send it: nothing to test
    }
    req.on('error', () => resolve({ status: 0, camera: false }));
    req.on('response', (res) => {
      let camera = false;
      res.on('data', (chunk: Buffer) => (camera ||= CAMERA.test(chunk.toString('latin1'))));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, camera }));
      res.on('error', () => resolve({ status: 0, camera }));
    });
    req.end(request.body);
  });
}

test(`attack corpus: ${COUNT} seeded requests reach no forbidden route and nothing a link forbids`, async () => {
  const s = await startShare({
    // One client firing 10,000 requests as fast as it can: the listener's per-client request rate (tested in
    // test/listener/request-rate.test.ts) would answer most of them 429 before the share policy is reached.
    listen: { address: '127.0.0.1', httpPort: 0, requestRate: false },
    share: { allowUploads: false, rateLimits: { unknownLinksPerIp: 100_000, passwordFreeFailures: 1_000, passwordFailuresPerClient: 10_000, passwordFailuresPerIp: 100_000 } },
  });
  try {
    const links = corpusLinks(s.origin);
    const corpus = generateCorpus(SEED, COUNT, links);
    assert.equal(corpus.length, COUNT);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const statuses = new Map<number, number>();
    const leaked: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < corpus.length) {
          const request = corpus[next++]!;
          const { status, camera } = await fire(s.gateway.httpPort, agent, request);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          // Links that hide metadata must never hand out camera tags, whatever the spelling of the request.
          if (camera && (request.target.includes(links.hidden) || request.target.includes(`slug=${links.slug}`))) leaked.push(`${request.method} ${request.target}`);
        }
      }),
    );
    assert.deepEqual(leaked, []);
    agent.destroy();
    const sent = COUNT - (statuses.get(-1) ?? 0);
    assert.ok(sent >= COUNT * 0.95, `most of the corpus was sent (${sent})`);

    // 1. Every request the origin saw has an allowed shape, and no other credential, header or cookie.
    const outside: string[] = [];
    const reached = s.origin.received.filter((r) => r.headers[DIRECT_MARK] === undefined);
    for (const r of reached) {
      const verdict = judge(r.method, r.url);
      if (!verdict.ok) outside.push(`${r.method} ${r.url}: ${verdict.reason}`);
      for (const h of ['authorization', 'x-api-key', 'x-immich-user-token', 'x-immich-session-token', 'x-immich-checksum', 'x-immich-share-key', 'x-immich-share-slug']) {
        if (r.headers[h] !== undefined) outside.push(`${r.method} ${r.url}: header ${h}`);
      }
      const cookie = r.headers.cookie;
      if (cookie !== undefined && !/^immich_shared_link_token=[^;]+$/.test(cookie)) outside.push(`${r.method} ${r.url}: cookie ${cookie}`);
    }
    assert.deepEqual(outside.slice(0, 10), [], `${outside.length} requests reached the origin outside the allowed shapes`);
    assert.ok(reached.length > COUNT / 20, `the corpus reached the origin at all (${reached.length} requests)`);

    // 2. And nothing a link's own settings forbid.
    const lib = s.origin.library;
    const violations: string[] = [];
    for (const r of reached) {
      const verdict = judge(r.method, r.url);
      if (!verdict.ok || !verdict.credential) continue;
      const { kind, value } = verdict.credential;
      const link = kind === 'key' ? lib.linkByKey(value) : lib.linkBySlug(safeDecode(value));
      const id = verdict.id;
      const lookup = id === 'link-me' && r.headers['user-agent'] === undefined;
      if (!link) {
        if (!lookup && id !== 'link-me') violations.push(`unknown link reached ${r.url}`);
        continue;
      }
      const unlocked = (r.headers.cookie ?? '').includes(encodeURIComponent(passwordToken(link)));
      // Immich checks a link's password only on these two (share-surface section 1.5); everything else needs the unlock.
      const passwordExempt = id === 'link-me' || id === 'link-login';
      if (link.password && !passwordExempt && !unlocked) violations.push(`locked password link reached ${id}`);
      if ((id === 'original' || id.startsWith('download')) && !link.allowDownload) violations.push(`download without allowDownload: ${r.url}`);
      if (id === 'download-zip' && !link.showExif) violations.push(`zip with hidden metadata: ${r.url}`);
      if (id === 'upload') violations.push(`upload reached the origin: ${r.url}`);
      const query = new URLSearchParams(r.url.slice(r.url.indexOf('?') + 1));
      if (id.startsWith('timeline') && query.getAll('albumId').some((a) => a !== link.albumId)) violations.push(`foreign timeline: ${r.url}`);
      if (id.startsWith('timeline') && query.getAll('albumId').length !== 1) violations.push(`timeline without exactly one album: ${r.url}`);
      if (id === 'thumbnail' && !link.showExif && query.getAll('size').some((v) => v === 'fullsize')) violations.push(`full-size thumbnail with hidden metadata: ${r.url}`);
      if (id === 'map-markers' && !r.url.startsWith(`/api/albums/${link.albumId}/`)) violations.push(`foreign album's map: ${r.url}`);
      if (id.startsWith('timeline') && !link.showExif && (query.has('bbox') || query.getAll('withCoordinates').some((v) => v !== 'false')))
        violations.push(`coordinates with hidden metadata: ${r.url}`);
    }
    assert.deepEqual(violations.slice(0, 10), []);
    // The corpus did exercise the allowed surface too (it is not just refused wholesale).
    assert.ok((statuses.get(200) ?? 0) > COUNT / 10, `some requests succeeded: ${JSON.stringify([...statuses])}`);
    assert.ok((statuses.get(404) ?? 0) > COUNT / 2, 'most were refused');
  } finally {
    await s.close();
  }
});
