// The gate's route table for /.porthole/ (src/gate/router.ts): how a new page under the prefix is added, and the
// mistakes it refuses at start. Served over a real HTTP server.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { RequestContext } from '../../src/http/context.js';
import { silentLogger } from '../../src/log.js';
import { createGateRouter, isReserved, type GateRoute } from '../../src/gate/router.js';

const ctx: RequestContext = { client: { ip: '127.0.0.1', viaTrustedProxy: false, scheme: 'http' }, host: 'photos.localhost', rawHost: 'photos.localhost' };
const posted: string[] = [];
const routes: GateRoute[] = [
  {
    path: '/.porthole/example',
    show: (_req, res, _ctx, url) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`shown ${url.searchParams.get('x') ?? ''}`);
    },
    submit: async (req, res) => {
      posted.push(req.url!);
      res.writeHead(204);
      res.end();
    },
  },
  { path: '/.porthole/only-post', submit: () => Promise.reject(new Error('broken on purpose')) },
];

let server: http.Server;
let port: number;
before(async () => {
  const route = createGateRouter(routes, silentLogger);
  server = http.createServer((req, res) => route(req, res, ctx));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function request(method: string, path: string): Promise<{ status: number; allow?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { accept: 'application/json' }, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, allow: res.headers.allow, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a page added to the table answers reads and posts; other methods get 405 naming the ones it takes', async () => {
  assert.deepEqual(await request('GET', '/.porthole/example?x=1'), { status: 200, allow: undefined, body: 'shown 1' });
  assert.equal((await request('POST', '/.porthole/example')).status, 204);
  assert.deepEqual(posted, ['/.porthole/example']);
  const put = await request('PUT', '/.porthole/example');
  assert.equal(put.status, 405);
  assert.equal(put.allow, 'GET, HEAD, POST');
  const get = await request('GET', '/.porthole/only-post');
  assert.equal(get.status, 405);
  assert.equal(get.allow, 'POST');
});

test('a path not in the table is a 404; a failing post is a 400, not a crash', async () => {
  assert.equal((await request('GET', '/.porthole/examples')).status, 404);
  assert.equal((await request('GET', '/.porthole/example/')).status, 404);
  assert.equal((await request('POST', '/.porthole/only-post')).status, 400);
});

test('the table refuses a route outside the prefix and a path listed twice', () => {
  assert.throws(() => createGateRouter([{ path: '/api/example', show: () => undefined }], silentLogger), /outside/);
  assert.throws(() => createGateRouter([routes[0]!, routes[0]!], silentLogger), /twice/);
});

test('the reserved prefix is recognised however the dot is spelled, and nothing else is', () => {
  for (const url of ['/.porthole', '/.porthole/', '/.porthole?x', '/%2eporthole/login', '/%2Eporthole/x', '/.PORTHOLE/login']) assert.equal(isReserved(url), true, url);
  for (const url of ['/', '/.portholes', '/porthole/login', '/api/.porthole', '/%2fporthole']) assert.equal(isReserved(url), false, url);
});
