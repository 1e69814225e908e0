// `porthole demo`: the sample photo server with Porthole in front, console mail, a demo allowlist, three share
// links (open; password and metadata hidden; downloads on and metadata hidden, with an exiftool one-liner that
// shows the GPS at the origin and none through the share host).
// With --tunnel the gateway reaches the sample server only through a home connector (`porthole connect`
// started as a second process), as on a VPS. With --https both hosts are served over HTTPS (HTTP/2; HTTP/1.1 for
// older clients and WebSockets) with a self-signed certificate (the browser warns once) and plain HTTP
// redirects. Everything on loopback; not for production.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../config/load.js';
import { startGateway } from '../gateway.js';
import { createLogger } from '../log.js';
import { createConsoleMailer } from '../mail/console.js';
import { stopOnSignals } from './serve.js';
import { startSampleImmich } from '../demo/sample-immich/server.js';
import { createTunnelToken, encodeToken } from '../tunnel/index.js';
import type { Gateway } from '../gateway.js';

/** Enrols a connector and starts `porthole connect` as its own process, pointed at the sample server. */
function startDemoConnector(gateway: Gateway, originUrl: string): ChildProcess {
  const { id, secret } = createTunnelToken(gateway.deps.store.tunnelTokens, 'demo-home');
  const https = gateway.https!;
  const token = encodeToken({ id, secret, gateway: `127.0.0.1:${https.port}`, fingerprint: https.certificate.fingerprint });
  const bin = new URL('../../bin/porthole.js', import.meta.url);
  const exists = fs.existsSync(bin) ? bin : new URL('../../../bin/porthole.js', import.meta.url);
  return spawn(process.execPath, [exists.pathname, 'connect', '--origin', originUrl, '--name', 'demo-home'], {
    env: { ...process.env, PORTHOLE_TUNNEL_TOKEN: token },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

export async function demo(options: { port: number; tunnel?: boolean; https?: boolean; httpsPort?: number }): Promise<void> {
  const origin = await startSampleImmich();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-demo-'));
  const config = parseConfig(
    {
      listen: { address: '127.0.0.1', httpPort: options.port, ...(options.https ? { httpsPort: options.httpsPort ?? 8443 } : options.tunnel ? { httpsPort: 0 } : {}) },
      tunnel: { enabled: Boolean(options.tunnel) },
      hosts: { private: 'photos.localhost', share: 'share.localhost' },
      publicScheme: options.https ? 'https' : 'http',
      // A self-signed certificate must never be pinned by HSTS in a browser that visits the real site later.
      ...(options.https ? { tls: { redirectHttp: true, hsts: false } } : {}),
      origin: { url: origin.url },
      gate: { allow: ['demo@example.com', '*@example.org'], admins: ['demo@example.com'] },
      mail: { from: 'Porthole demo <porthole@example.com>', transport: 'console' },
      dataDir,
      log: { level: 'warn' },
    },
    'demo config',
  );
  const logger = createLogger(config.log.level);
  const gateway = await startGateway(config, createConsoleMailer(), logger);
  const port = options.https ? gateway.https!.port : gateway.httpPort;
  const scheme = options.https ? 'https' : 'http';
  const connector = options.tunnel ? startDemoConnector(gateway, origin.url) : undefined;
  const openLink = origin.library.createLink({ description: 'Demo album' });
  const passwordLink = origin.library.createLink({ slug: 'family-trip', password: 'demo', showMetadata: false });
  // Downloads on with metadata hidden: the one setting where Porthole's cleaning of originals can be seen.
  const cleanLink = origin.library.createLink({ description: 'Demo album, location hidden', showMetadata: false });
  origin.library.updateLink(cleanLink.id, { allowDownload: true });
  const shareBase = `${scheme}://share.localhost:${port}`;
  const photo = origin.library.album.assetIds[0]!;
  const originalPath = `/api/assets/${photo}/original?key=${cleanLink.key}`;
  // -k with --https: the demo's certificate is self-signed.
  const exiftool = `p='${originalPath}'; for h in ${origin.url} ${shareBase}; do echo "$h"; curl -s${options.https ? 'k' : ''} "$h$p" | exiftool -f -s -GPSPosition -Make -Model -; done`;
  process.stdout.write(
    [
      '',
      'Porthole demo is running (sample photo server, NOT for production).',
      '',
      `  Private host: ${scheme}://photos.localhost:${port}   sign in as demo@example.com (or anyone@example.org)`,
      `  Admin page:   ${scheme}://photos.localhost:${port}/.porthole/admin   (for demo@example.com)`,
      `  Share host:   ${shareBase}/share/${openLink.key}`,
      `                ${shareBase}/s/${passwordLink.slug}   (password "demo", location and camera data removed)`,
      `                ${shareBase}/share/${cleanLink.key}   (downloads on, location and camera data removed)`,
      '',
      'The same original straight from the sample server (GPS and camera) and through the share host (none left),',
      'with curl and exiftool:',
      `  ${exiftool}`,
      '',
      ...(options.https
        ? [
            `HTTPS (HTTP/2) with a self-signed certificate (fingerprint ${gateway.https!.certificate.fingerprint.slice(0, 16)}...): the browser warns once per host.`,
            `Plain HTTP on port ${gateway.httpPort} redirects here.`,
            '',
          ]
        : []),
      ...(connector
        ? [
            `Tunnel mode: the gateway reaches the sample server only through the connector (process ${connector.pid}),`,
            `which dialled the gateway's HTTPS port ${gateway.https!.port}. Stop it: the private host says the connector is offline,`,
            'share links say "temporarily unavailable" (guests learn nothing about how the photos are reached).',
            '',
          ]
        : []),
      'The sign-in code is "mailed" to this terminal: watch for "--- mail to ...".',
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
  const close = gateway.close.bind(gateway);
  stopOnSignals(
    {
      ...gateway,
      close: async () => {
        connector?.kill();
        await close();
        await origin.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
      },
    },
    logger,
  );
}
