// Starts Debian's caddy on loopback as the benchmark's HTTP/2 reference: `tls internal` (its own local CA, kept
// in a temp dir and never installed into a trust store), HTTP/1.1 and HTTP/2 only (no HTTP/3: the browser
// would be steered to QUIC by Alt-Svc), a plain reverse_proxy to one upstream, admin API and access log off.
// 127.0.0.1 is a site name too: wrk sends the address it connects to as SNI.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { need } from './need.js';

export const CADDY = '/usr/bin/caddy';

export interface CaddyInstance {
  readonly port: number;
  readonly pid: number;
  readonly version: string;
  stop(): Promise<void>;
}

export async function startCaddy(dir: string, hostnames: string[], upstreamPort: number): Promise<CaddyInstance> {
  need(CADDY, 'caddy', 'the HTTP/2 reverse proxy the first-screen benchmark compares with');
  const home = path.join(dir, 'caddy');
  fs.mkdirSync(home, { recursive: true });
  const port = await freePort();
  const httpPort = await freePort();
  const caddyfile = path.join(home, 'Caddyfile');
  fs.writeFileSync(
    caddyfile,
    `{
  admin off
  auto_https disable_redirects
  skip_install_trust
  http_port ${httpPort}
  https_port ${port}
  default_sni ${hostnames[0]}
  storage file_system ${path.join(home, 'data')}
  servers {
    protocols h1 h2
  }
}

${[...hostnames, '127.0.0.1'].map((h) => `https://${h}:${port}`).join(', ')} {
  bind 127.0.0.1
  tls internal
  reverse_proxy 127.0.0.1:${upstreamPort}
}
`,
  );
  const env = { ...process.env, HOME: home, XDG_DATA_HOME: path.join(home, 'data'), XDG_CONFIG_HOME: path.join(home, 'config') };
  const child: ChildProcess = spawn(CADDY, ['run', '--adapter', 'caddyfile', '--config', caddyfile], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  try {
    await waitForPort(port, child, 'caddy');
  } catch (error) {
    child.kill();
    throw new Error(`${(error as Error).message}\n${log}`, { cause: error });
  }
  return {
    port,
    pid: child.pid!,
    version: execFileSync(CADDY, ['version'], { encoding: 'utf8' }).trim().split(' ')[0]!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
