// Raw TCP pipe for the bench baseline: one user-space copy per direction, no framing, no crypto.
import net from 'node:net';

const [listenHost, targetHost, targetPort] = [process.argv[2]!, process.argv[3]!, Number(process.argv[4])];
const server = net.createServer((a) => {
  a.setNoDelay(true);
  const b = net.connect(targetPort, targetHost);
  b.setNoDelay(true);
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
});
server.listen(0, listenHost, () => process.stdout.write(JSON.stringify({ port: (server.address() as net.AddressInfo).port }) + '\n'));
