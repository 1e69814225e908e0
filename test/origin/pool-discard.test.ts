// A connection the pool has let go is never lent out again, even while its dialer takes its time closing it:
// through the tunnel, a stream the connector is asked to reset stays open and writable for a round trip, and a
// request sent on it then would be cut off with it. Real TCP sockets stand in for tunnel streams here, and the
// dialer's close() leaves them open, as that round trip does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Origin } from '../../src/origin/origin.js';
import { OriginPool, type CloseHow } from '../../src/origin/pool.js';
import { originRequest, readSmallBody } from '../../src/origin/request.js';
import { until } from '../until.js';

test('a keep-alive connection that sends bytes nobody asked for is not lent out while it is being closed', async () => {
  /** Requests each origin connection received, in the order the connections came. */
  const requests: number[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    const index = requests.push(0) - 1;
    sockets.push(socket);
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      while (head.includes('\r\n\r\n')) {
        head = head.slice(head.indexOf('\r\n\r\n') + 4);
        requests[index]!++;
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const closes: CloseHow[] = [];
  const pool = new OriginPool({
    kind: 'stream',
    open: () => net.connect(port, '127.0.0.1'),
    close: (_socket, how) => void closes.push(how),
  });
  const origin: Origin = {
    pool,
    target: { protocol: 'http:', hostname: '127.0.0.1', port },
    describe: () => 'stream dialer (test)',
    unavailable: () => null,
    close: async () => pool.close(),
  };
  const get = async () => (await readSmallBody((await originRequest(origin, { path: '/', timeoutMs: 30_000 })).body, 1024))!.toString();
  try {
    assert.equal(await get(), 'ok');
    // The idle connection's origin sends bytes after the answer was complete: the pool lets it go as spent.
    sockets[0]!.write('unasked');
    await until(() => closes.includes('abort'), 'the pool to let the connection go');
    assert.equal(await get(), 'ok');
    assert.deepEqual(requests, [1, 1], 'the second request went out on a new connection');
  } finally {
    for (const s of sockets) s.destroy();
    await origin.close();
    server.close();
  }
});
