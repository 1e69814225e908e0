// Console "mail" for the demo and local trials: the message is printed instead of sent.
import type { Mailer } from './mailer.js';

export function createConsoleMailer(write: (text: string) => void = (text) => process.stdout.write(text)): Mailer {
  return {
    async send(mail) {
      write(`\n--- mail to ${mail.to} ---\nSubject: ${mail.subject}\n\n${mail.text}\n--- end of mail ---\n\n`);
    },
    close() {},
  };
}
