import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
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
  assert.deepEqual(problems({ ...valid, hots: {} }), ['(top level): unknown key "hots" (did you mean "hosts"?)']);
  assert.deepEqual(problems({ ...valid, gate: { ...valid.gate, alow: ['x@y.z'] } }), ['gate: unknown key "alow" (did you mean "allow"?)']);
  assert.deepEqual(problems({ ...valid, proxy: { maxBodySise: '1GB' } }), ['proxy: unknown key "maxBodySise" (did you mean "maxBodySize"?)']);
  // Nothing close: the known keys are listed instead of a wild guess.
  assert.deepEqual(problems({ ...valid, share: { zzzzzzzz: 1 } }), [
    'share: unknown key "zzzzzzzz" (known keys: allowUploads, maxUploadSize, publicLinks, root, linkCacheTtl, rateLimits, linkRecords, rules)',
  ]);
  assert.deepEqual(problems({ ...valid, share: { rateLimits: { windw: '1m' } } }), ['share.rateLimits: unknown key "windw" (did you mean "window"?)']);
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
    assert.ok(
      found.some((p) => expected.test(p)),
      `expected ${expected} in ${JSON.stringify(found)}`,
    );
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
  assert.throws(
    () => loadConfigFile(broken),
    (e: unknown) => e instanceof ConfigError && /^3:3: YAML: Map keys must be unique$/.test(e.problems[0]!),
  );
  const compact = path.join(dir, 'compact.yaml');
  fs.writeFileSync(compact, 'hosts:\n  private: a: b\n');
  // A clean message with its place, no dangling colon that introduced a code excerpt.
  assert.throws(
    () => loadConfigFile(compact),
    (e: unknown) => e instanceof ConfigError && /^2:12: YAML: [^\n]*[^:]$/.test(e.problems[0]!) && !e.message.includes('\n'),
  );
  assert.throws(() => loadConfigFile(path.join(dir, 'absent.yaml')), /cannot read the file: ENOENT/);
  fs.rmSync(dir, { recursive: true });
});

test('every problem in a file names its line and column; a typo gets "did you mean"', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-config-'));
  const file = path.join(dir, 'porthole.yaml');
  fs.writeFileSync(
    file,
    [
      'hosts:',
      '  private: photos.porthole.test',
      'origin:',
      '  url: ftp://immich:2283',
      'gate:',
      '  allow: [a@porthole.test, not-an-address]',
      '  codeLifetme: 10m',
      'mail: { from: p@porthole.test, transport: console }',
      'lgo: { level: info }',
    ].join('\n'),
  );
  assert.throws(
    () => loadConfigFile(file, {}),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(
        [...e.problems].sort(),
        [
          '4:8: origin.url: expected an http:// URL such as http://immich-server:2283',
          '6:28: gate.allow[1]: expected an email address (person@example.com) or a whole domain (*@example.com)',
          '7:3: gate: unknown key "codeLifetme" (did you mean "codeLifetime"?)',
          '9:1: (top level): unknown key "lgo" (did you mean "log"?)',
        ].sort(),
      );
      // The message is the file name in front of each: editors jump to file:line:column.
      assert.ok(
        e.message.split('\n').every((line) => line.startsWith(`${file}:`)),
        e.message,
      );
      return true;
    },
  );
  fs.rmSync(dir, { recursive: true });
});

test("relative paths are taken from the config file's folder, whatever the working directory", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-config-'));
  fs.mkdirSync(path.join(dir, 'secrets'));
  fs.writeFileSync(path.join(dir, 'secrets', 'smtp'), 'from-relative-file\n');
  const file = path.join(dir, 'porthole.yaml');
  fs.writeFileSync(
    file,
    [
      'hosts: { private: photos.porthole.test }',
      'origin: { url: "http://immich:2283" }',
      'gate: { allow: [a@porthole.test] }',
      'mail: { from: p@porthole.test, smtp: { host: mail, user: u, password: { file: secrets/smtp } } }',
      'dataDir: ./state',
      'tls: { certFile: tls/cert.pem, keyFile: ../elsewhere/key.pem }',
    ].join('\n'),
  );
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-cwd-'));
  // In another process started in another folder, as a person running it from their home directory would.
  const script = `import { loadConfigFile } from ${JSON.stringify(path.resolve('src/config/load.ts'))}; const c = loadConfigFile(${JSON.stringify(path.relative(elsewhere, file))}); console.log(JSON.stringify({ dataDir: c.dataDir, tls: c.tls, password: c.mail.smtp.password }));`;
  const result = spawnSync(process.execPath, ['--import', pathToFileURL(path.resolve('node_modules/tsx/dist/loader.mjs')).href, '--input-type=module', '-e', script], {
    cwd: elsewhere,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  const seen = JSON.parse(result.stdout) as { dataDir: string; tls: { certFile: string; keyFile: string }; password: string };
  assert.equal(seen.dataDir, path.join(dir, 'state'));
  assert.equal(seen.tls.certFile, path.join(dir, 'tls', 'cert.pem'));
  assert.equal(seen.tls.keyFile, path.join(path.dirname(dir), 'elsewhere', 'key.pem'));
  assert.equal(seen.password, 'from-relative-file');
  assert.deepEqual(fs.readdirSync(elsewhere), []);
  fs.rmSync(dir, { recursive: true });
  fs.rmSync(elsewhere, { recursive: true });
});

test('console mail needs no SMTP secret, even with an smtp block kept for later', () => {
  const config = parseConfig({ ...valid, mail: { from: 'a@b.c', transport: 'console', smtp: { host: 'mail', user: 'u', password: { env: 'SMTP_PASSWORD' } } } }, 'test', {});
  assert.equal(config.mail.transport, 'console');
  assert.equal(config.mail.smtp?.password, undefined);
  assert.throws(
    () => parseConfig({ ...valid, mail: { from: 'a@b.c', transport: 'smtp', smtp: { host: 'mail', user: 'u', password: { env: 'SMTP_PASSWORD' } } } }, 'test', {}),
    /SMTP_PASSWORD is not set/,
  );
});

test('porthole serve exits non-zero on a bad config before opening any port', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-config-'));
  const file = path.join(dir, 'porthole.yaml');
  fs.writeFileSync(file, 'hosts:\n  private: photos.example.com\nlisten:\n  httpPort: 1\n');
  const result = spawnSync(process.execPath, ['bin/porthole.js', 'serve', '--config', file], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(result.status, 2);
  assert.match(result.stderr, /^porthole: .*porthole\.yaml:1:1: origin: required/m);
  assert.doesNotMatch(result.stderr, /^\s+at /m);
  assert.doesNotMatch(result.stderr + result.stdout, /listening/);
  fs.rmSync(dir, { recursive: true });
});

test('the commented example config in the repository is valid', () => {
  const config = loadConfigFile('porthole.example.yaml', { SMTP_PASSWORD: 'example' });
  assert.equal(config.hosts.private, 'photos.example.com');
  assert.equal(config.mail.smtp?.password, 'example');
  assert.equal(config.mail.smtp?.security, 'starttls');
});

test('listen.requestRate: on by default, off only when said so, and every bad value named', () => {
  assert.deepEqual(parseConfig(valid).listen.requestRate, { perSecond: 200, burst: 3000 });
  assert.deepEqual(parseConfig({ ...valid, listen: { requestRate: { perSecond: 50 } } }).listen.requestRate, { perSecond: 50, burst: 3000 });
  assert.deepEqual(parseConfig({ ...valid, listen: { requestRate: { perSecond: 50, burst: 0 } } }).listen.requestRate, { perSecond: 50, burst: 0 });
  assert.equal(parseConfig({ ...valid, listen: { requestRate: false } }).listen.requestRate, false);
  assert.equal(parseConfig({ ...valid, listen: { requestRate: 0 } }).listen.requestRate, false);
  const cases: Array<[unknown, string]> = [
    [{ perSecond: 0 }, 'listen.requestRate.perSecond: expected at least 1 request per second (requestRate: false switches the limit off)'],
    [{ perSecond: 2.5 }, 'listen.requestRate.perSecond: expected a whole number'],
    [{ burst: -1 }, 'listen.requestRate.burst: Too small: expected number to be >=0'],
    [{ perSecond: '100' }, 'listen.requestRate.perSecond: Invalid input: expected number, received string'],
    [{ perSecnd: 100 }, 'listen.requestRate: unknown key "perSecnd" (known keys: perSecond, burst)'],
    [true, 'listen.requestRate: expected { perSecond, burst } or false (no request-rate limit), got true'],
    [100, 'listen.requestRate: expected { perSecond, burst } or false (no request-rate limit), got 100'],
    ['off', 'listen.requestRate: expected { perSecond, burst } or false (no request-rate limit), got "off"'],
    [null, 'listen.requestRate: expected { perSecond, burst } or false (no request-rate limit), got null'],
  ];
  for (const [requestRate, expected] of cases) assert.deepEqual(problems({ ...valid, listen: { requestRate } }), [expected], JSON.stringify(requestRate));
});

test('store: sqlite by default; redis needs a redis(s) URL, takes its password as a secret, never inside the URL', () => {
  assert.deepEqual(parseConfig(valid).store, { kind: 'sqlite' });
  const redis = parseConfig({ ...valid, store: { kind: 'redis', url: 'rediss://redis.example.com:6380', password: { env: 'REDIS_PASSWORD' } } }, 'test', {
    REDIS_PASSWORD: 's3cret',
  });
  assert.deepEqual(redis.store, {
    kind: 'redis',
    url: 'rediss://redis.example.com:6380',
    password: 's3cret',
    keyPrefix: 'porthole:',
    maxAuditEvents: 100_000,
    maxLinkEvents: 200_000,
  });
  assert.match(problems({ ...valid, store: { kind: 'redis', url: 'redis://:hunter2@127.0.0.1:6379' } }).join('\n'), /store\.url: .*without a password: give it as store\.password/);
  assert.match(problems({ ...valid, store: { kind: 'redis', url: 'http://127.0.0.1:6379' } }).join('\n'), /store\.url: expected a URL like redis:\/\//);
  // A URL that does not parse is said to be one, in one message, not blamed on a password it does not have.
  assert.deepEqual(
    problems({ ...valid, store: { kind: 'redis', url: 'redis://redis:99999' } }).filter((p) => p.includes('store.url')),
    ['store.url: expected a URL like redis://127.0.0.1:6379 or rediss://redis.example.com:6380 (TLS); this one does not parse (check the host name and the port)'],
  );
  assert.equal(problems({ ...valid, store: { kind: 'redis', url: 'redis//127.0.0.1' } }).filter((p) => p.includes('store.url')).length, 1);
  assert.match(problems({ ...valid, store: { kind: 'redis' } }).join('\n'), /store\.url/);
  assert.match(problems({ ...valid, store: { kind: 'postgres' } }).join('\n'), /store\.kind/);
  assert.match(problems({ ...valid, store: { kind: 'sqlite', url: 'redis://x' } }).join('\n'), /store: unknown key "url"/);
  assert.match(problems({ ...valid, store: { kind: 'redis', url: 'redis://127.0.0.1', password: { env: 'NOPE' } } }).join('\n'), /store\.password/);
});
