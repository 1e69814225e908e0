// The gate's pages (sign in, enter code, confirm a mailed link, sign out), in English and German.
// Plain forms, no scripts: each page is a few KiB, works without JavaScript and reads well on a phone.
import type { Locale } from '../http/locale.js';
import { escapeHtml } from '../http/page.js';

export const GATE_PREFIX = '/.porthole';
export const PATHS = {
  login: `${GATE_PREFIX}/login`,
  code: `${GATE_PREFIX}/code`,
  link: `${GATE_PREFIX}/link`,
  logout: `${GATE_PREFIX}/logout`,
} as const;

type Text = Record<Locale, string>;
const t = (en: string, de: string): Text => ({ en, de });

export const TEXT = {
  signInTitle: t('Sign in', 'Anmelden'),
  signInIntro: t(
    'Enter your email address. If it may sign in, we will email you a 6-digit code.',
    'Gib deine E-Mail-Adresse ein. Wenn sie sich anmelden darf, schicken wir dir einen 6-stelligen Code.',
  ),
  emailLabel: t('Email address', 'E-Mail-Adresse'),
  sendCode: t('Email me a code', 'Code per E-Mail senden'),
  badEmail: t('Please enter a valid email address.', 'Bitte gib eine gültige E-Mail-Adresse ein.'),
  signedOut: t('You are signed out.', 'Du bist abgemeldet.'),
  startAgain: t('Please request a new code.', 'Bitte fordere einen neuen Code an.'),
  codeTitle: t('Check your email', 'Schau in deine E-Mails'),
  codeIntro: t(
    'If {email} may sign in, a code is on its way. It is valid for {minutes} minutes.',
    'Wenn {email} sich anmelden darf, ist ein Code unterwegs. Er gilt {minutes} Minuten.',
  ),
  codeLabel: t('6-digit code', '6-stelliger Code'),
  verify: t('Sign in', 'Anmelden'),
  otherAddress: t('Use another address or get a new code', 'Andere Adresse oder neuen Code anfordern'),
  // Others may ask for codes for the same address (each gets its own): "the newest email" may not be this page's.
  wrongCode: t(
    'That code is not right. Use the code from the email you asked for on this page. If several arrived, the sign-in link in any of them works too.',
    'Der Code stimmt nicht. Nimm den Code aus der E-Mail, die du auf dieser Seite angefordert hast. Wenn mehrere angekommen sind, funktioniert auch der Anmeldelink in jeder davon.',
  ),
  badCode: t('Please enter the 6 digits from the email.', 'Bitte gib die 6 Ziffern aus der E-Mail ein.'),
  lockedOut: t('Too many wrong tries. This code no longer works.', 'Zu viele Fehlversuche. Dieser Code gilt nicht mehr.'),
  codeGone: t('This code has expired or was already used.', 'Dieser Code ist abgelaufen oder wurde schon benutzt.'),
  confirmTitle: t('Confirm sign-in', 'Anmeldung bestätigen'),
  confirmIntro: t('Sign in as {email} on this device?', 'Auf diesem Gerät als {email} anmelden?'),
  confirmButton: t('Sign in', 'Anmelden'),
  linkGoneTitle: t('This link no longer works', 'Dieser Link funktioniert nicht mehr'),
  linkGone: t('It has expired or was already used.', 'Er ist abgelaufen oder wurde schon benutzt.'),
  newCode: t('Get a new code', 'Neuen Code anfordern'),
  logoutTitle: t('Sign out', 'Abmelden'),
  logoutIntro: t('Signed in as {email}.', 'Angemeldet als {email}.'),
  logoutButton: t('Sign out', 'Abmelden'),
  notSignedIn: t('You are not signed in.', 'Du bist nicht angemeldet.'),
  backToPhotos: t('Back to the photos', 'Zurück zu den Fotos'),
  footer: t('Protected by Porthole', 'Geschützt durch Porthole'),
} satisfies Record<string, Text>;

export const say = (key: keyof typeof TEXT, locale: Locale, values: Record<string, string> = {}): string =>
  TEXT[key][locale].replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? '');

/** Like `say`, but escapes each value and returns HTML. */
const sayHtml = (key: keyof typeof TEXT, locale: Locale, values: Record<string, string> = {}): string =>
  escapeHtml(TEXT[key][locale]).replace(/\{(\w+)\}/g, (_, name: string) => `<strong>${escapeHtml(values[name] ?? '')}</strong>`);

export interface GatePage {
  title: string;
  body: string;
}

const hidden = (name: string, value: string) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
const alert = (message: string | undefined, kind: 'error' | 'muted' = 'error') =>
  message ? `<p class="${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${escapeHtml(message)}</p>` : '';
const footer = (locale: Locale) => `<p class="muted">${escapeHtml(TEXT.footer[locale])}</p>`;

export function loginPage(o: {
  locale: Locale;
  csrf: string;
  next: string;
  email?: string;
  error?: string;
  notice?: string;
  /** e.g. the passkey button */ extra?: string;
}): GatePage {
  const title = say('signInTitle', o.locale);
  const invalid = o.error ? ' aria-invalid="true" aria-describedby="problem"' : '';
  return {
    title,
    body: `<h1>${escapeHtml(title)}</h1>${alert(o.notice, 'muted')}<p>${escapeHtml(say('signInIntro', o.locale))}</p>
<form method="post" action="${PATHS.login}">${hidden('csrf', o.csrf)}${hidden('next', o.next)}
<label for="email">${escapeHtml(say('emailLabel', o.locale))}</label>
<input id="email" name="email" type="email" autocomplete="${o.extra ? 'email webauthn' : 'email'}" inputmode="email" autocapitalize="none" spellcheck="false" maxlength="254" required autofocus value="${escapeHtml(o.email ?? '')}"${invalid}>
${o.error ? `<p id="problem" class="error" role="alert">${escapeHtml(o.error)}</p>` : ''}
<button type="submit">${escapeHtml(say('sendCode', o.locale))}</button></form>${o.extra ?? ''}${footer(o.locale)}`,
  };
}

export function codePage(o: { locale: Locale; csrf: string; email: string; minutes: number; error?: string; dead?: boolean }): GatePage {
  const title = say('codeTitle', o.locale);
  const invalid = o.error ? ' aria-invalid="true" aria-describedby="problem"' : '';
  const form = o.dead
    ? ''
    : `<form method="post" action="${PATHS.code}">${hidden('csrf', o.csrf)}
<label for="code">${escapeHtml(say('codeLabel', o.locale))}</label>
<input id="code" class="code" name="code" type="text" inputmode="numeric" maxlength="12" autocomplete="one-time-code" required autofocus${invalid}>
<button type="submit">${escapeHtml(say('verify', o.locale))}</button></form>`;
  return {
    title,
    body: `<h1>${escapeHtml(title)}</h1><p>${sayHtml('codeIntro', o.locale, { email: o.email, minutes: String(o.minutes) })}</p>
${o.error ? `<p id="problem" class="error" role="alert">${escapeHtml(o.error)}</p>` : ''}${form}
<p><a href="${PATHS.login}">${escapeHtml(say('otherAddress', o.locale))}</a></p>${footer(o.locale)}`,
  };
}

export function confirmPage(o: { locale: Locale; csrf: string; token: string; email: string }): GatePage {
  const title = say('confirmTitle', o.locale);
  return {
    title,
    body: `<h1>${escapeHtml(title)}</h1><p>${sayHtml('confirmIntro', o.locale, { email: o.email })}</p>
<form method="post" action="${PATHS.link}">${hidden('csrf', o.csrf)}${hidden('t', o.token)}
<button type="submit">${escapeHtml(say('confirmButton', o.locale))}</button></form>${footer(o.locale)}`,
  };
}

export function linkGonePage(o: { locale: Locale }): GatePage {
  const title = say('linkGoneTitle', o.locale);
  return {
    title,
    body: `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(say('linkGone', o.locale))}</p>
<p><a href="${PATHS.login}">${escapeHtml(say('newCode', o.locale))}</a></p>${footer(o.locale)}`,
  };
}

export function logoutPage(o: { locale: Locale; csrf: string; email: string | null; extra?: string }): GatePage {
  const title = say('logoutTitle', o.locale);
  if (!o.email) {
    return {
      title,
      body: `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(say('notSignedIn', o.locale))}</p><p><a href="${PATHS.login}">${escapeHtml(say('signInTitle', o.locale))}</a></p>`,
    };
  }
  return {
    title,
    body: `<h1>${escapeHtml(title)}</h1><p>${sayHtml('logoutIntro', o.locale, { email: o.email })}</p>
<form method="post" action="${PATHS.logout}">${hidden('csrf', o.csrf)}
<button type="submit">${escapeHtml(say('logoutButton', o.locale))}</button></form>
<p><a href="/">${escapeHtml(say('backToPhotos', o.locale))}</a></p>${o.extra ?? ''}${footer(o.locale)}`,
  };
}
