// Bench origin: cheap bulk download from a static buffer, a counting upload sink and small GETs, so the
// origin costs as little as possible and the path in front of it is what gets measured. Bench-only.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const block = Buffer.alloc(1024 * 1024, 'p');
const small = new Map<number, Buffer>();

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://o');
  if (url.pathname === '/small') {
    const n = Math.min(Number(url.searchParams.get('n') ?? 1024), 1 << 20);
    let body = small.get(n);
    if (!body) small.set(n, (body = Buffer.alloc(n, 's')));
    res.writeHead(200, { 'content-length': n, 'content-type': 'application/octet-stream' });
    res.end(body);
    return;
  }
  if (url.pathname === '/bulk') {
    const size = Number(url.searchParams.get('size'));
    res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
    let left = size;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, block.length);
        left -= n;
        if (!res.write(n === block.length ? block : block.subarray(0, n))) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
    return;
  }
  if (url.pathname === '/sink') {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(String(n)));
    return;
  }
  res.statusCode = 404;
  res.end();
});
server.keepAliveTimeout = 120_000;
server.listen(Number(process.argv[2] ?? 0), process.argv[3] ?? '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
});
