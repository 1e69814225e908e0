// Delay link for the bench (the kernel here has no netem): a TCP forwarder that holds every chunk for a
// fixed time in each direction, so 10 ms each way gives a 20 ms RTT. Application-level flow control
// (HTTP/2 and SSH channel windows) sees the full RTT; TCP's own window does not (this proxy buffers up to
// a cap per direction), which favours no transport in particular. Bench-only.
import net from 'node:net';

const [targetHost, targetPort, delayMs] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4] ?? 10)];
const CAP = 64 * 1024 * 1024;

function delayed(from: net.Socket, to: net.Socket): void {
  let queued = 0;
  from.on('data', (chunk: Buffer) => {
    queued += chunk.length;
    if (queued > CAP) from.pause();
    setTimeout(() => {
      to.write(chunk);
      queued -= chunk.length;
      if (queued < CAP / 2 && from.isPaused()) from.resume();
    }, delayMs);
  });
  from.on('end', () => setTimeout(() => to.end(), delayMs));
}

const server = net.createServer({ allowHalfOpen: true }, (a) => {
  const b = net.connect({ port: targetPort, host: targetHost, allowHalfOpen: true });
  for (const s of [a, b]) s.setNoDelay(true);
  delayed(a, b);
  delayed(b, a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
});
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: (server.address() as net.AddressInfo).port }) + '\n'));
