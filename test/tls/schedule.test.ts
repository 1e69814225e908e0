// Renewal timing and retry backoff (pure arithmetic), the tls/health config rules, and the failure hints.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { DEFAULT_BACKOFF, explainFailure, renewalTime, retryDelay, LETS_ENCRYPT, LETS_ENCRYPT_STAGING, directoryUrlFor, acmeNamesFor } from '../../src/tls/index.js';

const DAY = 24 * 3600_000;
const base = {
  hosts: { private: 'photos.example.com', share: 'share.example.com' },
  origin: { url: 'http://immich-server:2283' },
  gate: { allow: ['a@example.com'] },
  mail: { from: 'p@example.com', transport: 'console' },
};

test('renewal starts at two thirds of the lifetime, jittered by at most a thirtieth of it', () => {
  const life = { notBefore: 0, notAfter: 90 * DAY };
  assert.equal(
    renewalTime(life, () => 0.5),
    60 * DAY,
  );
  assert.equal(
    renewalTime(life, () => 0),
    57 * DAY,
  );
  assert.ok(Math.abs(renewalTime(life, () => 0.999999) - 63 * DAY) < 1000);
  for (let i = 0; i < 1000; i++) {
    const at = renewalTime(life);
    assert.ok(at >= 57 * DAY && at <= 63 * DAY, String(at));
  }
  // A short-lived (six-day) certificate renews on day four.
  assert.equal(
    renewalTime({ notBefore: 0, notAfter: 6 * DAY }, () => 0.5),
    4 * DAY,
  );
});

test('retries back off exponentially with jitter, capped', () => {
  const policy = { baseMs: 1000, maxMs: 60_000 };
  assert.equal(
    retryDelay(0, policy, () => 0),
    500,
  );
  assert.equal(
    retryDelay(0, policy, () => 1),
    1000,
  );
  assert.equal(
    retryDelay(3, policy, () => 1),
    8000,
  );
  assert.equal(
    retryDelay(30, policy, () => 1),
    60_000,
  );
  assert.equal(
    retryDelay(1000, policy, () => 0),
    30_000,
  );
  assert.ok(retryDelay(0, DEFAULT_BACKOFF) >= 30_000);
  assert.ok(retryDelay(100, DEFAULT_BACKOFF) <= 6 * 3600_000);
});

test('tls config: ACME defaults, staging switch, any https directory, and clear errors for bad combinations', () => {
  const c = parseConfig({ ...base, listen: { httpsPort: 443, httpPort: 80 }, tls: { acme: {} } });
  assert.equal(c.tls.acme?.directory, 'letsencrypt');
  assert.equal(c.tls.acme?.challenge, 'http-01');
  assert.deepEqual(c.tls.hsts, { maxAge: 365 * DAY, includeSubDomains: false });
  assert.equal(directoryUrlFor('letsencrypt'), LETS_ENCRYPT);
  assert.equal(directoryUrlFor('letsencrypt-staging'), LETS_ENCRYPT_STAGING);
  const custom = parseConfig({ ...base, listen: { httpsPort: 443 }, tls: { acme: { directory: 'https://ca.example.net/acme/directory', challenge: 'tls-alpn-01' }, hsts: false } });
  assert.equal(custom.tls.acme?.directory, 'https://ca.example.net/acme/directory');
  assert.equal(custom.tls.hsts, false);
  const bad: [unknown, RegExp][] = [
    [{ ...base, tls: { acme: {} } }, /listen\.httpsPort: required with tls\.acme/],
    [{ ...base, listen: { httpsPort: 443 }, tls: { acme: {}, certFile: '/c.pem', keyFile: '/k.pem' } }, /tls\.acme: give either/],
    [{ ...base, listen: { httpsPort: 443 }, tls: { acme: { directory: 'http://ca.example.net/dir' } } }, /tls\.acme\.directory/],
    [{ ...base, listen: { httpsPort: 443 }, tls: { acme: { challenge: 'dns-01' } } }, /tls\.acme\.challenge/],
    [{ ...base, listen: { httpsPort: 443 }, tls: { acme: { emial: 'x@example.com' } } }, /emial/],
    [{ ...base, tls: { keyFile: '/k.pem' } }, /tls\.certFile: required/],
    [{ ...base, health: { port: 70000 } }, /health\.port/],
  ];
  for (const [doc, message] of bad) assert.throws(() => parseConfig(doc), message);
});

test('ACME names: both hosts and the tunnel name, never an IP address', () => {
  const tunnel = parseConfig({ ...base, listen: { httpsPort: 443 }, tunnel: { enabled: true, publicAddress: 'gateway.example.com:443' }, tls: { acme: {} } });
  assert.deepEqual(acmeNamesFor(tunnel), ['photos.example.com', 'share.example.com', 'gateway.example.com']);
  const ip = parseConfig({ ...base, listen: { httpsPort: 443 }, tunnel: { enabled: true, publicAddress: '203.0.113.7:443' }, tls: { acme: {} } });
  assert.deepEqual(acmeNamesFor(ip), ['photos.example.com', 'share.example.com']);
});

test('failure hints name what to check', () => {
  const dns = explainFailure(new Error('DNS problem: NXDOMAIN looking up A for photos.example.com'), 'photos.example.com', 'http-01', LETS_ENCRYPT);
  assert.match(dns.reason, /NXDOMAIN/);
  assert.match(dns.check, /DNS A\/AAAA records of photos\.example\.com/);
  assert.match(dns.check, /port 80/);
  assert.match(explainFailure(new Error('Timeout during connect'), 'x.example.com', 'tls-alpn-01', LETS_ENCRYPT).check, /port 443/);
  const offline = Object.assign(new Error('getaddrinfo ENOTFOUND acme-v02'), { code: 'ENOTFOUND' });
  assert.match(explainFailure(offline, 'x.example.com', 'http-01', LETS_ENCRYPT).check, /could not be reached \(ENOTFOUND\)/);
  assert.match(explainFailure(new Error('too many certificates already issued'), 'x', 'http-01', LETS_ENCRYPT).check, /letsencrypt-staging/);
});
