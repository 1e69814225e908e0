// Which host is this request for? The private host goes to the gate, the share host to the share policy,
// anything else is refused here without ever touching the origin.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { RequestContext } from '../http/context.js';

/** One face of the gateway: the gate on the private host, the share policy on the share host. */
export interface HostHandler {
  handle(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext): void;
}

const HOST_HEADER = /^([a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\])(?::(\d{1,5}))?$/;

/** Splits a Host header into its lower-cased name (no trailing dot) and the raw value; null if malformed. */
export function parseHostHeader(value: string | undefined): { name: string; raw: string } | null {
  if (!value) return null;
  const lower = value.toLowerCase();
  const match = HOST_HEADER.exec(lower);
  if (!match) return null;
  return { name: match[1]!.replace(/\.$/, ''), raw: value };
}

export function createHostDispatcher(hosts: Map<string, HostHandler>) {
  return (hostName: string): HostHandler | undefined => hosts.get(hostName);
}
