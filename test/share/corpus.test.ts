// The generated attack corpus (>= 10,000 seeded requests) against the share host. The origin's recorder must
// show zero requests outside the policy and zero requests a link's settings forbid.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { passwordToken } from '../fixtures/sample-immich/server.js';
import { checkQuery, matchRoute } from '../../src/share/engine.js';
import { parseTarget } from '../../src/share/normalise.js';
import { corpusLinks, generateCorpus, type AttackRequest } from './corpus.js';
import { assertOnlyAllowedReachedOrigin, SHARE_HOST, startShare } from './harness.js';

const SEED = 20260727;
const COUNT = 10_000;

const CAMERA = /SampleCam|FixtureCam/;

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
  const s = await startShare({ share: { allowUploads: false, rateLimits: { unknownLinksPerIp: 100_000, passwordFreeFailures: 1_000, passwordFailuresPerClient: 10_000, passwordFailuresPerIp: 100_000 } } });
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

    // 1. Every request the origin saw matches an allowed row, with allowed parameters, headers and cookies.
    assertOnlyAllowedReachedOrigin(s.origin);

    // 2. And nothing a link's own settings forbid.
    const lib = s.origin.library;
    const violations: string[] = [];
    for (const r of s.origin.received) {
      const parsed = parseTarget(r.url);
      if (!parsed.ok) continue;
      const match = matchRoute(r.method, parsed.target.path)!;
      const q = checkQuery(match.rule, parsed.target);
      if (!q.ok || !q.credential) continue;
      const link = q.credential.kind === 'key' ? lib.linkByKey(q.credential.value) : lib.linkBySlug(q.credential.value);
      const lookup = match.rule.id === 'link-me' && r.headers['user-agent'] === undefined;
      if (!link) {
        if (!lookup && match.rule.id !== 'link-me' && match.rule.id !== 'share-page' && match.rule.id !== 'slug-page') violations.push(`unknown link reached ${r.url}`);
        continue;
      }
      const id = match.rule.id;
      const unlocked = (r.headers.cookie ?? '').includes(encodeURIComponent(passwordToken(link)));
      if (link.password && match.rule.password === 'unlocked' && !unlocked) violations.push(`locked password link reached ${id}`);
      if ((id === 'original' || id.startsWith('download')) && !link.allowDownload) violations.push(`download without allowDownload: ${r.url}`);
      if (id === 'download-zip' && !link.showExif) violations.push(`zip with hidden metadata: ${r.url}`);
      if (id === 'upload') violations.push(`upload reached the origin: ${r.url}`);
      if (id.startsWith('timeline') && parsed.target.query.get('albumId') !== link.albumId) violations.push(`foreign timeline: ${r.url}`);
      if (id.startsWith('timeline') && !link.showExif && (parsed.target.query.has('bbox') || parsed.target.query.get('withCoordinates') === 'true')) violations.push(`coordinates with hidden metadata: ${r.url}`);
    }
    assert.deepEqual(violations.slice(0, 10), []);
    // The corpus did exercise the allowed surface too (it is not just refused wholesale).
    assert.ok((statuses.get(200) ?? 0) > COUNT / 10, `some requests succeeded: ${JSON.stringify([...statuses])}`);
    assert.ok((statuses.get(404) ?? 0) > COUNT / 2, 'most were refused');
  } finally {
    await s.close();
  }
});
