// Attaches the tunnel's commands to the CLI: `porthole connect` (home side, no config file) and
// `porthole tunnel token|status` (gateway side, reading porthole.yaml for the data dir and certificate).
// The gateway side is loaded only when one of its commands runs: `porthole connect` runs on a small box next to
// Immich and should not carry the gateway, SQLite or certificate code in memory.
import type { Command } from 'commander';
import { registerConnectCommand, registerTunnelCommands, type TunnelCliContext } from '../tunnel/cli.js';

async function tunnelContext(configFile: string): Promise<TunnelCliContext> {
  const [{ loadConfigOrExit }, { loadGatewayCertificate }, { openConfiguredStore }, { statusFilePath }] = await Promise.all([
    import('./serve.js'),
    import('../tunnel/tls-listener.js'),
    import('../store/open.js'),
    import('../tunnel/status.js'),
  ]);
  const config = loadConfigOrExit(configFile);
  const certificate = await loadGatewayCertificate({
    dataDir: config.dataDir,
    certFile: config.tls?.certFile,
    keyFile: config.tls?.keyFile,
    hostnames: [config.hosts.private, config.hosts.share].filter((h): h is string => Boolean(h)),
  });
  // The configured store (SQLite in dataDir, or the Redis the gateways share), so a token made here works on every gateway.
  const store = await openConfiguredStore(config);
  return {
    store: store.tunnelTokens,
    gatewayAddress: config.tunnel.publicAddress ?? null,
    // A self-signed gateway is trusted by its fingerprint, carried in the token; ACME certificates by their CA.
    pinFingerprint: certificate.selfSigned && !config.tls.acme ? certificate.fingerprint : null,
    statusFile: statusFilePath(config.dataDir),
    presence: store.tunnelPresence,
    close: () => store.close(),
  };
}

export function registerTunnel(program: Command): void {
  registerConnectCommand(program);
  registerTunnelCommands(program, tunnelContext);
}
