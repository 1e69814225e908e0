// Tunnel tokens: encoding, validation of hostile input, hashed storage, verification and revocation, and
// the `porthole tunnel ...` subcommands driven through commander.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Command } from 'commander';
import { registerTunnelCommands, type TunnelCliContext } from '../../src/tunnel/cli.js';
import { decodeToken, encodeToken, credentialOf, MAX_GATEWAYS, tokenGateways } from '../../src/tunnel/token.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { createTunnelToken, storeTokenVerifier } from '../../src/tunnel/token-store.js';
import { writeStatusFile } from '../../src/tunnel/status.js';
import { loadGatewayCertificate } from '../../src/tunnel/tls-listener.js';
import { tempDir } from './fixtures/gateway.js';

test('a token round-trips and carries gateway, pin, id and secret', () => {
  const token = { id: 'a1b2c3d4e5f6', secret: 'S'.repeat(43), gateway: 'photos.example.com:443', fingerprint: 'ab'.repeat(32) };
  assert.deepEqual(decodeToken(encodeToken(token)), token);
  assert.deepEqual(decodeToken(`  ${encodeToken({ ...token, fingerprint: null })}\n`), { ...token, fingerprint: null });
});

test('a token may name several gateways, a pin each, and ask for every address of a name; old connectors still find the first', () => {
  const pin = (c: string) => c.repeat(64);
  const token = {
    id: 'a1b2c3d4e5f6',
    secret: 'S'.repeat(43),
    gateway: 'gw1.example.com:443',
    fingerprint: pin('a'),
    moreGateways: [
      { address: 'gw2.example.com:8443', fingerprint: pin('b') },
      { address: '[2001:db8::1]:443', fingerprint: null },
    ],
    everyAddress: true,
  };
  const text = encodeToken(token);
  assert.deepEqual(decodeToken(text), token);
  assert.deepEqual(tokenGateways(decodeToken(text)), [
    { address: 'gw1.example.com:443', fingerprint: pin('a') },
    { address: 'gw2.example.com:8443', fingerprint: pin('b') },
    { address: '[2001:db8::1]:443', fingerprint: null },
  ]);
  // What an older connector reads: the same version, the first gateway and its pin where they always were.
  const body = JSON.parse(Buffer.from(text.slice('pht1_'.length), 'base64url').toString()) as Record<string, unknown>;
  assert.deepEqual([body.v, body.g, body.f], [1, 'gw1.example.com:443', pin('a')]);
  const eight = Array.from({ length: MAX_GATEWAYS - 1 }, (_, i) => ({ address: `gateway-number-${i}.example.com:443`, fingerprint: pin('c') }));
  assert.ok(encodeToken({ ...token, moreGateways: eight }).length <= 2048, 'the most gateways, each pinned, fit in a token');
  assert.throws(() => encodeToken({ ...token, moreGateways: [...eight, eight[0]!] }), /at most 8 gateways/);
});

test('damaged or hostile tokens are refused with a clear error', () => {
  const good = encodeToken({ id: 'a1b2c3d4e5f6', secret: 'S'.repeat(43), gateway: 'gw:443', fingerprint: null });
  const body = (o: object) => 'pht1_' + Buffer.from(JSON.stringify(o)).toString('base64url');
  assert.throws(() => decodeToken('hello'), /not a Porthole tunnel token/);
  assert.throws(() => decodeToken(good + 'x'.repeat(3000)), /too long/);
  assert.throws(() => decodeToken('pht1_%%%'), /damaged|version/);
  assert.throws(() => decodeToken(body({ v: 2 })), /unknown version/);
  assert.throws(() => decodeToken(body({ v: 1, i: '../etc', s: 'S'.repeat(43), g: 'gw' })), /bad id/);
  assert.throws(() => decodeToken(body({ v: 1, i: 'a1b2c3d4e5f6', s: 'S'.repeat(43), g: 'gw:99999' })), /port out of range/);
  assert.throws(() => decodeToken(body({ v: 1, i: 'a1b2c3d4e5f6', s: 'S'.repeat(43), g: 'gw', f: 'zz' })), /fingerprint/);
  const ok = { v: 1, i: 'a1b2c3d4e5f6', s: 'S'.repeat(43), g: 'gw:443' };
  assert.throws(() => decodeToken(body({ ...ok, x: 'gw2:443' })), /list of gateways/);
  assert.throws(() => decodeToken(body({ ...ok, x: [] })), /list of gateways/);
  assert.throws(() => decodeToken(body({ ...ok, x: [{ g: 'gw2:443', f: 'zz' }] })), /fingerprint/);
  assert.throws(() => decodeToken(body({ ...ok, x: [{ g: 'gw2:http' }] })), /host:port/);
  assert.throws(() => decodeToken(body({ ...ok, x: [null] })), /list of gateways/);
  assert.throws(() => decodeToken(body({ ...ok, x: Array.from({ length: 8 }, () => ({ g: 'g:1' })) })), /at most 8/);
  assert.throws(() => decodeToken(body({ ...ok, a: true })), /address mode/);
});

test('the store keeps only a hash; verify accepts the right secret, refuses wrong, unknown and revoked', async () => {
  const d = tempDir();
  const main = openSqliteStore(d.dir);
  const store = main.tunnelTokens;
  const verifier = storeTokenVerifier(store);
  const { id, secret } = createTunnelToken(store, 'home');
  const db = new Database(path.join(d.dir, 'porthole.db'), { readonly: true });
  const dump = JSON.stringify(db.prepare('SELECT * FROM tunnel_tokens').all());
  assert.equal(dump.includes(secret), false);
  assert.equal(await verifier.verify(credentialOf({ id, secret })), id);
  assert.ok(store.list()[0]!.lastUsedAt !== null);
  assert.equal(await verifier.verify(credentialOf({ id, secret: secret.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) })), null);
  assert.equal(await verifier.verify(credentialOf({ id: '000000000000', secret })), null);
  assert.equal(await verifier.verify('garbage'), null);
  assert.equal(await verifier.stillValid(id), true);
  assert.equal(store.revoke(id, Date.now()), true);
  assert.equal(store.revoke(id, Date.now()), false);
  assert.equal(await verifier.verify(credentialOf({ id, secret })), null);
  assert.equal(await verifier.stillValid(id), false);
  assert.throws(() => createTunnelToken(store, 'bad\nname'), /token name/);
  db.close();
  main.close();
});

test('tunnel token create | list | revoke and tunnel status through the CLI builder', async () => {
  const d = tempDir();
  const cert = await loadGatewayCertificate({ dataDir: d.dir, hostnames: ['gw.example'] });
  const again = await loadGatewayCertificate({ dataDir: d.dir, hostnames: ['gw.example'] });
  assert.equal(again.fingerprint, cert.fingerprint, 'the self-signed certificate is kept, not regenerated');
  const statusFile = path.join(d.dir, 'tunnel-status.json');
  const load = (): TunnelCliContext => {
    const store = openSqliteStore(d.dir);
    return { store: store.tunnelTokens, gatewayAddress: 'gw.example:8443', pinFingerprint: cert.fingerprint, statusFile, close: () => store.close() };
  };
  const run = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const program = new Command('porthole').exitOverride();
    registerTunnelCommands(program, load, { out: (t) => out.push(t), err: (t) => err.push(t) });
    await program.parseAsync(['node', 'porthole', ...args]);
    return { out: out.join(''), err: err.join('') };
  };
  try {
    const created = await run('tunnel', 'token', 'create', '-c', 'x.yaml', '--name', 'nas');
    const token = decodeToken(created.out);
    assert.equal(token.gateway, 'gw.example:8443');
    assert.equal(token.fingerprint, cert.fingerprint);
    assert.match(created.err, /porthole connect --token/);
    const listed = await run('tunnel', 'token', 'list', '-c', 'x.yaml');
    assert.match(listed.out, new RegExp(`${token.id}\\tnas\\t.*\\tactive`));
    assert.equal(listed.out.includes(token.secret), false);
    const several = await run('tunnel', 'token', 'create', '-c', 'x.yaml', '-g', 'gw1.example:443', '-g', `gw2.example:443=${'AB:'.repeat(31)}AB`, '--every-address');
    const both = decodeToken(several.out);
    assert.deepEqual(tokenGateways(both), [
      { address: 'gw1.example:443', fingerprint: cert.fingerprint },
      { address: 'gw2.example:443', fingerprint: 'ab'.repeat(32) },
    ]);
    assert.equal(both.everyAddress, true);
    assert.match(several.err, /gw1\.example:443, pinned to certificate .*; gw2\.example:443, pinned to certificate AB:AB/);
    await assert.rejects(run('tunnel', 'token', 'create', '-c', 'x.yaml', '-g', 'gw1.example:443', '-g', 'gw2.example:443=nothex'), /SHA-256/);
    await assert.rejects(run('tunnel', 'token', 'create', '-c', 'x.yaml', '-g', 'gw1.example:443', '-g', 'http://gw2'), /host:port/);
    assert.match((await run('tunnel', 'token', 'revoke', token.id, '-c', 'x.yaml')).out, /Revoked/);
    assert.match((await run('tunnel', 'token', 'list', '-c', 'x.yaml')).out, /revoked/);

    assert.match((await run('tunnel', 'status', '-c', 'x.yaml')).out, /No tunnel status yet/);
    writeStatusFile(statusFile, {
      writtenAt: new Date().toISOString(),
      pid: 1,
      offlineSince: null,
      connectors: [
        {
          id: 'deadbeef',
          tokenId: token.id,
          name: 'nas',
          since: new Date().toISOString(),
          remoteAddress: '203.0.113.9:5000',
          openStreams: 3,
          streamsTotal: 9,
          bytesIn: 2048,
          bytesOut: 10,
        },
      ],
    });
    const status = (await run('tunnel', 'status', '-c', 'x.yaml')).out;
    assert.match(status, /deadbeef\tnas\t/);
    assert.match(status, /203\.0\.113\.9:5000\t3\t9\t2\.0 KiB\t10 B/);
    assert.ok(fs.existsSync(cert.keyFile));
    assert.equal(fs.statSync(cert.keyFile).mode & 0o077, 0, 'the private key is readable by its owner only');
  } finally {
    d.remove();
  }
});
