// `porthole demo`: the sample photo server with Porthole in front, console mail, a demo allowlist.
// Everything on loopback; nothing here is meant for production.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../config/load.js';
import { startGateway } from '../gateway.js';
import { createLogger } from '../log.js';
import { createConsoleMailer } from '../mail/console.js';
import { stopOnSignals } from './serve.js';
import { startSampleImmich } from '../../test/fixtures/sample-immich/server.js';

export async function demo(options: { port: number }): Promise<void> {
  const origin = await startSampleImmich();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-demo-'));
  const config = parseConfig({
    listen: { address: '127.0.0.1', httpPort: options.port },
    hosts: { private: 'photos.localhost', share: 'share.localhost' },
    publicScheme: 'http',
    origin: { url: origin.url },
    gate: { allow: ['demo@example.com', '*@example.org'] },
    mail: { from: 'Porthole demo <porthole@example.com>', transport: 'console' },
    dataDir,
    log: { level: 'warn' },
  }, 'demo config');
  const logger = createLogger(config.log.level);
  const gateway = await startGateway(config, createConsoleMailer(), logger);
  const port = gateway.httpPort;
  const openLink = origin.library.createLink({ description: 'Demo album' });
  const passwordLink = origin.library.createLink({ slug: 'family-trip', password: 'demo', showMetadata: false });
  const shareBase = `http://share.localhost:${port}`;
  process.stdout.write(
    [
      '',
      'Porthole demo is running (sample photo server, NOT for production).',
      '',
      `  Private host: http://photos.localhost:${port}   sign in as demo@example.com (or anyone@example.org)`,
      `  Share host:   ${shareBase}/share/${openLink.key}`,
      `                ${shareBase}/s/${passwordLink.slug}   (password "demo", location and camera data removed)`,
      '',
      'The sign-in code is "mailed" to this terminal: watch for "--- mail to ...".',
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
  const close = gateway.close.bind(gateway);
  stopOnSignals({ ...gateway, close: async () => { await close(); await origin.close(); fs.rmSync(dataDir, { recursive: true, force: true }); } }, logger);
}
