// `porthole doctor` against real things: the sample Immich and a plain HTTP server that is not Immich, an SMTP
// server that checks the password (and receives the --send-test mail), taken ports (by another program and by
// a running Porthole), real certificates (expired, for other names, valid), a tunnel gateway with and without
// a home connector attached. Every failing check is made to fail for real, and to pass.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { generate } from 'selfsigned';
import { SMTPServer } from 'smtp-server';
import { parseConfig, type ResolvedConfig } from '../../src/config/load.js';
import { checkCertificate, checkDataDir, checkHostDns, checkPlaceholders, checkPort, checkTunnel, runDoctor, type CheckResult } from '../../src/doctor/checks.js';
import { startGateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';
import { runConnector } from '../../src/tunnel/connector.js';
import { createTunnelToken, encodeToken, openTunnelTokenStore, statusFilePath } from '../../src/tunnel/index.js';
import { startSampleImmich, type SampleImmich } from '../../src/demo/sample-immich/server.js';

let immich: SampleImmich;
let smtp: SMTPServer;
let smtpPort: number;
let dataDir: string;
const received: Array<{ to: string[]; data: string }> = [];

before(async () => {
  immich = await startSampleImmich();
  smtp = new SMTPServer({
    logger: false,
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    onAuth(auth, _session, callback) {
      if (auth.username === 'porthole' && auth.password === 'right') return callback(null, { user: 'porthole' });
      callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      let data = '';
      stream.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
      stream.on('end', () => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), data });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  smtpPort = (smtp.server.address() as net.AddressInfo).port;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-doctor-'));
});

after(async () => {
  await immich.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function configWith(origin: string, password = 'right', extra: Record<string, unknown> = {}): ResolvedConfig {
  return parseConfig({
    listen: { address: '127.0.0.1', httpPort: 0 },
    // localhost is the one name every test machine resolves; a LAN trial, hence http.
    hosts: { private: 'localhost' },
    publicScheme: 'http',
    origin: { url: origin },
    gate: { allow: ['a@porthole.test'] },
    mail: { from: 'p@porthole.test', smtp: { host: '127.0.0.1', port: smtpPort, security: 'none', user: 'porthole', password } },
    dataDir,
    ...extra,
  });
}

const find = (results: CheckResult[], name: string) => {
  const found = results.find((r) => r.name === name);
  assert.ok(found, `no check named ${name} in ${results.map((r) => r.name).join(', ')}`);
  return found;
};

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [path.resolve('bin/porthole.js'), ...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

test('a healthy setup passes every check that applies', async () => {
  const results = await runDoctor(configWith(immich.url));
  for (const name of [
    'secrets are readable',
    'no placeholder values',
    'DNS for the private host',
    'origin host name resolves',
    'origin answers like Immich',
    'data directory is writable',
    'mail server accepts us',
    'HTTP port is free',
  ]) {
    assert.equal(find(results, name).verdict, 'pass', JSON.stringify(find(results, name)));
  }
  assert.match(find(results, 'origin answers like Immich').detail, /Immich v3\.1\.0 \(a version Porthole was tested with\)/);
  assert.equal(find(results, 'tunnel').verdict, 'skip');
});

test('the example config with nothing set: every check reported, placeholders flagged, the missing secret one FAIL, nothing created', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-doctor-example-'));
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-doctor-cwd-'));
  fs.copyFileSync('porthole.example.yaml', path.join(dir, 'porthole.yaml'));
  const env = { ...process.env };
  delete env.SMTP_PASSWORD;
  const { code, out } = await runCli(['doctor', '--config', path.join(dir, 'porthole.yaml'), '--json'], { cwd: elsewhere, env });
  assert.equal(code, 1);
  const report = JSON.parse(out) as { ok: boolean; checks: CheckResult[] };
  assert.equal(report.ok, false);
  const names = report.checks.map((c) => c.name);
  for (const name of [
    'config is valid',
    'secrets are readable',
    'no placeholder values',
    'DNS for the private host',
    'DNS for the share host',
    'HTTP port is free',
    'HTTPS certificate',
    'origin host name resolves',
    'origin answers like Immich',
    'tunnel',
    'data directory is writable',
    'mail server accepts us',
  ]) {
    assert.ok(names.includes(name), `${name} missing from ${names.join(', ')}`);
  }
  const secrets = report.checks.filter((c) => /SMTP_PASSWORD/.test(c.detail) && c.verdict === 'fail');
  assert.equal(secrets.length, 1, 'the missing secret is exactly one FAIL');
  assert.equal(secrets[0]!.name, 'secrets are readable');
  const placeholders = report.checks.find((c) => c.name === 'no placeholder values')!;
  assert.equal(placeholders.verdict, 'fail');
  for (const value of ['photos.example.com', 'share.example.com', 'smtp.example.com', 'alice@example.com', '*@family.example'])
    assert.ok(placeholders.detail.includes(value), placeholders.detail);
  for (const check of report.checks.filter((c) => c.verdict === 'fail')) assert.ok(check.fix, `${check.name} fails without a fix`);
  // Created nothing: no data/ next to the config, none in the working directory.
  assert.deepEqual(fs.readdirSync(dir), ['porthole.yaml']);
  assert.deepEqual(fs.readdirSync(elsewhere), []);
  fs.rmSync(dir, { recursive: true });
  fs.rmSync(elsewhere, { recursive: true });
});

test('a config that cannot be read is one FAIL and the text output ends with a summary', async () => {
  const { code, out, err } = await runCli(['doctor', '--config', path.join(dataDir, 'absent.yaml')]);
  assert.equal(code, 1);
  assert.equal(err, '');
  assert.match(out, /\[FAIL\] config is valid: .*absent\.yaml: cannot read the file: ENOENT/);
  assert.match(out, /1 check failed/);
});

test('placeholders: your own names pass, example names fail', () => {
  assert.equal(checkPlaceholders(configWith(immich.url)).verdict, 'pass');
  const example = configWith(immich.url, 'right', { hosts: { private: 'photos.example.com' }, gate: { allow: ['me@real.test', '*@family.example'] } });
  const check = checkPlaceholders(example);
  assert.equal(check.verdict, 'fail');
  assert.match(check.detail, /hosts\.private: photos\.example\.com/);
  assert.match(check.detail, /gate\.allow\[1\]: \*@family\.example/);
  assert.doesNotMatch(check.detail, /me@real\.test/);
});

test('DNS: a host that resolves says where it points; one that does not names the record to create', async () => {
  const good = await checkHostDns(configWith(immich.url), 'private');
  assert.equal(good.verdict, 'pass');
  assert.match(good.detail, /localhost → .*(127\.0\.0\.1|::1)/);
  // Behind https a private address means people outside cannot reach it: said, with the fix.
  const lanOnly = await checkHostDns(configWith(immich.url, 'right', { publicScheme: 'https' }), 'private');
  assert.equal(lanOnly.verdict, 'warn');
  assert.match(lanOnly.fix ?? '', /public address/);
  const bad = await checkHostDns(configWith(immich.url, 'right', { hosts: { private: 'photos.porthole.invalid' } }), 'private');
  assert.equal(bad.verdict, 'fail');
  assert.match(bad.fix ?? '', /Create a DNS record: photos\.porthole\.invalid A/);
});

test('an origin name that does not resolve points at the Docker network', async () => {
  const results = await runDoctor(configWith('http://immich-server.invalid:2283'));
  const check = find(results, 'origin host name resolves');
  assert.equal(check.verdict, 'fail');
  assert.match(check.fix ?? '', /same Docker network/);
});

test('a closed origin port says Immich is not running or the port is wrong', async () => {
  const port = await closedPort();
  const check = find(await runDoctor(configWith(`http://127.0.0.1:${port}`)), 'origin answers like Immich');
  assert.equal(check.verdict, 'fail');
  assert.match(check.detail, /ECONNREFUSED/);
  assert.match(check.fix ?? '', /is Immich running/);
});

test('an origin that is not Immich is recognised', async () => {
  const other = http.createServer((_req, res) => res.end('hello'));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const { port } = other.address() as net.AddressInfo;
  const check = find(await runDoctor(configWith(`http://127.0.0.1:${port}`)), 'origin answers like Immich');
  other.closeAllConnections();
  await new Promise<void>((resolve) => other.close(() => resolve()));
  assert.equal(check.verdict, 'fail');
  assert.match(check.fix ?? '', /points at something else/);
});

test('an Immich version Porthole was not tested with is a warning naming both versions', async () => {
  const newer = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(req.url === '/api/server/ping' ? '{"res":"pong"}' : '{"major":9,"minor":0,"patch":1}');
  });
  await new Promise<void>((resolve) => newer.listen(0, '127.0.0.1', resolve));
  const { port } = newer.address() as net.AddressInfo;
  const check = find(await runDoctor(configWith(`http://127.0.0.1:${port}`)), 'origin answers like Immich');
  newer.closeAllConnections();
  await new Promise<void>((resolve) => newer.close(() => resolve()));
  assert.equal(check.verdict, 'warn');
  assert.match(check.detail, /Immich v9\.0\.1; Porthole was tested with v3\.1 and v2\.7/);
});

test('a wrong SMTP password is reported as such; --send-test delivers a real mail with the right one', async () => {
  const wrong = find(await runDoctor(configWith(immich.url, 'wrong')), 'mail server accepts us');
  assert.equal(wrong.verdict, 'fail');
  assert.match(wrong.detail, /EAUTH/);
  assert.match(wrong.fix ?? '', /user or password is wrong/);
  const results = await runDoctor(configWith(immich.url), { sendTest: 'checker@porthole.test' });
  assert.equal(find(results, 'mail server accepts us').verdict, 'pass');
  assert.equal(find(results, 'test mail sent').verdict, 'pass');
  const mail = received.find((m) => m.to.includes('checker@porthole.test'));
  assert.ok(mail, 'the SMTP server received the test mail');
  assert.match(mail.data, /Subject: Porthole test mail/);
});

test('a missing SMTP secret still checks that the mail server answers, without a second FAIL', async () => {
  const config = configWith(immich.url);
  const results = await runDoctor(
    { ...config, mail: { ...config.mail, smtp: { ...config.mail.smtp!, password: undefined } } },
    { secretProblems: ['mail.smtp.password: environment variable X is not set'] },
  );
  assert.equal(find(results, 'secrets are readable').verdict, 'fail');
  const mail = find(results, 'mail server accepts us');
  assert.equal(mail.verdict, 'warn');
  assert.match(mail.detail, /answers .*login was not tried/);
  assert.equal(results.filter((r) => r.verdict === 'fail').length, 1);
});

test('ports: free passes; taken by another program fails; taken by a running Porthole passes', async () => {
  const other = http.createServer((_req, res) => res.end('hello'));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const takenPort = (other.address() as net.AddressInfo).port;
  const taken = await checkPort(configWith(immich.url, 'right', { listen: { address: '127.0.0.1', httpPort: takenPort } }), 'http');
  other.closeAllConnections();
  await new Promise<void>((resolve) => other.close(() => resolve()));
  assert.equal(taken.verdict, 'fail');
  assert.match(taken.detail, /taken by another program/);

  const freePort = await closedPort();
  assert.equal((await checkPort(configWith(immich.url, 'right', { listen: { address: '127.0.0.1', httpPort: freePort } }), 'http')).verdict, 'pass');

  const gatewayData = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-doctor-gw-'));
  const gatewayConfig = configWith(immich.url, 'right', { dataDir: gatewayData, mail: { from: 'p@porthole.test', transport: 'console' } });
  const gateway = await startGateway(
    gatewayConfig,
    createConsoleMailer(() => {}),
    silentLogger,
  );
  try {
    const ours = await checkPort({ ...gatewayConfig, listen: { ...gatewayConfig.listen, httpPort: gateway.httpPort } }, 'http');
    assert.equal(ours.verdict, 'pass', JSON.stringify(ours));
    assert.match(ours.detail, /in use by a running Porthole/);
  } finally {
    await gateway.close();
    fs.rmSync(gatewayData, { recursive: true, force: true });
  }
});

test('data directory: missing but creatable passes without creating it; a file in its place fails', async () => {
  const missing = path.join(dataDir, 'not-yet', 'data');
  const pass = await checkDataDir({ ...configWith(immich.url), dataDir: missing });
  assert.equal(pass.verdict, 'pass');
  assert.match(pass.detail, /will be created/);
  assert.equal(fs.existsSync(path.join(dataDir, 'not-yet')), false);
  const file = path.join(dataDir, 'a-file');
  fs.writeFileSync(file, 'x');
  const fail = await checkDataDir({ ...configWith(immich.url), dataDir: path.join(file, 'data') });
  assert.equal(fail.verdict, 'fail');
});

test('certificate: expired and wrong-name certificates fail, a valid one passes', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-doctor-tls-'));
  const make = async (name: string, notAfter: Date) => {
    const pems = await generate([{ name: 'commonName', value: name }], {
      keyType: 'ec',
      curve: 'P-256',
      notBeforeDate: new Date(Date.now() - 10 * 86_400_000),
      notAfterDate: notAfter,
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: name },
            { type: 2, value: `share.${name}` },
          ],
        },
      ],
    } as never);
    const certFile = path.join(dir, `${name}-${notAfter.getTime()}.pem`);
    const keyFile = `${certFile}.key`;
    fs.writeFileSync(certFile, pems.cert);
    fs.writeFileSync(keyFile, pems.private);
    return { certFile, keyFile };
  };
  const withTls = (tls: { certFile: string; keyFile: string }) => {
    const c = configWith(immich.url);
    return { ...c, listen: { ...c.listen, address: '127.0.0.1', httpPort: 0, httpsPort: 0 }, tls: { ...c.tls, ...tls } };
  };
  const valid = checkCertificate(withTls(await make('localhost', new Date(Date.now() + 90 * 86_400_000))));
  assert.equal(valid.verdict, 'pass', JSON.stringify(valid));
  const expired = checkCertificate(withTls(await make('localhost', new Date(Date.now() - 86_400_000))));
  assert.equal(expired.verdict, 'fail');
  assert.match(expired.detail, /expired/);
  const otherName = checkCertificate(withTls(await make('elsewhere.test', new Date(Date.now() + 90 * 86_400_000))));
  assert.equal(otherName.verdict, 'fail');
  assert.match(otherName.detail, /not for localhost/);
  const absent = checkCertificate(withTls({ certFile: path.join(dir, 'none.pem'), keyFile: path.join(dir, 'none.key') }));
  assert.equal(absent.verdict, 'fail');
  assert.match(absent.detail, /ENOENT/);
  fs.rmSync(dir, { recursive: true });
});

/** Waits until the gateway's tunnel status file says what `ready` wants (it is rewritten every 2 s). */
async function statusWhere(dir: string, ready: (connectors: number) => boolean): Promise<void> {
  const file = statusFilePath(dir);
  for (;;) {
    try {
      const status = JSON.parse(fs.readFileSync(file, 'utf8')) as { connectors: unknown[] };
      if (ready(status.connectors.length)) return;
    } catch {
      // not written yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('tunnel: no token and no connector fail; with a connector attached it passes', { timeout: 120_000 }, async () => {
  const tunnelData = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-doctor-tunnel-'));
  const config = configWith(immich.url, 'right', {
    dataDir: tunnelData,
    listen: { address: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    tunnel: { enabled: true, publicAddress: 'localhost:443' },
    mail: { from: 'p@porthole.test', transport: 'console' },
  });
  const notRunning = checkTunnel(config);
  assert.equal(find(notRunning, 'tunnel token').verdict, 'fail');
  assert.equal(find(notRunning, 'home connector attached').verdict, 'fail');
  assert.equal(fs.existsSync(path.join(tunnelData, 'porthole.db')), false, 'the doctor created no database');

  const gateway = await startGateway(
    config,
    createConsoleMailer(() => {}),
    silentLogger,
  );
  const tokens = openTunnelTokenStore(tunnelData);
  const { id, secret } = createTunnelToken(tokens.store, 'home');
  tokens.close();
  try {
    await statusWhere(tunnelData, (n) => n === 0);
    const absent = checkTunnel(config);
    assert.equal(find(absent, 'tunnel token').verdict, 'pass');
    const connectorCheck = find(absent, 'home connector attached');
    assert.equal(connectorCheck.verdict, 'fail');
    assert.match(connectorCheck.detail, /no connector/);
    assert.match(connectorCheck.fix ?? '', /porthole connect/);

    const token = encodeToken({ id, secret, gateway: `127.0.0.1:${gateway.https!.port}`, fingerprint: gateway.https!.certificate.fingerprint });
    const connector = runConnector({ token, origin: new URL(immich.url), name: 'doctor-test' });
    await new Promise((resolve) => connector.once('connected', resolve));
    await statusWhere(tunnelData, (n) => n > 0);
    const attached = find(checkTunnel(config), 'home connector attached');
    assert.equal(attached.verdict, 'pass');
    assert.match(attached.detail, /doctor-test/);
    await connector.stop();
  } finally {
    await gateway.close();
    fs.rmSync(tunnelData, { recursive: true, force: true });
  }
});

test('porthole doctor exits 1, prints the fix, and --json parses', async () => {
  const port = await closedPort();
  const file = path.join(dataDir, 'porthole.yaml');
  fs.writeFileSync(
    file,
    [
      'listen: { address: 127.0.0.1, httpPort: 0 }',
      'hosts: { private: localhost }',
      `origin: { url: "http://127.0.0.1:${port}" }`,
      'gate: { allow: [a@porthole.test] }',
      'mail: { from: p@porthole.test, transport: console }',
      `dataDir: ${JSON.stringify(dataDir)}`,
    ].join('\n'),
  );
  const text = await runCli(['doctor', '--config', file]);
  assert.equal(text.code, 1);
  assert.match(text.out, /\[FAIL\] origin answers like Immich/);
  assert.match(text.out, /fix: Nothing listens there/);
  assert.match(text.out, /\[warn\] mail server accepts us: mail.transport is console/);
  const json = await runCli(['doctor', '--config', file, '--json']);
  assert.equal(json.code, 1);
  const report = JSON.parse(json.out) as { ok: boolean; checks: CheckResult[] };
  assert.equal(report.ok, false);
  assert.equal(report.checks.find((c) => c.name === 'origin answers like Immich')?.verdict, 'fail');
});
