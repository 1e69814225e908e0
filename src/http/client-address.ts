// Who is the client? The socket peer, unless that peer is a proxy we were told to trust, in which case
// X-Forwarded-For is walked from the right while the hops are trusted. Client-sent values are never believed.
import net from 'node:net';
import type http from 'node:http';

export type AddressMatcher = (address: string) => boolean;

/** Builds a matcher for the configured trustedProxies (addresses or CIDR ranges). */
export function createAddressMatcher(entries: readonly string[]): AddressMatcher {
  if (entries.length === 0) return () => false;
  const list = new net.BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = net.isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return (address) => {
    const plain = unmapIPv4(address);
    const family = net.isIP(plain);
    if (family === 0) return false;
    return list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  };
}

/** "::ffff:10.0.0.1" and "10.0.0.1" are the same client. */
export function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

export interface ClientInfo {
  /** The client's address as best we can know it. */
  ip: string;
  /** True when the immediate peer is a trusted proxy, so its X-Forwarded-* headers are believed. */
  viaTrustedProxy: boolean;
  /** The scheme the client used (a trusted proxy may say https). */
  scheme: 'http' | 'https';
}

const MAX_FORWARDED_HOPS = 32;

export function identifyClient(req: http.IncomingMessage, isTrusted: AddressMatcher, listenerScheme: 'http' | 'https'): ClientInfo {
  const peer = unmapIPv4(req.socket.remoteAddress ?? '');
  if (!isTrusted(peer)) return { ip: peer, viaTrustedProxy: false, scheme: listenerScheme };
  let ip = peer;
  const header = req.headers['x-forwarded-for'];
  if (typeof header === 'string') {
    const hops = header
      .split(',')
      .slice(-MAX_FORWARDED_HOPS)
      .map((h) => unmapIPv4(h.trim()));
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (net.isIP(hop) === 0) break;
      ip = hop;
      if (!isTrusted(hop)) break;
    }
  }
  const proto = req.headers['x-forwarded-proto'];
  const scheme = proto === 'https' ? 'https' : proto === 'http' ? 'http' : listenerScheme;
  return { ip, viaTrustedProxy: true, scheme };
}
