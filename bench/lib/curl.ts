// Bulk transfers with curl: a download to /dev/null and an upload of generated zeros from a pipe, so no
// data ever lands on disk. Reports MB/s (10^6 bytes per second, as curl does).
import { spawn } from 'node:child_process';

export interface Transfer {
  bytes: number;
  mbPerSec: number;
  status: number;
}

function run(command: string, args: string[], stdinFrom?: { bytes: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const curl = spawn(command, args, { stdio: [stdinFrom ? 'pipe' : 'ignore', 'pipe', 'inherit'] });
    let out = '';
    curl.stdout!.on('data', (chunk: Buffer) => (out += chunk));
    curl.on('error', reject);
    curl.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}`))));
    if (stdinFrom) {
      // Zeros from one reused buffer: the generator costs next to nothing.
      const block = Buffer.alloc(1024 * 1024);
      let left = stdinFrom.bytes;
      const stdin = curl.stdin!;
      stdin.on('error', () => {});
      const pump = () => {
        while (left > 0) {
          const n = Math.min(block.length, left);
          left -= n;
          if (!stdin.write(n === block.length ? block : block.subarray(0, n))) return void stdin.once('drain', pump);
        }
        stdin.end();
      };
      pump();
    }
  });
}

const FORMAT = '%{http_code} %{size_download} %{size_upload} %{speed_download} %{speed_upload}';

export async function download(url: string, headers: string[]): Promise<Transfer> {
  const out = await run('curl', ['-sS', '-o', '/dev/null', '-w', FORMAT, ...headers.flatMap((h) => ['-H', h]), url]);
  const [status, size, , speed] = out.trim().split(' ').map(Number) as [number, number, number, number];
  return { status, bytes: size, mbPerSec: speed / 1e6 };
}

export async function upload(url: string, headers: string[], bytes: number): Promise<Transfer> {
  const out = await run(
    'curl',
    [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      FORMAT,
      '-X',
      'POST',
      '-T',
      '-',
      '-H',
      `Content-Length: ${bytes}`,
      '-H',
      'Transfer-Encoding:',
      '-H',
      'Expect:',
      ...headers.flatMap((h) => ['-H', h]),
      url,
    ],
    { bytes },
  );
  const [status, , size, , speed] = out.trim().split(' ').map(Number) as [number, number, number, number, number];
  return { status, bytes: size, mbPerSec: speed / 1e6 };
}
