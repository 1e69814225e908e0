// SMTP delivery through nodemailer against in-process SMTP servers: STARTTLS with AUTH, implicit TLS,
// STARTTLS required (a server that does not offer it gets nothing, never plaintext), wrong credentials and
// untrusted certificates fail loudly, a plain local relay works only when configured as such.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { generate } from 'selfsigned';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { ResolvedConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { createConsoleMailer } from '../../src/mail/console.js';
import { createSmtpMailer } from '../../src/mail/smtp.js';

let pems: { key: string; cert: string };
const servers: SMTPServer[] = [];
before(async () => {
  const generated = await generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec', curve: 'P-256' });
  pems = { key: generated.private, cert: generated.cert };
});
after(async () => {
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Received {
  from: string;
  to: string[];
  secure: boolean;
  user?: string;
  data: string;
}

async function smtpServer(options: SMTPServerOptions): Promise<{ port: number; received: Received[] }> {
  const received: Received[] = [];
  const server = new SMTPServer({
    logger: false,
    ...pems,
    ...options,
    onAuth(auth, _session, callback) {
      if (auth.username === 'user' && auth.password === 'secret') return callback(null, { user: 'user' });
      callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      let data = '';
      stream.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
      stream.on('end', () => {
        received.push({
          from: String(session.envelope.mailFrom && session.envelope.mailFrom.address),
          to: session.envelope.rcptTo.map((r) => r.address),
          secure: session.secure,
          user: session.user as string | undefined,
          data,
        });
        callback();
      });
    },
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.server.address() as AddressInfo).port, received };
}

function mailConfig(port: number, smtp: Partial<NonNullable<ResolvedConfig['mail']['smtp']>>): ResolvedConfig['mail'] {
  return {
    from: 'Porthole <porthole@example.com>',
    transport: 'smtp',
    codeInSubject: false,
    smtp: { host: '127.0.0.1', port, security: 'starttls', allowInvalidCertificate: true, user: 'user', password: 'secret', ...smtp },
  };
}

const message = { to: 'alice@example.com', subject: '123456 is your sign-in code', text: 'code 123456', html: '<p>code 123456</p>' };

test('STARTTLS with AUTH delivers text and HTML', async () => {
  const server = await smtpServer({ authMethods: ['PLAIN', 'LOGIN'] });
  const mailer = createSmtpMailer(mailConfig(server.port, {}), silentLogger);
  await mailer.send(message);
  mailer.close();
  assert.equal(server.received.length, 1);
  const got = server.received[0]!;
  assert.deepEqual([got.from, got.to, got.secure, got.user], ['porthole@example.com', ['alice@example.com'], true, 'user']);
  assert.match(got.data, /multipart\/alternative/);
  assert.match(got.data, /text\/plain/);
  assert.match(got.data, /text\/html/);
  assert.match(got.data, /^Auto-Submitted: auto-generated\r?$/m);
});

test('implicit TLS (port 465 style) with AUTH', async () => {
  const server = await smtpServer({ secure: true, authMethods: ['PLAIN'] });
  const mailer = createSmtpMailer(mailConfig(server.port, { security: 'tls' }), silentLogger);
  await mailer.send(message);
  mailer.close();
  assert.equal(server.received[0]?.secure, true);
});

test('starttls is required: a server that does not offer it receives nothing', async () => {
  const server = await smtpServer({ disabledCommands: ['STARTTLS'], allowInsecureAuth: true, authMethods: ['PLAIN'] });
  const mailer = createSmtpMailer(mailConfig(server.port, {}), silentLogger);
  await assert.rejects(mailer.send(message));
  mailer.close();
  assert.equal(server.received.length, 0);
  // A server that merely does not advertise it still gets an encrypted session, never plaintext.
  const hidden = await smtpServer({ hideSTARTTLS: true, allowInsecureAuth: true, authMethods: ['PLAIN'] });
  const second = createSmtpMailer(mailConfig(hidden.port, {}), silentLogger);
  await second.send(message);
  second.close();
  assert.equal(hidden.received[0]?.secure, true);
});

test('wrong credentials and untrusted certificates fail', async () => {
  const server = await smtpServer({ authMethods: ['PLAIN'] });
  const wrong = createSmtpMailer(mailConfig(server.port, { password: 'nope' }), silentLogger);
  await assert.rejects(wrong.send(message), /Invalid username or password|auth/i);
  wrong.close();
  const strict = createSmtpMailer(mailConfig(server.port, { allowInvalidCertificate: false }), silentLogger);
  await assert.rejects(strict.send(message), /self[- ]signed|certificate/i);
  strict.close();
  assert.equal(server.received.length, 0);
});

test('security none: a plain local relay without auth', async () => {
  const server = await smtpServer({ disabledCommands: ['STARTTLS', 'AUTH'] });
  const mailer = createSmtpMailer(mailConfig(server.port, { security: 'none', user: undefined, password: undefined }), silentLogger);
  await mailer.send(message);
  mailer.close();
  assert.equal(server.received[0]?.secure, false);
});

test('console transport prints the mail (the demo reads the code there)', async () => {
  let printed = '';
  const mailer = createConsoleMailer((text) => (printed += text));
  await mailer.send(message);
  assert.match(printed, /mail to alice@example\.com/);
  assert.match(printed, /code 123456/);
});
