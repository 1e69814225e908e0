// The HTTPS port's TLS: 1.2 and 1.3 only, forward-secret AEAD suites only on 1.2, sessions resumed (tickets) so
// a browser that comes back after its idle connection was closed pays no full handshake, ALPN h2 first.
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { SHARE_HOST, startShare, type ShareSetup } from '../share/harness.js';

let s: ShareSetup;
let port: number;
before(async () => {
  s = await startShare({ listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 } });
  port = s.gateway.https!.port;
});
after(() => s.close());

function handshake(options: tls.ConnectionOptions): Promise<{ ok: true; socket: tls.TLSSocket; ticket: Promise<Buffer> } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: SHARE_HOST, rejectUnauthorized: false, ...options });
    const ticket = new Promise<Buffer>((got) => socket.once('session', got));
    socket.once('secureConnect', () => resolve({ ok: true, socket, ticket }));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, error: error.code ?? error.message }));
  });
}

test('TLS 1.0 and 1.1 are refused; 1.2 and 1.3 are served', async () => {
  for (const version of ['TLSv1', 'TLSv1.1'] as const) {
    const result = await handshake({ minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' });
    assert.equal(result.ok, false, version);
  }
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    const result = await handshake({ minVersion: version, maxVersion: version, ALPNProtocols: ['h2', 'http/1.1'] });
    assert.ok(result.ok, version);
    assert.equal(result.socket.getProtocol(), version);
    assert.equal(result.socket.alpnProtocol, 'h2');
    result.socket.destroy();
  }
});

test('TLS 1.2 offers only forward-secret AEAD suites: CBC and static-RSA suites are refused', async () => {
  for (const cipher of ['ECDHE-RSA-AES128-SHA', 'ECDHE-ECDSA-AES128-SHA256', 'AES128-GCM-SHA256', 'AES256-SHA']) {
    const result = await handshake({ maxVersion: 'TLSv1.2', ciphers: cipher });
    assert.equal(result.ok, false, cipher);
  }
  const good = await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256' });
  assert.ok(good.ok);
  assert.match(good.socket.getCipher().name, /GCM/);
  good.socket.destroy();
});

test('sessions are resumed on TLS 1.3 and TLS 1.2', async () => {
  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    const first = await handshake({ minVersion: version, maxVersion: version });
    assert.ok(first.ok);
    // A TLS 1.3 ticket arrives after the handshake, with the first bytes the server sends: ask for some.
    first.socket.write(`GET / HTTP/1.1\r\nHost: ${SHARE_HOST}\r\nConnection: close\r\n\r\n`);
    first.socket.resume();
    const ticket = await first.ticket;
    first.socket.destroy();
    const second = await handshake({ minVersion: version, maxVersion: version, session: ticket });
    assert.ok(second.ok);
    assert.equal(second.socket.isSessionReused(), true, version);
    second.socket.destroy();
  }
});

test('http2.enabled: false offers only http/1.1 to a client that asks for h2', async () => {
  const off = await startShare({ listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 }, http2: { enabled: false } });
  try {
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s2 = tls.connect({ host: '127.0.0.1', port: off.gateway.https!.port, servername: SHARE_HOST, rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] });
      s2.once('secureConnect', () => resolve(s2));
      s2.once('error', reject);
    });
    assert.equal(socket.alpnProtocol, 'http/1.1');
    socket.destroy();
  } finally {
    await off.close();
  }
});
