// SMTP delivery through nodemailer: STARTTLS on 587 (required, never silently plaintext), implicit TLS on 465,
// or a plain local relay when explicitly configured.
import nodemailer from 'nodemailer';
import type { ResolvedConfig } from '../config/load.js';
import type { Logger } from '../log.js';
import type { Mailer } from './mailer.js';

type SmtpSettings = NonNullable<ResolvedConfig['mail']['smtp']>;

/** The one mapping from mail.smtp to a nodemailer transport; `porthole doctor` verifies with the same one. */
export function createSmtpTransport(smtp: SmtpSettings, timeoutMs = 15_000) {
  return nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.security === 'tls',
    requireTLS: smtp.security === 'starttls',
    ignoreTLS: smtp.security === 'none',
    auth: smtp.user ? { user: smtp.user, pass: smtp.password ?? '' } : undefined,
    tls: { rejectUnauthorized: !smtp.allowInvalidCertificate, minVersion: 'TLSv1.2' },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: 2 * timeoutMs,
  });
}

export function createSmtpMailer(mail: ResolvedConfig['mail'], logger: Logger): Mailer {
  const smtp = mail.smtp;
  if (!smtp) throw new Error('mail.smtp is required for the smtp transport');
  const transport = createSmtpTransport(smtp);
  return {
    async send(message) {
      // Only the fields we built are sent; nodemailer may never read files or fetch URLs for a message.
      const info = await transport.sendMail({
        from: mail.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
        // Out-of-office and other auto-replies to a sign-in code help nobody.
        headers: { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' },
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      logger.debug({ messageId: info.messageId }, 'mail accepted by SMTP server');
    },
    close: () => transport.close(),
  };
}
