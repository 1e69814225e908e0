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
  streamsTotal: number;
  /** Bytes on the wire (TLS records included) since the connector attached. */
  bytesIn: number;
  bytesOut: number;
}

export interface TunnelStatus {
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
