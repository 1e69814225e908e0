// The scheme://host[:port] that e-mailed links and cross-host redirects name. The host is always a configured
// name, never the Host header's. A port is kept only when it is one people really reach Porthole on: the port
// this connection arrived on, or `publicPort` when a proxy or port forward stands in front. So a forged Host
// header cannot point a genuine sign-in e-mail, or a redirect, at some other port of the same machine.
import type { ResolvedConfig } from '../config/load.js';
import type { RequestContext } from './context.js';

function publicAuthority(config: Pick<ResolvedConfig, 'publicScheme' | 'publicPort'>, hostName: string, ctx: RequestContext, localPort: number | undefined): string {
  const asked = /:(\d{1,5})$/.exec(ctx.rawHost)?.[1];
  const port = asked !== undefined && (Number(asked) === localPort || Number(asked) === config.publicPort) ? asked : config.publicPort?.toString();
  const standard = config.publicScheme === 'https' ? '443' : '80';
  return port !== undefined && port !== standard ? `${hostName}:${port}` : hostName;
}

export function publicOrigin(config: Pick<ResolvedConfig, 'publicScheme' | 'publicPort'>, hostName: string, ctx: RequestContext, localPort: number | undefined): string {
  return `${config.publicScheme}://${publicAuthority(config, hostName, ctx, localPort)}`;
}
