// Tunnel subcommands for the `porthole` CLI: `tunnel token create|list|revoke`, `tunnel status` (gateway
// side) and `connect` (home side). The CLI owner attaches them; config loading stays theirs via `load`.
import fs from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { runConnector, TokenRefusedError } from './connector.js';
import type { TunnelLogger } from './hub.js';
import { formatPresence, formatStatus, parsePresence, readStatusFile } from './status.js';
import { encodeToken, MAX_GATEWAYS, normalizeFingerprint, parseGatewayAddress, type GatewayPin } from './token.js';
import { createTunnelToken, type TunnelTokenStore } from './token-store.js';
import type { TunnelPresenceStore } from '../store/store.js';

/** What the gateway-side commands need, built from the config file by the CLI owner. */
export interface TunnelCliContext {
  store: TunnelTokenStore;
  /** host:port connectors dial (public name of the gateway's HTTPS port), if the config knows it. */
  gatewayAddress: string | null;
  /** SHA-256 of the self-signed certificate connectors must pin; null with a publicly trusted one. */
  pinFingerprint: string | null;
  statusFile: string;
  /** What every gateway sharing the store says it has attached; without it (or with none running) the status file. */
  presence?: TunnelPresenceStore;
  close(): void;
}

export type TunnelCliLoader = (configFile: string) => Promise<TunnelCliContext> | TunnelCliContext;

interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}
const stdio: Output = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

async function withContext<T>(load: TunnelCliLoader, config: string, fn: (ctx: TunnelCliContext) => T): Promise<T> {
  const ctx = await load(config);
  try {
    return fn(ctx);
  } finally {
    ctx.close();
  }
}

export function registerTunnelCommands(program: Command, load: TunnelCliLoader, io: Output = stdio): Command {
  const tunnel = program.command('tunnel').description('manage home connectors (gateway side)');
  const token = tunnel.command('token').description('enrollment tokens for `porthole connect`');

  token
    .command('create')
    .description('create a token; it is shown once')
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .option('-n, --name <name>', 'a label for this connector', 'home')
    .option(
      '-g, --gateway <host:port[=sha256]>',
      'address connectors dial (the HTTPS port of a gateway); repeat it for several gateways acting as one, each optionally with the certificate fingerprint it must show',
      collect,
      [],
    )
    .option('--fingerprint <sha256>', "pin this certificate fingerprint instead of the gateway's own (for every gateway without one of its own)")
    .option('--every-address', 'dial every address each gateway name resolves to, looked up again now and then (gateways behind one DNS name)')
    .action(async (opts: { config: string; name: string; gateway: string[]; fingerprint?: string; everyAddress?: boolean }) => {
      // Loaded here, not at the top: `porthole connect` shares this module and should not carry the certificate code.
      const { formatFingerprint } = await import('./tls-listener.js');
      await withContext(load, opts.config, (ctx) => {
        const given = opts.gateway.length > 0 ? opts.gateway : ctx.gatewayAddress ? [ctx.gatewayAddress] : [];
        if (given.length === 0) throw new InvalidArgumentError('say where connectors reach this gateway: --gateway host:port');
        const gateways = asUsageError(() => {
          const pin = opts.fingerprint ? normalizeFingerprint(opts.fingerprint) : ctx.pinFingerprint;
          if (given.length > MAX_GATEWAYS) throw new Error(`a token names at most ${MAX_GATEWAYS} gateways`);
          return given.map((value) => {
            const at = value.indexOf('=');
            const address = at < 0 ? value : value.slice(0, at);
            parseGatewayAddress(address);
            return { address, fingerprint: at < 0 ? pin : normalizeFingerprint(value.slice(at + 1)) };
          });
        });
        const { id, secret } = createTunnelToken(ctx.store, opts.name);
        const [first, ...more] = gateways as [GatewayPin, ...GatewayPin[]];
        io.out(
          `${encodeToken({ id, secret, gateway: first.address, fingerprint: first.fingerprint, ...(more.length ? { moreGateways: more } : {}), ...(opts.everyAddress ? { everyAddress: true } : {}) })}\n`,
        );
        const describe = (g: GatewayPin) =>
          `${g.address}` + (g.fingerprint ? `, pinned to certificate ${formatFingerprint(g.fingerprint)}` : ', gateway certificate checked against public CAs');
        io.err(
          `Token ${id} (${opts.name}) for ${gateways.map(describe).join('; ')}` +
            (opts.everyAddress ? '; the connector dials every address each name resolves to' : '') +
            '.\nOn the machine next to Immich run:\n  porthole connect --token <the token above> --origin http://immich-server:2283\n' +
            'It is shown only this once; revoke it with `porthole tunnel token revoke ' +
            id +
            '`.\n',
        );
      });
    });

  token
    .command('list')
    .description('list tokens (never their secrets)')
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .action(async (opts: { config: string }) => {
      await withContext(load, opts.config, (ctx) => {
        const rows = ctx.store.list();
        if (rows.length === 0) return io.out('No tunnel tokens. Create one with `porthole tunnel token create`.\n');
        io.out(['ID', 'NAME', 'CREATED', 'LAST USED', 'STATE'].join('\t') + '\n');
        for (const r of rows) {
          const iso = (t: number | null) => (t === null ? '-' : new Date(t).toISOString());
          io.out([r.id, r.name, iso(r.createdAt), iso(r.lastUsedAt), r.revokedAt === null ? 'active' : `revoked ${iso(r.revokedAt)}`].join('\t') + '\n');
        }
      });
    });

  token
    .command('revoke')
    .description('revoke a token; a running gateway drops its connectors within seconds')
    .argument('<id>', 'token id from `porthole tunnel token list`')
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .action(async (id: string, opts: { config: string }) => {
      await withContext(load, opts.config, (ctx) => {
        if (!/^[0-9a-f]{12}$/.test(id)) throw new InvalidArgumentError('a token id is 12 hex digits (see `porthole tunnel token list`)');
        if (!ctx.store.revoke(id, Date.now())) {
          io.err(`No active token ${id}.\n`);
          process.exitCode = 1;
          return;
        }
        io.out(`Revoked ${id}.\n`);
      });
    });

  tunnel
    .command('status')
    .description('connectors attached to the running gateways (all of those sharing this store)')
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .option('--json', 'print the raw snapshot (with gateways sharing the store: { "gateways": [one per gateway] })')
    .action(async (opts: { config: string; json?: boolean }) => {
      await withContext(load, opts.config, (ctx) => {
        const gateways = ctx.presence ? parsePresence(ctx.presence.list(Date.now())) : [];
        if (gateways.length > 0) {
          io.out(opts.json ? JSON.stringify({ gateways }, null, 2) + '\n' : formatPresence(gateways));
          return;
        }
        const status = readStatusFile(ctx.statusFile);
        io.out(opts.json ? JSON.stringify(status, null, 2) + '\n' : formatStatus(status));
      });
    });
  return tunnel;
}

/** Commander's way to take an option more than once. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A malformed token, address or fingerprint is bad input: the command line prints it as a usage error. */
function asUsageError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function stderrLogger(): TunnelLogger {
  const line = (level: string) => (obj: object, msg: string) =>
    process.stderr.write(`${new Date().toISOString()} ${level} ${msg}${Object.keys(obj).length ? ' ' + JSON.stringify(obj) : ''}\n`);
  return { info: line('info'), warn: line('warn') };
}

function originUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected a URL such as http://immich-server:2283');
  }
  if (url.protocol !== 'http:' || (url.pathname !== '/' && url.pathname !== '')) {
    throw new InvalidArgumentError('expected http://host:port with no path, such as http://immich-server:2283');
  }
  return url;
}

export function registerConnectCommand(program: Command, logger: TunnelLogger = stderrLogger()): Command {
  return program
    .command('connect')
    .description('run the home connector: dial out to the gateway and carry its requests to Immich')
    .option('-t, --token <token>', 'token from `porthole tunnel token create` (or PORTHOLE_TUNNEL_TOKEN)')
    .option('--token-file <file>', 'read the token from a file (e.g. a Docker secret)')
    .requiredOption('-o, --origin <url>', 'Immich as seen from here, e.g. http://immich-server:2283', originUrl)
    .option('-n, --name <name>', 'label shown in `porthole tunnel status`', 'home')
    .option('-g, --gateway <host:port>', 'dial this address instead of the one in the token (repeat it for several gateways)', collect, [])
    .action(async (opts: { token?: string; tokenFile?: string; origin: URL; name: string; gateway: string[] }) => {
      const token = opts.token ?? (opts.tokenFile ? fs.readFileSync(opts.tokenFile, 'utf8') : process.env.PORTHOLE_TUNNEL_TOKEN);
      if (!token) throw new InvalidArgumentError('give the token with --token, --token-file or PORTHOLE_TUNNEL_TOKEN');
      const connector = asUsageError(() => runConnector({ token, origin: opts.origin, name: opts.name, gateway: opts.gateway, logger }));
      const stop = () => void connector.stop().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // A connector runs until it is stopped or refused, whatever its sockets are doing: without a handle of its
      // own, a moment with no socket open and no redial scheduled would let node exit as if the work were done.
      const running = setInterval(() => {}, 60 * 60 * 1000);
      try {
        await connector.done;
      } catch (err) {
        process.stderr.write(`porthole: ${(err as Error).message}\n`);
        process.exit(err instanceof TokenRefusedError ? 3 : 1);
      } finally {
        clearInterval(running);
      }
    });
}
