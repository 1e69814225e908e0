// A throwaway redis-server (Debian's) for tests: loopback only, a port of its own, no persistence unless a
// test saves on purpose (SAVE writes dump.rdb in its own temp folder, which a restart on the same folder loads).
// Stopped by its PID.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../ports.js';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Sends one command in the inline protocol and returns the raw reply. */
  command(...args: string[]): Promise<string>;
  /** Kills the server (SIGKILL: no save); the port stays reserved for start(). */
  kill(): Promise<void>;
  /** Starts it again on the same port and folder (loading dump.rdb if a test saved one). */
  start(): Promise<void>;
  close(): Promise<void>;
}

function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve()));
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server did not listen on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export async function startTestRedis(options: { password?: string } = {}): Promise<TestRedis> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-redis-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'];
    if (options.password) args.push('--requirepass', options.password);
    child = spawn('redis-server', args, { stdio: 'ignore' });
    await waitForPort(port);
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    process.kill(running.pid!, 'SIGKILL');
    await exited;
  };
  await start();
  return {
    port,
    dir,
    url: `redis://127.0.0.1:${port}`,
    command: (...args) =>
      new Promise((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1');
        let reply = '';
        const auth = options.password ? `AUTH ${options.password}\r\n` : '';
        socket.once('connect', () => socket.write(`${auth}${args.join(' ')}\r\nQUIT\r\n`));
        socket.on('data', (d: Buffer) => (reply += d.toString()));
        socket.once('error', reject);
        socket.once('close', () => resolve(reply));
      }),
    kill,
    start,
    async close() {
      await kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
