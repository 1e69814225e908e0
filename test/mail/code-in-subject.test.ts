// mail.codeInSubject over real SMTP: off (the default) the subject names only the host, so a lock screen or a
// notification preview does not show the code; on, the subject starts with it. The body has it either way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { CookieJar, startTestGate } from '../gate/harness.js';

async function mailWith(codeInSubject: boolean | undefined, locale: string) {
  const gate = await startTestGate(codeInSubject === undefined ? {} : { mail: { codeInSubject } });
  try {
    const jar = new CookieJar();
    assert.equal((await gate.submit('/.porthole/login', { email: 'alice@example.com' }, jar, { 'accept-language': locale })).status, 303);
    const mail = await gate.smtp.next('alice@example.com', 0);
    assert.match(mail.code, /^\d{6}$/);
    assert.ok(mail.html.includes(mail.code), 'the HTML part has the code');
    // The mailed code signs in whatever the subject says.
    assert.equal((await gate.submit('/.porthole/code', { code: mail.code }, jar)).status, 303);
    return mail;
  } finally {
    await gate.close();
  }
}

test('by default the code is not in the subject (English and German)', async () => {
  const en = await mailWith(undefined, 'en');
  assert.equal(en.subject, 'Your sign-in code for photos.localhost');
  assert.ok(!/\d{6}/.test(en.subject));
  const de = await mailWith(undefined, 'de');
  assert.equal(de.subject, 'Dein Anmeldecode für photos.localhost');
  const rawSubject = /^subject:.*(\r?\n[ \t].*)*/im.exec(de.raw)?.[0] ?? '';
  assert.ok(rawSubject.length > 0 && !rawSubject.includes(de.code), 'the code is not in the encoded subject either');
});

test('mail.codeInSubject: true puts the code first in the subject', async () => {
  const en = await mailWith(true, 'en');
  assert.equal(en.subject, `${en.code} is your sign-in code for photos.localhost`);
  const de = await mailWith(true, 'de');
  assert.equal(de.subject, `${de.code} ist dein Anmeldecode für photos.localhost`);
});

test('mail.codeInSubject must be true or false', () => {
  const base = { hosts: { private: 'photos.example.com' }, origin: { url: 'http://immich:2283' }, gate: { allow: ['a@example.com'] } };
  assert.throws(() => parseConfig({ ...base, mail: { from: 'p@example.com', transport: 'console', codeInSubject: 'yes' } }, 'test'), /codeInSubject/);
  assert.equal(parseConfig({ ...base, mail: { from: 'p@example.com', transport: 'console' } }, 'test').mail.codeInSubject, false);
});
