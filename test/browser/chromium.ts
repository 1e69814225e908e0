// How every browser test starts Debian's Chromium: headless, nothing phoning home, QUIC off (the gateway speaks
// TCP only), and the test's host names mapped to loopback so cookies and Host headers are the real ones.
import { chromium, type Browser } from 'playwright-core';

const QUIET_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** `hosts` are resolved to 127.0.0.1 (patterns like `*.localhost` work); none: the system's resolver. */
export function launchChromium(hosts: readonly string[] = []): Promise<Browser> {
  const rules = hosts.length ? [`--host-resolver-rules=${hosts.map((host) => `MAP ${host} 127.0.0.1`).join(', ')}`] : [];
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: [...QUIET_FLAGS, ...rules] });
}
