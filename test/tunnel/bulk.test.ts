// 1 GiB up and 1 GiB down through the tunnel, generated on the fly and checked by SHA-256 at the far end.
// Kept in one file so the big transfers run once per suite.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { patternSha256, patternStream, startOrigin, type TestOrigin } from './fixtures/origin.js';
import { startGateway, tempDir, type TestGateway } from './fixtures/gateway.js';
import { spawnConnector, type ConnectorProcess } from './fixtures/connector-process.js';
import { request } from './fixtures/client.js';

const GiB = 1024 * 1024 * 1024;
let origin: TestOrigin;
let gateway: TestGateway;
let connector: ConnectorProcess;
let expected: string;
const data = tempDir();

before(async () => {
  expected = await patternSha256(GiB);
  origin = await startOrigin();
  gateway = await startGateway({ dataDir: data.dir });
  connector = spawnConnector({ token: gateway.newToken().token, origin: origin.url.href });
  await connector.waitFor('connected');
  await gateway.waitForConnectors(1);
});

after(async () => {
  await connector.kill();
  await gateway.close();
  await origin.close();
  data.remove();
});

test('1 GiB upload arrives whole (sha256 at the origin equals the sent body)', async () => {
  const reply = await request(gateway.httpPort, '/upload?id=bulk', {
    method: 'POST',
    body: patternStream(GiB),
    headers: { 'content-length': GiB },
  });
  assert.equal(reply.status, 200);
  assert.deepEqual(JSON.parse(reply.body.toString()), { bytes: GiB, sha256: expected });
});

test('1 GiB download arrives whole (sha256 at the client equals the origin body)', async () => {
  const { bytes, sha256 } = await new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: gateway.httpPort, path: `/download?size=${GiB}`, headers: { host: 'photos.localhost' }, agent: false }, (res) => {
        assert.equal(res.statusCode, 200);
        const hash = crypto.createHash('sha256');
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          hash.update(c);
        });
        res.on('end', () => resolve({ bytes: n, sha256: hash.digest('hex') }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
  assert.equal(bytes, GiB);
  assert.equal(sha256, expected);
});
