// Tunnel status: what the gateway knows about its connectors, written as a small JSON snapshot in the data
// dir so `porthole tunnel status` (another process) can show it without a control socket.
import fs from 'node:fs';
import path from 'node:path';
import { formatDuration } from './format.js';

export interface ConnectorStatus {
  id: string;
  tokenId: string;
  name: string;
  since: string;
  remoteAddress: string;
  openStreams: number;
  /** Origin streams in an exchange now (open ones the pool keeps idle are not), and the receive window each gets (bytes). */
  busyStreams?: number;
  streamWindow?: number;
  streamsTotal: number;
  /** Bytes on the wire (TLS records included) since the connector attached. */
  bytesIn: number;
  bytesOut: number;
}

export interface TunnelStatus {
  /** Which gateway, among those sharing one store (absent in the status file of a gateway of its own). */
  gateway?: string;
  writtenAt: string;
  pid: number;
  /** When the last connector left, or null while any is attached (or none ever was). */
  offlineSince: string | null;
  connectors: ConnectorStatus[];
  /** Sockets on the tunnel ALPN still authenticating (absent in snapshots of older gateways). */
  unauthenticated?: number;
}

export const STATUS_FILE_NAME = 'tunnel-status.json';

export function statusFilePath(dataDir: string): string {
  return path.join(dataDir, STATUS_FILE_NAME);
}

export function writeStatusFile(file: string, status: TunnelStatus): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(status, null, 2));
  fs.renameSync(tmp, file);
}

export function readStatusFile(file: string): TunnelStatus | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return JSON.parse(text) as TunnelStatus;
}

export function formatStatus(status: TunnelStatus | null, now = Date.now()): string {
  if (!status) return 'No tunnel status yet: the gateway has not run with the tunnel enabled (or uses another data dir).\n';
  const age = now - Date.parse(status.writtenAt);
  const lines: string[] = [];
  if (age > 10_000) lines.push(`(snapshot is ${formatDuration(age)} old: is the gateway running? pid ${status.pid})`);
  // Many at once means someone is opening tunnel connections without a token (they are bounded and cut off).
  if (status.unauthenticated) lines.push(`${status.unauthenticated} connection(s) still authenticating.`);
  if (status.connectors.length === 0) {
    lines.push(status.offlineSince ? `No connector attached; offline since ${status.offlineSince}.` : 'No connector has attached yet.');
    return lines.join('\n') + '\n';
  }
  lines.push(['ID', 'NAME', 'TOKEN', 'SINCE', 'ADDRESS', 'STREAMS', 'TOTAL', 'IN', 'OUT'].join('\t'));
  for (const c of status.connectors) {
    lines.push([c.id, c.name, c.tokenId, c.since, c.remoteAddress, c.openStreams, c.streamsTotal, formatBytes(c.bytesIn), formatBytes(c.bytesOut)].join('\t'));
  }
  return lines.join('\n') + '\n';
}

/** The snapshots the store holds for each gateway (damaged ones skipped: another version may write them). */
export function parsePresence(entries: readonly { gatewayId: string; snapshot: string }[]): TunnelStatus[] {
  const out: TunnelStatus[] = [];
  for (const entry of entries) {
    try {
      const status = JSON.parse(entry.snapshot) as TunnelStatus;
      if (Array.isArray(status.connectors)) out.push({ ...status, gateway: entry.gatewayId });
    } catch {
      // skipped
    }
  }
  return out;
}

/**
 * The other gateways sharing the store, as each last shared its status (entries that expired are not listed: a
 * gateway that stopped or crashed drops out within the presence expiry). This gateway's own entry is left out:
 * its caller has the live status, while the shared copy may be an interval old.
 */
export function otherGateways(entries: readonly { gatewayId: string; snapshot: string }[], self: string): TunnelStatus[] {
  return parsePresence(entries.filter((e) => e.gatewayId !== self)).map(wellFormed);
}

/** Another gateway's snapshot with every field of the expected type (it may run another version), for pages that format them. */
function wellFormed(status: TunnelStatus): TunnelStatus {
  const text = (value: unknown, fallback = '?') => (typeof value === 'string' ? value : fallback);
  const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0);
  const connectors = status.connectors.filter((c): c is ConnectorStatus => typeof c === 'object' && c !== null);
  return {
    gateway: status.gateway,
    writtenAt: text(status.writtenAt, new Date(0).toISOString()),
    pid: count(status.pid),
    offlineSince: typeof status.offlineSince === 'string' ? status.offlineSince : null,
    unauthenticated: count(status.unauthenticated),
    connectors: connectors.map((c) => ({
      id: text(c.id),
      tokenId: text(c.tokenId),
      name: text(c.name),
      since: text(c.since, new Date(0).toISOString()),
      remoteAddress: text(c.remoteAddress),
      openStreams: count(c.openStreams),
      streamsTotal: count(c.streamsTotal),
      bytesIn: count(c.bytesIn),
      bytesOut: count(c.bytesOut),
    })),
  };
}

/** Every gateway sharing the store and its connectors, then which gateways each connector reaches. */
export function formatPresence(gateways: readonly TunnelStatus[]): string {
  const lines: string[] = [`${gateways.length} gateway${gateways.length === 1 ? '' : 's'} running on this store.`];
  for (const g of gateways) {
    if (g.unauthenticated) lines.push(`${g.gateway}: ${g.unauthenticated} connection(s) still authenticating.`);
    if (g.connectors.length === 0) {
      lines.push(`${g.gateway}: ${g.offlineSince ? `no connector attached; offline since ${g.offlineSince}.` : 'no connector has attached yet.'}`);
    }
  }
  const rows = gateways.flatMap((g) => g.connectors.map((c) => ({ gateway: g.gateway ?? '?', ...c })));
  if (rows.length === 0) return lines.join('\n') + '\n';
  lines.push(['GATEWAY', 'ID', 'NAME', 'TOKEN', 'SINCE', 'ADDRESS', 'STREAMS', 'TOTAL', 'IN', 'OUT'].join('\t'));
  for (const c of rows) {
    lines.push([c.gateway, c.id, c.name, c.tokenId, c.since, c.remoteAddress, c.openStreams, c.streamsTotal, formatBytes(c.bytesIn), formatBytes(c.bytesOut)].join('\t'));
  }
  // A connector (one token and name) should reach every gateway: say where it does not.
  const reach = new Map<string, Set<string>>();
  for (const c of rows) {
    const key = `${c.name} (token ${c.tokenId})`;
    if (!reach.has(key)) reach.set(key, new Set());
    reach.get(key)!.add(c.gateway);
  }
  for (const [who, where] of reach) {
    const missing = gateways.map((g) => g.gateway ?? '?').filter((g) => !where.has(g));
    lines.push(`Connector ${who}: attached to ${where.size} of ${gateways.length} gateways${missing.length ? `, not to ${missing.join(', ')}` : ''}.`);
  }
  return lines.join('\n') + '\n';
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
