// The unit every per-client limit counts (gate rate limits, share brute-force limits, connection caps, audit
// folding): an IPv4 address is one client, an IPv6 /64 is one client.

/** IPv6 clients usually own a whole /64: count them together so rotating addresses does not reset a limit. */
export function clientBucket(ip: string): string {
  // The address comes from the socket or a trusted proxy's validated header: a colon means IPv6.
  if (ip.includes(':')) {
    const full = ip.includes('::') ? expand(ip) : ip.split(':');
    return `${full.slice(0, 4).join(':')}::/64`;
  }
  return ip;
}

function expand(ip: string): string[] {
  const [head, tail] = ip.split('::') as [string, string];
  const a = head ? head.split(':') : [];
  const b = tail ? tail.split(':') : [];
  return [...a, ...Array<string>(Math.max(0, 8 - a.length - b.length)).fill('0'), ...b];
}
