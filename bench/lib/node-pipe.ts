// A raw TCP pipe in its own Node process (bench/tunnel/relay-main.ts): no HTTP parsing, no policy, one
// socket-to-socket copy per direction. In the proxy benchmark it marks the ceiling for any proxy written in
// Node on this machine, next to nginx's.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface NodePipe {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

const relay = fileURLToPath(new URL('../tunnel/relay-main.ts', import.meta.url));

export function startNodePipe(targetPort: number): Promise<NodePipe> {
  const child = spawn(process.execPath, ['--import', 'tsx', relay, '127.0.0.1', '127.0.0.1', String(targetPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`node pipe exited early (${code})`)));
    child.stdout.once('data', (line: Buffer) => {
      const { port } = JSON.parse(line.toString()) as { port: number };
      resolve({
        port,
        pid: child.pid!,
        stop: () => new Promise<void>((done) => (child.exitCode !== null ? done() : (child.once('exit', () => done()), child.kill()))),
      });
    });
  });
}
