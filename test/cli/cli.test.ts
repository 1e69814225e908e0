// The command line as a newcomer meets it, each run as its own process: every subcommand with missing and bad
// arguments prints one line (no stack frame) and the documented exit code (2 usage, 1 failure); `init` writes
// the same config from flags and from prompts on a pseudo-terminal, `serve` accepts it, and an existing file is
// never overwritten without --force.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../ports.js';
import { after, before, test } from 'node:test';

const BIN = path.resolve('bin/porthole.js');
const PTY = path.resolve('test/cli/terminal.py');
let dir: string;
let config: string;

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function run(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? dir, env: options.env ?? withoutSecrets(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

/** Runs a command on a pseudo-terminal, typing `keys` whenever `expected` has appeared. */
function runOnTerminal(steps: Array<[expected: string, keys: string]>, args: string[], cwd: string): Promise<{ code: number | null; transcript: string }> {
  const child = spawn('python3', [PTY, JSON.stringify(steps), process.execPath, BIN, ...args], {
    cwd,
    env: { ...withoutSecrets(), TERM: 'xterm-256color' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let transcript = '';
  child.stdout.on('data', (chunk: Buffer) => (transcript += chunk));
  child.stderr.on('data', (chunk: Buffer) => (transcript += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, transcript })));
}

function withoutSecrets(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.SMTP_PASSWORD;
  delete env.PORTHOLE_TUNNEL_TOKEN;
  return env;
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-cli-'));
  config = path.join(dir, 'porthole.yaml');
  fs.writeFileSync(
    config,
    [
      'hosts: { private: photos.porthole.test }',
      'origin: { url: "http://127.0.0.1:9" }',
      'gate: { allow: [me@porthole.test] }',
      'mail: { from: p@porthole.test, smtp: { host: 127.0.0.1, user: u, password: { env: SMTP_PASSWORD } } }',
    ].join('\n'),
  );
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** [arguments, exit code, what the one line must say]. */
const WRONG_INPUT: Array<[string[], number, RegExp]> = [
  [[], 2, /missing command: porthole <init\|serve\|doctor/],
  [['serv'], 2, /unknown command "serv" \(did you mean `porthole serve`\?\)/],
  [['--bogus'], 2, /unknown option '--bogus'/],
  [['init', '--config', 'x.yaml'], 2, /init needs --private-host, --allow, --smtp <url> \(or --console-mail\) when it cannot ask/],
  [['init', '--config', 'new.yaml', '--private-host', 'https://photos'], 2, /--private-host https:\/\/photos: .* is not a host name/],
  [['init', '--config', 'new.yaml', '--private-host', 'a.test', '--allow', 'nobody'], 2, /--allow nobody: "nobody" is not an email address/],
  [['init', '--config', 'new.yaml', '--private-host', 'a.test', '--allow', 'a@b.test', '--smtp', 'http://mail'], 2, /an SMTP URL starts with smtp:\/\//],
  [['init', '--config', 'new.yaml', '--private-host', 'a.test', '--allow', 'a@b.test', '--smtp', 'smtp://u:pw@mail'], 2, /the SMTP URL holds a password.*--inline-secrets/],
  [['init', '--config', 'new.yaml', '--private-host', 'a.test', '--allow', 'a@b.test', '--console-mail', '--mode', 'cloud'], 2, /--mode cloud: Allowed choices are direct, tunnel/],
  [['serve'], 2, /required option '-c, --config <file>' not specified \(see `porthole serve --help`\)/],
  [['serve', '--config'], 2, /option '-c, --config <file>' argument missing/],
  [['serve', '--config', 'absent.yaml'], 2, /absent\.yaml: cannot read the file: ENOENT \(check the path, or create one with `porthole init`\)/],
  [['serve', '--config', 'porthole.yaml'], 2, /porthole\.yaml:4:\d+: mail\.smtp\.password: environment variable SMTP_PASSWORD is not set/],
  [['doctor'], 2, /required option '-c, --config <file>' not specified/],
  [['doctor', '--config', 'porthole.yaml', '--send-test', 'nobody'], 2, /--send-test needs an email address/],
  [['demo', '--port', 'abc'], 2, /--port abc: expected a port number/],
  [['sessions'], 2, /missing command: porthole sessions <list\|revoke>/],
  [['sessions', 'list'], 2, /required option '-c, --config <file>' not specified/],
  [['sessions', 'list', '--config', 'porthole.yaml'], 1, /no Porthole state in .* \(start the gateway once with `porthole serve`/],
  [['sessions', 'revoke', '--config', 'porthole.yaml'], 2, /say which sessions to revoke/],
  [['sessions', 'revoke', 'xyz', '--config', 'porthole.yaml'], 2, /"xyz" is neither a session id/],
  [['devices'], 2, /missing command: porthole devices <add\|list\|revoke>/],
  [['devices', 'add', '--config', 'porthole.yaml'], 2, /required option '-e, --email <address>' not specified/],
  [['devices', 'revoke', '--config', 'porthole.yaml'], 2, /say which devices to revoke/],
  [['devices', 'list', '--config', 'porthole.yaml'], 1, /no Porthole state in/],
  [['audit'], 2, /required option '-c, --config <file>' not specified/],
  [['audit', '--config', 'porthole.yaml', '--limit', '0'], 2, /--limit 0: expected a whole number from 1 to 10000/],
  [['audit', '--config', 'porthole.yaml', '--type', 'bogus'], 2, /--type bogus: Allowed choices are/],
  [['tunnel'], 2, /missing command: porthole tunnel <token\|status>/],
  [['tunnel', 'tokn'], 2, /unknown command "tokn" \(did you mean `porthole tunnel token`\?\)/],
  [['tunnel', 'token'], 2, /missing command: porthole tunnel token <create\|list\|revoke>/],
  [['tunnel', 'token', 'create'], 2, /required option '-c, --config <file>' not specified/],
  [['tunnel', 'token', 'create', '--config', 'porthole.yaml'], 2, /say where connectors reach this gateway: --gateway host:port/],
  [['tunnel', 'token', 'create', '--config', 'porthole.yaml', '--gateway', 'gateway.porthole.test:99999'], 2, /gateway port out of range/],
  [['tunnel', 'token', 'revoke', '--config', 'porthole.yaml'], 2, /missing required argument 'id'/],
  [['tunnel', 'status'], 2, /required option '-c, --config <file>' not specified/],
  [['connect'], 2, /required option '-o, --origin <url>' not specified/],
  [['connect', '--origin', 'http://immich:2283'], 2, /give the token with --token, --token-file or PORTHOLE_TUNNEL_TOKEN/],
  [['connect', '--origin', 'http://immich:2283', '--token', 'abc'], 2, /not a Porthole tunnel token/],
  [['connect', '--origin', 'http://immich:2283', '--token', 'pht1_!!!'], 2, /tunnel token is damaged/],
  [['connect', '--origin', 'ftp://immich', '--token', 'abc'], 2, /--origin ftp:\/\/immich: expected http:\/\/host:port/],
  [['connect', '--origin', 'http://immich:2283', '--token-file', 'absent-token'], 1, /ENOENT.*\(check the path\)/],
];

test('every command with missing or bad input prints one line, no stack frame, and its exit code', { timeout: 600_000 }, async () => {
  const failures: string[] = [];
  // A few at a time: each is a whole Node process.
  const results = new Map<number, Run>();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < WRONG_INPUT.length) {
        const index = next++;
        results.set(index, await run(WRONG_INPUT[index]![0]));
      }
    }),
  );
  for (const [index, [args, code, expected]] of WRONG_INPUT.entries()) {
    const result = results.get(index)!;
    const lines = result.err.split('\n').filter(Boolean);
    const shown = `porthole ${args.join(' ')} → exit ${result.code}, stderr ${JSON.stringify(result.err)}`;
    if (result.code !== code) failures.push(`${shown}: expected exit ${code}`);
    if (lines.length !== 1) failures.push(`${shown}: expected one line`);
    if (!/^porthole: /.test(result.err)) failures.push(`${shown}: expected "porthole: " first`);
    if (/^\s+at /m.test(result.err + result.out)) failures.push(`${shown}: a stack frame`);
    if (!expected.test(result.err)) failures.push(`${shown}: expected ${expected}`);
  }
  assert.deepEqual(failures, []);
});

test('--debug adds the stack to an expected failure; --help and --version exit 0', async () => {
  const debug = await run(['--debug', 'connect', '--origin', 'http://immich:2283', '--token', 'abc']);
  assert.equal(debug.code, 2);
  assert.match(debug.err, /^porthole: not a Porthole tunnel token/);
  assert.match(debug.err, /^\s+at /m);
  const help = await run(['serve', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /--config <file>\s+path to porthole\.yaml \(required;\s+create one with\s+`porthole init`\)/);
  const version = await run(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.out, /^\d+\.\d+\.\d+/);
});

const ANSWERS = {
  privateHost: 'photos.porthole.test',
  shareHost: 'share.porthole.test',
  allow: 'me@porthole.test, *@family.porthole.test',
  origin: 'http://127.0.0.1:9',
};

/** Starts `serve` from another folder and waits for its listening line; stops it with SIGTERM. */
async function serveAccepts(file: string): Promise<string> {
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-cli-cwd-'));
  const child = spawn(process.execPath, [BIN, 'serve', '--config', file], { cwd: elsewhere, env: withoutSecrets(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      if (/"msg":"listening"/.test(out)) resolve();
    });
    child.on('close', () => reject(new Error(`serve exited: ${err}${out}`)));
  });
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  // The data folder is next to the config file, not in the folder serve was started from.
  assert.deepEqual(fs.readdirSync(elsewhere), []);
  assert.ok(fs.existsSync(path.join(path.dirname(file), 'data', 'porthole.db')));
  fs.rmSync(elsewhere, { recursive: true });
  return out;
}

test('init from flags writes a config serve accepts; it refuses to overwrite without --force', { timeout: 120_000 }, async () => {
  const target = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-init-flags-'));
  const port = await freePort();
  const flags = [
    '--private-host',
    ANSWERS.privateHost,
    '--share-host',
    ANSWERS.shareHost,
    '--allow',
    ANSWERS.allow,
    '--mode',
    'direct',
    '--origin',
    ANSWERS.origin,
    '--console-mail',
    '--http-port',
    String(port),
  ];
  const first = await run(['init', '--config', 'porthole.yaml', ...flags], { cwd: target });
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /DNS: point photos\.porthole\.test and share\.porthole\.test at/);
  assert.match(first.out, /External Domain = https:\/\/share\.porthole\.test/);
  assert.match(first.out, /porthole doctor --config porthole\.yaml/);
  assert.match(first.out, /porthole serve --config porthole\.yaml/);
  const written = fs.readFileSync(path.join(target, 'porthole.yaml'), 'utf8');
  assert.match(written, /^# Porthole configuration, written by `porthole init`/);

  const again = await run(['init', '--config', 'porthole.yaml', ...flags], { cwd: target });
  assert.equal(again.code, 1);
  assert.equal(again.err, 'porthole: porthole.yaml already exists; nothing was written (add --force to replace it, or choose another file with --config)\n');
  assert.equal(fs.readFileSync(path.join(target, 'porthole.yaml'), 'utf8'), written);
  const forced = await run(['init', '--config', 'porthole.yaml', '--force', ...flags.slice(0, -2), '--http-port', String(port)], { cwd: target });
  assert.equal(forced.code, 0, forced.err);

  const log = await serveAccepts(path.join(target, 'porthole.yaml'));
  assert.match(log, new RegExp(`"port":${port}`));
  fs.rmSync(target, { recursive: true });
});

test('init with an SMTP server writes the password as a reference, never inline', async () => {
  const target = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-init-smtp-'));
  const result = await run(
    [
      'init',
      '--private-host',
      'photos.porthole.test',
      '--allow',
      'me@porthole.test',
      '--smtp',
      'smtps://me%40porthole.test@mail.porthole.test',
      '--smtp-password-file',
      '/run/secrets/smtp',
    ],
    { cwd: target },
  );
  assert.equal(result.code, 0, result.err);
  const written = fs.readFileSync(path.join(target, 'porthole.yaml'), 'utf8');
  assert.match(written, /host: mail\.porthole\.test\n {4}port: 465\n {4}security: tls/);
  assert.match(written, /user: me@porthole\.test/);
  assert.match(written, /password: \{ file: \/run\/secrets\/smtp \}/);
  assert.match(result.out, /write the SMTP password into \/run\/secrets\/smtp/);
  fs.rmSync(target, { recursive: true });
});

test('init on a terminal asks for what the flags did not give and writes the same file', { timeout: 300_000 }, async () => {
  const viaFlags = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-init-a-'));
  const viaPrompts = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-init-b-'));
  const port = await freePort();
  const flagsRun = await run(
    [
      'init',
      '--private-host',
      ANSWERS.privateHost,
      '--share-host',
      ANSWERS.shareHost,
      '--allow',
      ANSWERS.allow,
      '--mode',
      'direct',
      '--origin',
      ANSWERS.origin,
      '--console-mail',
      '--http-port',
      String(port),
    ],
    { cwd: viaFlags },
  );
  assert.equal(flagsRun.code, 0, flagsRun.err);

  const DOWN = '\x1b[B';
  const { code, transcript } = await runOnTerminal(
    [
      ['Private host name', `${ANSWERS.privateHost}\r`],
      ['Share host name', `${ANSWERS.shareHost}\r`],
      ['Who may sign in', `${ANSWERS.allow}\r`],
      ['Where does Immich run', '\r'],
      ['Immich as seen from this gateway', `${ANSWERS.origin}\r`],
      ['How are sign-in codes mailed', `${DOWN}\r`],
      ['Sender of the sign-in mails', '\r'],
    ],
    ['init', '--http-port', String(port)],
    viaPrompts,
  );
  assert.equal(code, 0, transcript);
  assert.match(transcript, /Wrote porthole\.yaml\. Next:/);
  assert.equal(fs.readFileSync(path.join(viaPrompts, 'porthole.yaml'), 'utf8'), fs.readFileSync(path.join(viaFlags, 'porthole.yaml'), 'utf8'));
  await serveAccepts(path.join(viaPrompts, 'porthole.yaml'));
  fs.rmSync(viaFlags, { recursive: true });
  fs.rmSync(viaPrompts, { recursive: true });
});

test('a prompt answer that is not valid is refused in place and asked again', { timeout: 300_000 }, async () => {
  const target = fs.mkdtempSync(path.join(os.tmpdir(), 'porthole-init-c-'));
  const { code, transcript } = await runOnTerminal(
    [
      ['Private host name', 'https://photos\r'],
      ['is not a host name', '\x15photos.porthole.test\r'],
      ['Share host name', '\x03'],
    ],
    ['init'],
    target,
  );
  assert.equal(code, 1, transcript);
  assert.match(transcript, /porthole: init cancelled; nothing was written/);
  assert.deepEqual(fs.readdirSync(target), []);
  fs.rmSync(target, { recursive: true });
});
