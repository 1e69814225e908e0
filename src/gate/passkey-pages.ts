// The gate's passkey pages and snippets, in English and German: the offer after a code sign-in, the page
// listing a person's passkeys, and the "Sign in with a passkey" block on the sign-in page. Each works without
// JavaScript as far as it can (listing and removing are plain forms); creating and using a passkey needs the
// small script served from /.porthole/assets/, which also hides the buttons in browsers without WebAuthn.
import type { Locale } from '../http/locale.js';
import { escapeHtml } from '../http/page.js';
import type { PasskeyRecord } from '../store/store.js';
import { GATE_PREFIX, PATHS, say as sayGate, type GatePage } from './pages.js';

export const PASSKEY_PATHS = {
  manage: `${GATE_PREFIX}/passkeys`,
  offer: `${GATE_PREFIX}/passkeys/offer`,
  remove: `${GATE_PREFIX}/passkeys/remove`,
  registerOptions: `${GATE_PREFIX}/passkeys/register/options`,
  registerVerify: `${GATE_PREFIX}/passkeys/register/verify`,
  signInOptions: `${GATE_PREFIX}/passkeys/signin/options`,
  signInVerify: `${GATE_PREFIX}/passkeys/signin/verify`,
  browserLibrary: `${GATE_PREFIX}/assets/webauthn.js`,
  script: `${GATE_PREFIX}/assets/passkeys.js`,
} as const;

/** Pages that run the passkey script may load scripts from, and talk to, this host only. */
export const PASSKEY_PAGE_CSP =
  "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

type Text = Record<Locale, string>;
const t = (en: string, de: string): Text => ({ en, de });

const TEXT = {
  or: t('or', 'oder'),
  signInWithPasskey: t('Sign in with a passkey', 'Mit einem Passkey anmelden'),
  signInFailed: t(
    'That passkey did not work here. Try again, or use an emailed code.',
    'Dieser Passkey hat hier nicht funktioniert. Versuche es erneut oder nutze einen Code per E-Mail.',
  ),
  offerTitle: t('Sign in faster next time', 'Nächstes Mal schneller anmelden'),
  offerIntro: t(
    'Create a passkey for this device: next time, sign in with your fingerprint, face or screen lock instead of waiting for an email.',
    'Lege einen Passkey für dieses Gerät an: Beim nächsten Mal meldest du dich mit Fingerabdruck, Gesicht oder Displaysperre an, statt auf eine E-Mail zu warten.',
  ),
  createPasskey: t('Create a passkey', 'Passkey anlegen'),
  notNow: t('Not now', 'Jetzt nicht'),
  continue: t('Continue to the photos', 'Weiter zu den Fotos'),
  unsupported: t('This browser cannot create passkeys.', 'Dieser Browser kann keine Passkeys anlegen.'),
  created: t('Passkey created.', 'Passkey angelegt.'),
  createFailed: t('No passkey was created. You can try again or skip this.', 'Es wurde kein Passkey angelegt. Du kannst es erneut versuchen oder überspringen.'),
  manageTitle: t('Your passkeys', 'Deine Passkeys'),
  manageIntro: t('Passkeys that can sign in as {email}.', 'Passkeys, mit denen man sich als {email} anmelden kann.'),
  none: t('You have no passkeys yet.', 'Du hast noch keine Passkeys.'),
  createdAt: t('Created', 'Angelegt'),
  lastUsed: t('Last used', 'Zuletzt benutzt'),
  never: t('never', 'nie'),
  remove: t('Remove', 'Entfernen'),
  removed: t('Passkey removed.', 'Passkey entfernt.'),
  addHere: t('Add a passkey for this device', 'Passkey für dieses Gerät hinzufügen'),
  backToPhotos: t('Back to the photos', 'Zurück zu den Fotos'),
  managePasskeys: t('Manage passkeys', 'Passkeys verwalten'),
  footer: t('Protected by Porthole', 'Geschützt durch Porthole'),
} satisfies Record<string, Text>;

const say = (key: keyof typeof TEXT, locale: Locale) => TEXT[key][locale];
const esc = (key: keyof typeof TEXT, locale: Locale) => escapeHtml(TEXT[key][locale]);
const scripts = `<script src="${PASSKEY_PATHS.browserLibrary}" defer></script><script src="${PASSKEY_PATHS.script}" defer></script>`;
const footer = (locale: Locale) => `<p class="muted">${esc('footer', locale)}</p>`;

/** When a passkey was made or used: a date people read the same way in both languages. */
const when = (ms: number | null, locale: Locale) => (ms === null ? say('never', locale) : new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC');

/** The block under the sign-in form; hidden until the script finds WebAuthn in the browser. */
export function passkeySignInBlock(o: { locale: Locale; csrf: string; next: string }): string {
  return `<div id="passkey" data-mode="signin" data-csrf="${escapeHtml(o.csrf)}" data-next="${escapeHtml(o.next)}" hidden>
<p class="muted" style="text-align:center;margin-top:1rem">${esc('or', o.locale)}</p>
<button type="button" id="passkey-start">${esc('signInWithPasskey', o.locale)}</button>
<p id="passkey-error" class="error" role="alert" hidden>${esc('signInFailed', o.locale)}</p></div>${scripts}`;
}

export function offerPage(o: { locale: Locale; csrf: string; next: string }): GatePage {
  const title = say('offerTitle', o.locale);
  return {
    title,
    body: `<h1>${escapeHtml(title)}</h1><p>${esc('offerIntro', o.locale)}</p>
<div id="passkey" data-mode="register" data-csrf="${escapeHtml(o.csrf)}" data-done="${escapeHtml(o.next)}">
<button type="button" id="passkey-start" hidden>${esc('createPasskey', o.locale)}</button>
<p id="passkey-unsupported" class="muted" hidden>${esc('unsupported', o.locale)}</p>
<p id="passkey-error" class="error" role="alert" hidden>${esc('createFailed', o.locale)}</p></div>
<p style="text-align:center"><a href="${escapeHtml(o.next)}" id="passkey-skip">${esc('notNow', o.locale)}</a></p>${footer(o.locale)}${scripts}`,
  };
}

export function managePage(o: { locale: Locale; csrf: string; email: string; passkeys: PasskeyRecord[]; notice?: 'removed' | 'created' }): GatePage {
  const title = say('manageTitle', o.locale);
  const items = o.passkeys
    .map(
      (p) => `<li style="margin:.75rem 0;padding:.75rem;border:1px solid var(--muted);border-radius:10px">
<strong>${escapeHtml(p.name)}</strong><br><span class="muted">${esc('createdAt', o.locale)}: ${escapeHtml(when(p.createdAt, o.locale))}<br>${esc('lastUsed', o.locale)}: ${escapeHtml(when(p.lastUsedAt, o.locale))}</span>
<form method="post" action="${PASSKEY_PATHS.remove}"><input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}"><input type="hidden" name="id" value="${escapeHtml(p.id)}">
<button type="submit" class="link" aria-label="${esc('remove', o.locale)}: ${escapeHtml(p.name)}">${esc('remove', o.locale)}</button></form></li>`,
    )
    .join('');
  const list = o.passkeys.length ? `<ul style="list-style:none;padding:0;margin:0">${items}</ul>` : `<p class="muted">${esc('none', o.locale)}</p>`;
  const notice = o.notice ? `<p class="muted" role="status">${esc(o.notice, o.locale)}</p>` : '';
  const intro = escapeHtml(say('manageIntro', o.locale)).replace('{email}', `<strong>${escapeHtml(o.email)}</strong>`);
  return {
    title,
    body: `<h1>${escapeHtml(title)}</h1>${notice}<p>${intro}</p>${list}
<div id="passkey" data-mode="register" data-csrf="${escapeHtml(o.csrf)}" data-done="${PASSKEY_PATHS.manage}?created=1">
<button type="button" id="passkey-start" hidden>${esc('addHere', o.locale)}</button>
<p id="passkey-unsupported" class="muted" hidden>${esc('unsupported', o.locale)}</p>
<p id="passkey-error" class="error" role="alert" hidden>${esc('createFailed', o.locale)}</p></div>
<p><a href="/">${esc('backToPhotos', o.locale)}</a> · <a href="${PATHS.logout}">${escapeHtml(sayGate('logoutTitle', o.locale))}</a></p>${footer(o.locale)}${scripts}`,
  };
}

/** A link to the passkey page, for the sign-out page of a signed-in person. */
export const manageLink = (locale: Locale): string => `<p><a href="${PASSKEY_PATHS.manage}">${esc('managePasskeys', locale)}</a></p>`;

/**
 * The page script: signs in (a button, and autofill where the browser offers passkeys in the email field) or
 * creates a passkey, through @simplewebauthn/browser loaded just before it. Static, so it can be cached.
 */
export const PASSKEY_SCRIPT = `'use strict';
(function () {
  var box = document.getElementById('passkey');
  var lib = window.SimpleWebAuthnBrowser;
  if (!box || !lib) return;
  var start = document.getElementById('passkey-start');
  var problem = document.getElementById('passkey-error');
  var unsupported = document.getElementById('passkey-unsupported');
  if (!lib.browserSupportsWebAuthn()) { if (unsupported) unsupported.hidden = false; return; }
  box.hidden = false;
  start.hidden = false;
  function post(path, body) {
    body.csrf = box.dataset.csrf;
    return fetch(path, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) })
      .then(function (res) { return res.json().catch(function () { return {}; }).then(function (json) { if (!res.ok) throw new Error(json.message || String(res.status)); return json; }); });
  }
  function fail(error) {
    if (error && error.name === 'AbortError') return;
    problem.hidden = false;
    start.disabled = false;
  }
  if (box.dataset.mode === 'signin') {
    var signIn = function (autofill) {
      return post('${PASSKEY_PATHS.signInOptions}', {})
        .then(function (options) { return lib.startAuthentication({ optionsJSON: options, useBrowserAutofill: autofill }); })
        .then(function (response) { return post('${PASSKEY_PATHS.signInVerify}', { response: response, next: box.dataset.next }); })
        .then(function (done) { window.location.assign(done.location); });
    };
    start.addEventListener('click', function () { problem.hidden = true; start.disabled = true; signIn(false).catch(fail); });
    lib.browserSupportsWebAuthnAutofill().then(function (yes) { if (yes) signIn(true).catch(function (error) { if (error && error.name !== 'AbortError' && error.name !== 'NotAllowedError') fail(error); }); });
  } else {
    start.addEventListener('click', function () {
      problem.hidden = true;
      start.disabled = true;
      post('${PASSKEY_PATHS.registerOptions}', {})
        .then(function (options) { return lib.startRegistration({ optionsJSON: options }); })
        .then(function (response) { return post('${PASSKEY_PATHS.registerVerify}', { response: response }); })
        .then(function () { window.location.assign(box.dataset.done); })
        .catch(fail);
    });
  }
})();
`;
