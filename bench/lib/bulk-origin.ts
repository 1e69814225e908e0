// The origin for bulk transfers: generates a download from one reused buffer and swallows an upload while
// counting it, so neither costs memory or much CPU and the proxy in front is what gets measured.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BulkOrigin {
  readonly port: number;
  close(): Promise<void>;
}

export async function startBulkOrigin(): Promise<BulkOrigin> {
  const block = Buffer.alloc(256 * 1024, 0x5a);
  const server = http.createServer({ requestTimeout: 0 }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    if (url.pathname === '/blob') {
      const size = Number(url.searchParams.get('size') ?? 0);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
      let sent = 0;
      const pump = () => {
        while (sent < size) {
          const n = Math.min(block.length, size - sent);
          sent += n;
          if (!res.write(n === block.length ? block : block.subarray(0, n))) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    let size = 0;
    req.on('data', (chunk: Buffer) => (size += chunk.length));
    req.on('end', () => {
      const body = JSON.stringify({ size });
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
