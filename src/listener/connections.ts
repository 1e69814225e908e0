// Per-address caps on open connections, shared by the plain and the HTTPS port (raw TCP, counted before any
// TLS work). An IPv4 address is one client, an IPv6 /64 is one client. A socket from a trusted proxy is not
// capped: it carries many clients, and the forwarded address is only known once a request head arrived, which
// is exactly what a connection cap must not wait for (the proxy in front has to bound its own clients).
import type net from 'node:net';
import type { AddressMatcher } from '../http/client-address.js';
import { unmapIPv4 } from '../http/client-address.js';
import { clientBucket } from '../http/client-bucket.js';

/** The unit a per-address limit counts: the IPv4 address, or the IPv6 /64. */
export function connectionBucket(remoteAddress: string | undefined): string {
  if (!remoteAddress) return '?';
  return clientBucket(unmapIPv4(remoteAddress));
}

export interface AddressLimiterOptions {
  maxPerAddress: number;
  /** Peers that are never capped (trusted proxies). */
  isExempt?: AddressMatcher;
  onRefused?: (bucket: string, socket: net.Socket) => void;
}

export class AddressLimiter {
  private readonly open = new Map<string, number>();

  constructor(private readonly options: AddressLimiterOptions) {}

  /** Counts the socket until it closes; false (and the socket destroyed) when its address is at the cap. */
  admit(socket: net.Socket): boolean {
    const peer = unmapIPv4(socket.remoteAddress ?? '');
    if (!socket.remoteAddress) {
      // Already gone before we looked.
      socket.destroy();
      return false;
    }
    if (this.options.isExempt?.(peer)) return true;
    const bucket = clientBucket(peer);
    const count = this.open.get(bucket) ?? 0;
    if (count >= this.options.maxPerAddress) {
      this.options.onRefused?.(bucket, socket);
      socket.destroy();
      return false;
    }
    this.open.set(bucket, count + 1);
    socket.once('close', () => {
      const left = (this.open.get(bucket) ?? 1) - 1;
      if (left <= 0) this.open.delete(bucket);
      else this.open.set(bucket, left);
    });
    return true;
  }

  /** Open connections counted for an address (its bucket). */
  openFor(remoteAddress: string): number {
    return this.open.get(connectionBucket(remoteAddress)) ?? 0;
  }
}
