// The origin transport's failures, each with its stable code, over real sockets: nothing listening
// (ORIGIN_UNREACHABLE), an origin that never answers (ORIGIN_TIMEOUT), one that cuts its answer short
// (ORIGIN_RESET), a malformed answer (ORIGIN_BAD_RESPONSE), no home connector (TUNNEL_DOWN); and how the
// refusal page maps each code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { originRefusal } from '../../src/http/refuse.js';
import { createDirectOrigin } from '../../src/origin/direct.js';
import { OriginBadResponseError, OriginError, OriginResetError, OriginTimeoutError, OriginUnreachableError, toOriginError, TunnelDownError } from '../../src/origin/errors.js';
import type { Origin } from '../../src/origin/origin.js';
import { OriginPool } from '../../src/origin/pool.js';
import { originRequest, readSmallBody } from '../../src/origin/request.js';

/** A raw TCP origin that does `script` with every connection once the request head is in. */
async function rawOrigin(script: (socket: net.Socket) => void): Promise<{ url: URL; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        head = '';
        script(socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function failure(promise: Promise<unknown>): Promise<OriginError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof OriginError, `an OriginError, got ${String(error)}`);
    return error;
  }
  assert.fail('the request did not fail');
}

test('nothing listening: ORIGIN_UNREACHABLE, connection refused, with the system code kept', async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const origin = createDirectOrigin(new URL(`http://127.0.0.1:${port}`));
  try {
    const error = await failure(originRequest(origin, { path: '/api/server/ping', timeoutMs: 30_000 }));
    assert.equal(error.code, 'ORIGIN_UNREACHABLE');
    assert.ok(error instanceof OriginUnreachableError);
    assert.equal(error.reason, 'connection-refused');
    assert.equal(error.systemCode, 'ECONNREFUSED');
    assert.deepEqual(originRefusal(error, 'direct test'), {
      kind: 'origin-unreachable',
      cause: 'connection-refused',
      origin: 'direct test',
      code: 'ORIGIN_UNREACHABLE, ECONNREFUSED',
    });
  } finally {
    await origin.close();
  }
});

test('an origin that takes the request and never answers: ORIGIN_TIMEOUT after the idle timeout', async () => {
  const silent = await rawOrigin(() => {});
  const origin = createDirectOrigin(silent.url);
  try {
    const error = await failure(originRequest(origin, { path: '/slow', timeoutMs: 300 }));
    assert.equal(error.code, 'ORIGIN_TIMEOUT');
    assert.ok(error instanceof OriginTimeoutError);
    assert.equal(originRefusal(error, 'x').kind, 'origin-unreachable');
    assert.equal((originRefusal(error, 'x') as { cause: string }).cause, 'timeout');
  } finally {
    await origin.close();
    await silent.close();
  }
});

test('an origin that resets mid-body: the body stream fails with ORIGIN_RESET', async () => {
  const cut = await rawOrigin((socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial', () => socket.resetAndDestroy());
  });
  const origin = createDirectOrigin(cut.url);
  try {
    const answer = await originRequest(origin, { path: '/big', timeoutMs: 30_000 });
    assert.equal(answer.status, 200);
    const error = await failure(readSmallBody(answer.body, 1_000_000));
    assert.equal(error.code, 'ORIGIN_RESET');
    assert.ok(error instanceof OriginResetError);
  } finally {
    await origin.close();
    await cut.close();
  }
});

test('a malformed answer: ORIGIN_BAD_RESPONSE, never a response', async () => {
  const bad = await rawOrigin((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'));
  const origin = createDirectOrigin(bad.url);
  try {
    const error = await failure(originRequest(origin, { path: '/bad', timeoutMs: 30_000 }));
    assert.equal(error.code, 'ORIGIN_BAD_RESPONSE');
    assert.ok(error instanceof OriginBadResponseError);
    assert.equal((originRefusal(error, 'x') as { cause: string }).cause, 'other');
  } finally {
    await origin.close();
    await bad.close();
  }
});

test('tunnel mode without a connector: TUNNEL_DOWN, which the refusal page answers as the connector page (503)', async () => {
  const since = new Date('2026-01-02T03:04:05Z');
  let dialled = 0;
  const pool = new OriginPool({ kind: 'stream', open: () => (dialled++, new TunnelDownError('the home connector is offline', since, 'ETUNNELOFFLINE')) });
  let attached = false;
  const origin: Origin = {
    pool,
    target: { protocol: 'http:', hostname: 'immich-server', port: 2283 },
    describe: () => 'tunnel (test)',
    unavailable: () => (attached ? null : { kind: 'tunnel-offline', since }),
    close: async () => pool.close(),
  };
  // Said before anything is dialled.
  const early = await failure(originRequest(origin, { path: '/api/server/ping', timeoutMs: 30_000 }));
  assert.equal(early.code, 'TUNNEL_DOWN');
  assert.equal(dialled, 0);
  assert.deepEqual(originRefusal(early, 'tunnel (test)'), { kind: 'tunnel-offline', since });
  // The connector went away between the check and the dial: the same code from the pool itself.
  attached = true;
  const late = await failure(originRequest(origin, { path: '/api/server/ping', timeoutMs: 30_000 }));
  assert.equal(late.code, 'TUNNEL_DOWN');
  assert.equal(dialled, 1);
  await origin.close();
});

test('system and connector codes map to one stable code each', () => {
  const cases: Array<[string, string]> = [
    ['ENOTFOUND', 'ORIGIN_UNREACHABLE'],
    ['EAI_AGAIN', 'ORIGIN_UNREACHABLE'],
    ['ECONNREFUSED', 'ORIGIN_UNREACHABLE'],
    ['EHOSTUNREACH', 'ORIGIN_UNREACHABLE'],
    ['ETIMEDOUT', 'ORIGIN_TIMEOUT'],
    ['ECONNRESET', 'ORIGIN_RESET'],
    ['EPIPE', 'ORIGIN_RESET'],
    ['ERR_HTTP2_STREAM_ERROR', 'ORIGIN_RESET'],
    ['ETUNNELOFFLINE', 'TUNNEL_DOWN'],
    ['ERR_HTTP2_STREAM_CANCEL', 'TUNNEL_DOWN'],
    ['ERR_HTTP2_GOAWAY_SESSION', 'TUNNEL_DOWN'],
    ['ESOMETHINGELSE', 'ORIGIN_UNREACHABLE'],
  ];
  for (const [system, stable] of cases) {
    const error = toOriginError(Object.assign(new Error(system), { code: system }));
    assert.equal(error.code, stable, system);
    assert.equal(error.systemCode, system);
  }
  const named = toOriginError(Object.assign(new Error('x'), { code: 'ENOTFOUND' }));
  assert.equal((originRefusal(named, 'o') as { cause: string }).cause, 'name-not-found');
  // An OriginError passes through unchanged.
  const own = new OriginResetError('cut', 'ECONNRESET');
  assert.equal(toOriginError(own), own);
});
