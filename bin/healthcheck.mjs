#!/usr/bin/env node
// Docker's HEALTHCHECK: exit 0 when Porthole's health listener says "live" (PORTHOLE_HEALTH_URL, default
// http://127.0.0.1:8081/live), 1 otherwise. Node's own fetch, so the image needs no curl or wget.
// The connector (`porthole connect`) has no health listener: its compose service turns the check off.
const url = process.env.PORTHOLE_HEALTH_URL || 'http://127.0.0.1:8081/live';
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
