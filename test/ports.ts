// A port a test must name before something listens on it (a CA that validates a given port, a child process
// told its port on the command line). Taken below the kernel's ephemeral range, so the outgoing connections of
// everything else on the machine never land on it between the check and the listen.
import net from 'node:net';

const LOW = 20000;
const HIGH = 32000;

function bindable(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port between ${LOW} and ${HIGH}`);
}
