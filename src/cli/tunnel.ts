// Attaches the tunnel's commands to the CLI: `porthole connect` (home side, no config file) and
// `porthole tunnel token|status` (gateway side, reading porthole.yaml for the data dir and certificate).
import type { Command } from 'commander';
import { loadGatewayCertificate, openTunnelTokenStore, registerConnectCommand, registerTunnelCommands, statusFilePath, type TunnelCliContext } from '../tunnel/index.js';
import { loadConfigOrExit } from './serve.js';

async function tunnelContext(configFile: string): Promise<TunnelCliContext> {
  const config = loadConfigOrExit(configFile);
  const certificate = await loadGatewayCertificate({
    dataDir: config.dataDir,
    certFile: config.tls?.certFile,
    keyFile: config.tls?.keyFile,
    hostnames: [config.hosts.private, config.hosts.share].filter((h): h is string => Boolean(h)),
  });
  const tokens = openTunnelTokenStore(config.dataDir);
  return {
    store: tokens.store,
    gatewayAddress: config.tunnel.publicAddress ?? null,
    // A self-signed gateway is trusted by its fingerprint, carried in the token; ACME certificates by their CA.
    pinFingerprint: certificate.selfSigned && !config.tls.acme ? certificate.fingerprint : null,
    statusFile: statusFilePath(config.dataDir),
    close: tokens.close,
  };
}

export function registerTunnel(program: Command): void {
  registerConnectCommand(program);
  registerTunnelCommands(program, tunnelContext);
}
