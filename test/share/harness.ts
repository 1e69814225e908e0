// Test harness for the share host: the sample Immich and a real gateway on ephemeral ports with a temp data
// dir, plus a keep-alive client that talks to either the share host or the origin directly.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';
import { startSampleImmich, type SampleImmich, type SampleOptions } from '../../src/demo/sample-immich/server.js';
import { matchRoute, checkQuery } from '../../src/share/engine.js';
import { parseTarget } from '../../src/share/normalise.js';

export const PRIVATE_HOST = 'photos.localhost';
export const SHARE_HOST = 'share.localhost';
/** Marks requests a test sent straight to the origin, so the recorder check can tell them from Porthole's. */
export const DIRECT_MARK = 'x-test-direct-to-origin';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export interface RequestOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  host?: string;
  /** The client address to connect from (the loopback range has many: 127.0.0.2, 127.0.0.3, ...). */
  localAddress?: string;
}

export function send(port: number, agent: http.Agent, target: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { host: options.host ?? SHARE_HOST, ...options.headers };
    if (options.body !== undefined && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) {
      headers['content-length'] = Buffer.byteLength(options.body);
    }
    const req = http.request({ host: '127.0.0.1', port, agent, method: options.method ?? 'GET', path: target, headers, setHost: false, localAddress: options.localAddress });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8'), json: () => JSON.parse(body.toString('utf8')) });
      });
    });
    req.end(options.body);
  });
}

export interface ShareSetup {
  origin: SampleImmich;
  gateway: Gateway;
  agent: http.Agent;
  /** Through Porthole's share host. */
  share(target: string, options?: RequestOptions): Promise<Reply>;
  /** Straight to the sample Immich (what Immich itself would do). */
  direct(target: string, options?: RequestOptions): Promise<Reply>;
  close(): Promise<void>;
}

export async function startShare(
  overrides: Partial<ConfigInput> & { share?: ConfigInput['share'] } = {},
  sample: SampleOptions = {},
  gatewayOptions: { now?: () => number } = {},
): Promise<ShareSetup> {
  const origin = await startSampleImmich(0, '127.0.0.1', sample);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-share-test-'));
  const cleanup = async () => {
    await origin.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  let gateway: Gateway;
  try {
    gateway = await startGateway(
      configFor(origin.url, dataDir, overrides),
      createConsoleMailer(() => undefined),
      silentLogger,
      { now: gatewayOptions.now },
    );
  } catch (error) {
    await cleanup();
    throw error;
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  return {
    origin,
    gateway,
    agent,
    share: (target, options) => send(gateway.httpPort, agent, target, options),
    direct: (target, options) => send(origin.port, agent, target, { host: `127.0.0.1:${origin.port}`, ...options, headers: { ...options?.headers, [DIRECT_MARK]: '1' } }),
    async close() {
      agent.destroy();
      await gateway.close();
      await cleanup();
    },
  };
}

export function configFor(originUrl: string, dataDir: string, overrides: Partial<ConfigInput>) {
  return parseConfig({
    listen: { address: '127.0.0.1', httpPort: 0 },
    hosts: { private: PRIVATE_HOST, share: SHARE_HOST },
    publicScheme: 'http',
    origin: { url: originUrl },
    gate: { allow: ['owner@example.com'] },
    mail: { from: 'Porthole <porthole@example.com>', transport: 'console' },
    dataDir,
    log: { level: 'error' },
    ...overrides,
  });
}

/** Every request the origin received must be one the policy allows (the recorder check). */
export function assertOnlyAllowedReachedOrigin(origin: SampleImmich, from = 0): void {
  for (const r of origin.received.slice(from)) {
    if (r.headers[DIRECT_MARK] !== undefined) continue;
    const parsed = parseTarget(r.url);
    if (!parsed.ok) throw new Error(`origin received a malformed target: ${r.method} ${r.url}`);
    const match = matchRoute(r.method, parsed.target.path);
    if (!match) throw new Error(`origin received a request outside the policy: ${r.method} ${r.url}`);
    if (!checkQuery(match.rule, parsed.target).ok) throw new Error(`origin received forbidden parameters: ${r.method} ${r.url}`);
    for (const h of ['authorization', 'x-api-key', 'x-immich-user-token', 'x-immich-session-token', 'x-immich-checksum', 'x-immich-share-key', 'x-immich-share-slug']) {
      if (r.headers[h] !== undefined) throw new Error(`origin received header ${h}: ${r.method} ${r.url}`);
    }
    const cookie = r.headers.cookie;
    if (cookie !== undefined && !/^immich_shared_link_token=[^;]+$/.test(cookie)) throw new Error(`origin received cookie ${cookie}: ${r.url}`);
  }
}
