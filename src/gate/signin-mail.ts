// The sign-in mail: the code and a link to the confirmation page, as plain text and HTML, in the requester's
// language. The link leads to a page with a button; following it (as mail scanners do) consumes nothing.
// The subject names the code only when configured (mail.codeInSubject).
import type { Locale } from '../http/locale.js';
import { escapeHtml } from '../http/page.js';
import type { OutgoingMail } from '../mail/mailer.js';

const COPY = {
  en: {
    subject: (code: string, host: string) => `${code} is your sign-in code for ${host}`,
    subjectWithoutCode: (host: string) => `Your sign-in code for ${host}`,
    intro: (host: string) => `Use this code to sign in to ${host}:`,
    link: 'Or open this link and confirm:',
    button: 'Sign in',
    validity: (minutes: number) => `The code and the link work once and expire in ${minutes} minutes.`,
    ignore: 'If you did not ask for this, you can ignore this email; nobody can sign in without the code.',
  },
  de: {
    subject: (code: string, host: string) => `${code} ist dein Anmeldecode für ${host}`,
    subjectWithoutCode: (host: string) => `Dein Anmeldecode für ${host}`,
    intro: (host: string) => `Mit diesem Code meldest du dich bei ${host} an:`,
    link: 'Oder öffne diesen Link und bestätige:',
    button: 'Anmelden',
    validity: (minutes: number) => `Code und Link funktionieren einmal und laufen in ${minutes} Minuten ab.`,
    ignore: 'Wenn du das nicht angefordert hast, kannst du diese E-Mail ignorieren; ohne den Code kann sich niemand anmelden.',
  },
} satisfies Record<Locale, unknown>;

/** `codeInSubject` (config mail.codeInSubject): subjects show on lock screens and in notifications, so off by default. */
export function signInMail(o: { to: string; code: string; link: string; host: string; minutes: number; locale: Locale; codeInSubject?: boolean }): OutgoingMail {
  const c = COPY[o.locale];
  const text = [c.intro(o.host), '', `    ${o.code}`, '', c.link, o.link, '', c.validity(o.minutes), c.ignore, ''].join('\n');
  const html = `<!doctype html><html lang="${o.locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"></head>
<body style="margin:0;padding:24px;background:#f6f6f9;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1f">
<div style="max-width:28rem;margin:0 auto;background:#ffffff;border-radius:12px;padding:24px">
<p style="margin:0 0 12px">${escapeHtml(c.intro(o.host))}</p>
<p style="margin:0 0 20px;font-size:32px;font-weight:700;letter-spacing:6px;font-family:ui-monospace,Menlo,Consolas,monospace">${escapeHtml(o.code)}</p>
<p style="margin:0 0 12px">${escapeHtml(c.link)}</p>
<p style="margin:0 0 20px"><a href="${escapeHtml(o.link)}" style="display:inline-block;background:#4250af;color:#ffffff;text-decoration:none;font-weight:600;padding:12px 20px;border-radius:8px">${escapeHtml(c.button)}</a></p>
<p style="margin:0 0 8px;color:#5c5c66;font-size:14px">${escapeHtml(c.validity(o.minutes))}</p>
<p style="margin:0;color:#5c5c66;font-size:14px">${escapeHtml(c.ignore)}</p>
</div></body></html>`;
  return { to: o.to, subject: o.codeInSubject ? c.subject(o.code, o.host) : c.subjectWithoutCode(o.host), text, html };
}
