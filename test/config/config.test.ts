import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/load.js';

const valid = {
  hosts: { private: 'Photos.Example.com', share: 'share.example.com' },
  origin: { url: 'http://immich-server:2283' },
  gate: { allow: ['Alice@Example.com', '*@family.example'] },
  mail: { from: 'porthole@example.com', transport: 'console' },
};

function problems(document: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(document, 'test', env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.problems;
  }
  assert.fail('expected the config to be refused');
}

test('a minimal config gets safe defaults and normalised names', () => {
  const config = parseConfig(valid);
  assert.equal(config.hosts.private, 'photos.example.com');
  assert.deepEqual(config.gate.allow, ['alice@example.com', '*@family.example']);
  assert.equal(config.gate.codeLifetime, 10 * 60_000);
  assert.equal(config.gate.sessionLifetime, 24 * 3_600_000);
  assert.equal(config.gate.maxCodeAttempts, 5);
  assert.equal(config.proxy.maxBodySize, null);
  assert.equal(config.share.allowUploads, false);
  assert.equal(config.allowImmichSetup, false);
  assert.deepEqual(config.trustedProxies, []);
  assert.equal(config.auditRowsPerHour, 600);
  assert.equal(config.gate.rateLimits.wrongCodesPerDomainPerHour, 10);
  assert.equal(config.mail.codeInSubject, false);
});

test('unknown keys are errors at every level, named by path', () => {
  assert.deepEqual(problems({ ...valid, hots: {} }), ['(top level): unknown key "hots"']);
  assert.deepEqual(problems({ ...valid, gate: { ...valid.gate, alow: ['x@y.z'] } }), ['gate: unknown key "alow"']);
  assert.deepEqual(problems({ ...valid, proxy: { maxBodySise: '1GB' } }), ['proxy: unknown key "maxBodySise"']);
});

test('each kind of bad value names its key and what was expected', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ ...valid, hosts: { private: 'https://photos.example.com' } }, /^hosts\.private: expected a host name/],
    [{ ...valid, hosts: { private: 'a.example', share: 'A.example' } }, /^hosts\.share: the share host must differ/],
    [{ ...valid, origin: { url: 'ftp://immich' } }, /^origin\.url: expected an http:\/\/ URL/],
    [{ ...valid, origin: { url: 'http://immich:2283/photos' } }, /^origin\.url: .*sub-path/],
    [{ ...valid, gate: { allow: [] } }, /^gate\.allow: list at least one/],
    [{ ...valid, gate: { allow: ['not-an-address'] } }, /^gate\.allow\[0\]: expected an email address/],
    [{ ...valid, gate: { ...valid.gate, codeLifetime: '10 minutes' } }, /^gate\.codeLifetime: expected a duration/],
    [{ ...valid, gate: { ...valid.gate, maxCodeAttempts: 0 } }, /^gate\.maxCodeAttempts: /],
    [{ ...valid, listen: { httpPort: 70000 } }, /^listen\.httpPort: /],
    [{ ...valid, publicPort: 0 }, /^publicPort: /],
    [{ ...valid, publicPort: '8443' }, /^publicPort: /],
    [{ ...valid, auditRetention: 'forever' }, /^auditRetention: expected a duration/],
    [{ ...valid, auditRowsPerHour: 5 }, /^auditRowsPerHour: /],
    [{ ...valid, auditRowsPerHour: '600' }, /^auditRowsPerHour: /],
    [{ ...valid, gate: { ...valid.gate, rateLimits: { wrongCodesPerDomainPerHour: 0 } } }, /^gate\.rateLimits\.wrongCodesPerDomainPerHour: /],
    [{ ...valid, listen: { address: 'localhost' } }, /^listen\.address: expected an IP address/],
    [{ ...valid, trustedProxies: ['10.0.0.0/33'] }, /^trustedProxies\[0\]: expected an IP address or CIDR/],
    [{ ...valid, proxy: { maxBodySize: 'lots' } }, /^proxy\.maxBodySize: expected a size/],
    [{ ...valid, mail: { from: 'a@b.c', transport: 'smtp' } }, /^mail\.smtp: required when mail\.transport is smtp/],
    [{ ...valid, mail: { from: 'a@b.c', smtp: { host: 'mail', security: 'maybe' } } }, /^mail\.smtp\.security: /],
    [{ ...valid, mail: { from: 'a@b.c', smtp: { host: 'mail', password: { env: 'SMTP PASS' } } } }, /^mail\.smtp\.password/],
    [{ ...valid, tunnel: { enabled: true } }, /^listen\.httpsPort: required when tunnel\.enabled/],
    [{ ...valid, tunnel: { publicAddress: 'https://gw.example.com' } }, /^tunnel\.publicAddress: expected host:port/],
    [{ ...valid, tls: { certFile: '/etc/cert.pem' } }, /^tls\.keyFile: required/],
  ];
  for (const [document, expected] of cases) {
    const found = problems(document);
    assert.ok(found.some((p) => expected.test(p)), `expected ${expected} in ${JSON.stringify(found)}`);
  }
});

test('missing sections are listed together', () => {
  const found = problems({});
  for (const key of ['hosts', 'origin', 'gate', 'mail']) assert.ok(found.includes(`${key}: required (object)`), found.join('\n'));
});

test('secrets come from the environment or a file, and a missing one is a clear error', () => {
  const smtpWith = (password: unknown) => ({ ...valid, mail: { from: 'a@b.c', smtp: { host: 'mail', user: 'u', password } } });
  assert.equal(parseConfig(smtpWith({ env: 'SMTP_PASSWORD' }), 'test', { SMTP_PASSWORD: 's3cret' }).mail.smtp?.password, 's3cret');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-config-'));
  const file = path.join(dir, 'pw');
  fs.writeFileSync(file, 'from-file\n');
  assert.equal(parseConfig(smtpWith({ file }), 'test', {}).mail.smtp?.password, 'from-file');
  assert.throws(() => parseConfig(smtpWith({ env: 'SMTP_PASSWORD' }), 'test', {}), /environment variable SMTP_PASSWORD is not set/);
  assert.throws(() => parseConfig(smtpWith({ file: path.join(dir, 'missing') }), 'test', {}), /cannot read secret file .*ENOENT/);
  fs.rmSync(dir, { recursive: true });
});

test('YAML syntax errors and duplicate keys are refused', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-config-'));
  const broken = path.join(dir, 'broken.yaml');
  fs.writeFileSync(broken, 'hosts:\n  private: a.example\n  private: b.example\n');
  assert.throws(() => loadConfigFile(broken), (e: unknown) => e instanceof ConfigError && /YAML: /.test(e.problems[0]!));
  assert.throws(() => loadConfigFile(path.join(dir, 'absent.yaml')), /cannot read the file \(ENOENT\)/);
  fs.rmSync(dir, { recursive: true });
});

test('porthole serve exits non-zero on a bad config before opening any port', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-config-'));
  const file = path.join(dir, 'porthole.yaml');
  fs.writeFileSync(file, 'hosts:\n  private: photos.example.com\nlisten:\n  httpPort: 1\n');
  const result = spawnSync(process.execPath, ['bin/porthole.js', 'serve', '--config', file], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(result.status, 2);
  assert.match(result.stderr, /invalid configuration/);
  assert.match(result.stderr, /origin: required/);
  assert.doesNotMatch(result.stderr + result.stdout, /listening/);
  fs.rmSync(dir, { recursive: true });
});

test('the commented example config in the repository is valid', () => {
  const config = loadConfigFile('porthole.example.yaml', { SMTP_PASSWORD: 'example' });
  assert.equal(config.hosts.private, 'photos.example.com');
  assert.equal(config.mail.smtp?.password, 'example');
  assert.equal(config.mail.smtp?.security, 'starttls');
});
