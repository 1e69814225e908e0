// The one place that decides how every refusal looks. Handlers say *why* they refuse (a Refusal);
// this module picks status, headers and body. On the share host all policy refusals collapse into one
// identical 404 so that no refusal can be told apart from another (no oracle for keys, slugs or routes):
// browsers get one styled page per language, scripts one JSON body, both built once at start. An origin
// that is away shows guests a neutral "temporarily unavailable" there; the cause (connector, Docker
// network, ...) is for the private host and the logs only.
import type http from 'node:http';
import { pickLocale, type Locale } from './locale.js';
import { escapeHtml, PAGE_SECURITY_HEADERS, renderPage, sendPage } from './page.js';
import { tagRateLimitedUpgrade, tagRefused, type RateLimitName } from '../metrics/tags.js';
import { OriginUnreachableError, toOriginError, TunnelDownError, type UnreachableReason } from '../origin/errors.js';

export type OriginFailureCause = 'name-not-found' | 'connection-refused' | 'timeout' | 'connection-reset' | 'unreachable' | 'other';

export type Refusal =
  | { kind: 'not-found' }
  | { kind: 'misdirected' }
  | { kind: 'unauthenticated' }
  | { kind: 'forbidden' }
  | { kind: 'bad-request'; reason: string }
  | { kind: 'method-not-allowed'; allow: string }
  | { kind: 'too-large'; limitBytes: number }
  /**
   * backTo: a page to go back to (the gate's sign-in page). subject 'password': wrong link passwords from this
   * client (Immich's share page shows the message as is); 'requests': the per-client request rate (the listener's
   * flood cap, the same answer on every host). useMailedLink: the sign-in link in the mail still works (typed
   * codes for the domain wait): say so.
   */
  | { kind: 'rate-limited'; retryAfterSeconds: number; backTo?: string; subject?: 'password' | 'requests'; useMailedLink?: boolean }
  | { kind: 'csrf' }
  | { kind: 'too-slow' }
  | { kind: 'headers-too-large' }
  | { kind: 'unsupported-media'; what: 'zip-with-location' | 'uncleanable-file'; /** Why the file cannot be cleaned (technical, English). */ detail?: string }
  | { kind: 'origin-unreachable'; cause: OriginFailureCause; origin: string; code?: string }
  | { kind: 'tunnel-offline'; since: Date | null }
  /** The store could not check something that must be checked (a rate limit): refused, never let through. */
  | { kind: 'store-unavailable'; retryAfterSeconds: number };

/** Which face the refusal is shown on. */
export type RefusalSurface = 'private' | 'share' | 'none';

type Text = Record<Locale, string>;
const t = (en: string, de: string): Text => ({ en, de });

const TITLES = {
  'not-found': t('Not found', 'Nicht gefunden'),
  misdirected: t('Unknown site', 'Unbekannte Seite'),
  unauthenticated: t('Sign-in required', 'Anmeldung erforderlich'),
  forbidden: t('Not allowed', 'Nicht erlaubt'),
  'bad-request': t('Bad request', 'Ungültige Anfrage'),
  'method-not-allowed': t('Method not allowed', 'Methode nicht erlaubt'),
  'too-large': t('Upload too large', 'Upload zu groß'),
  'rate-limited': t('Too many attempts', 'Zu viele Versuche'),
  csrf: t('This form has expired', 'Dieses Formular ist abgelaufen'),
  'too-slow': t('The request arrived too slowly', 'Die Anfrage kam zu langsam an'),
  'headers-too-large': t('Request headers too large', 'Anfrage-Header zu groß'),
  'unsupported-media': t('This file cannot be shared safely', 'Diese Datei kann nicht sicher geteilt werden'),
  'origin-unreachable': t('Immich cannot be reached', 'Immich ist nicht erreichbar'),
  'tunnel-offline': t('The home connector is offline', 'Der Heim-Connector ist offline'),
  'store-unavailable': t('Temporarily unavailable', 'Vorübergehend nicht verfügbar'),
} satisfies Record<Refusal['kind'], Text>;

const STATUS: Record<Refusal['kind'], number> = {
  'not-found': 404,
  misdirected: 421,
  unauthenticated: 401,
  forbidden: 403,
  'bad-request': 400,
  'method-not-allowed': 405,
  'too-large': 413,
  'rate-limited': 429,
  csrf: 403,
  'too-slow': 408,
  'headers-too-large': 431,
  'unsupported-media': 415,
  'origin-unreachable': 502,
  'tunnel-offline': 503,
  'store-unavailable': 503,
};

const CAUSES: Record<OriginFailureCause, { what: Text; fix: Text }> = {
  'name-not-found': {
    what: t('The origin host name could not be resolved.', 'Der Name des Ursprungsservers konnte nicht aufgelöst werden.'),
    fix: t(
      'Porthole is probably not on the same Docker network as Immich, or origin.url has a typo.',
      'Porthole ist vermutlich nicht im selben Docker-Netz wie Immich, oder origin.url enthält einen Tippfehler.',
    ),
  },
  'connection-refused': {
    what: t('The origin refused the connection.', 'Der Ursprungsserver hat die Verbindung abgelehnt.'),
    fix: t(
      'Immich is not running, still starting, or listens on another port than origin.url says.',
      'Immich läuft nicht, startet noch oder lauscht auf einem anderen Port als in origin.url angegeben.',
    ),
  },
  timeout: {
    what: t('The origin did not answer in time.', 'Der Ursprungsserver hat nicht rechtzeitig geantwortet.'),
    fix: t('A firewall may drop the traffic, or Immich is overloaded.', 'Eine Firewall verwirft womöglich den Verkehr, oder Immich ist überlastet.'),
  },
  'connection-reset': {
    what: t('The origin closed the connection unexpectedly.', 'Der Ursprungsserver hat die Verbindung unerwartet geschlossen.'),
    fix: t('Immich may have restarted; try again in a moment.', 'Immich wurde womöglich neu gestartet; bitte gleich erneut versuchen.'),
  },
  unreachable: {
    what: t('There is no network route to the origin.', 'Es gibt keine Netzwerkroute zum Ursprungsserver.'),
    fix: t('Check the network between Porthole and Immich.', 'Bitte das Netz zwischen Porthole und Immich prüfen.'),
  },
  other: {
    what: t('The request to the origin failed.', 'Die Anfrage an den Ursprungsserver ist fehlgeschlagen.'),
    fix: t('See the Porthole log for details.', 'Details stehen im Porthole-Log.'),
  },
};

/** The cause a person can act on, for any failure on the way to the origin (src/origin/errors.ts). */
export function classifyOriginError(error: unknown): OriginFailureCause {
  const e = toOriginError(error);
  switch (e.code) {
    case 'ORIGIN_UNREACHABLE':
      return e instanceof OriginUnreachableError ? UNREACHABLE_CAUSE[e.reason] : 'other';
    case 'ORIGIN_TIMEOUT':
      return 'timeout';
    case 'ORIGIN_RESET':
      return 'connection-reset';
    default:
      return 'other';
  }
}

const UNREACHABLE_CAUSE: Record<UnreachableReason, OriginFailureCause> = {
  'name-not-found': 'name-not-found',
  'connection-refused': 'connection-refused',
  'no-route': 'unreachable',
  other: 'other',
};

/**
 * The answer to a failed request to the origin: TUNNEL_DOWN is the connector page (503), every other code the
 * origin page (502) naming its cause; the page on the private host shows the stable code and the one underneath.
 */
export function originRefusal(error: unknown, origin: string): Refusal {
  const e = toOriginError(error);
  if (e instanceof TunnelDownError) return { kind: 'tunnel-offline', since: e.since };
  return { kind: 'origin-unreachable', cause: classifyOriginError(e), origin, code: e.systemCode ? `${e.code}, ${e.systemCode}` : e.code };
}

const TOO_MANY_REQUESTS = t('Too many requests', 'Zu viele Anfragen');

const BACK_TO_SIGN_IN = t('Back to sign-in', 'Zurück zur Anmeldung');

function message(refusal: Refusal, locale: Locale): string {
  switch (refusal.kind) {
    case 'rate-limited': {
      // At most 75 characters: Immich's web shows that much of a server message.
      if (refusal.subject === 'password') return passwordLimited(refusal.retryAfterSeconds, locale);
      if (refusal.subject === 'requests') return requestsLimited(refusal.retryAfterSeconds, locale);
      const minutes = Math.max(1, Math.ceil(refusal.retryAfterSeconds / 60));
      const again =
        locale === 'de'
          ? `Bitte in ${minutes} ${minutes === 1 ? 'Minute' : 'Minuten'} erneut versuchen.`
          : `Please try again in ${minutes} ${minutes === 1 ? 'minute' : 'minutes'}.`;
      if (!refusal.useMailedLink) return again;
      return locale === 'de'
        ? `Zu viele falsche Codes für diese Domain. Öffne den Anmeldelink aus der E-Mail, er funktioniert weiterhin. Oder: ${again}`
        : `Too many wrong codes for this domain. Open the sign-in link in the email instead: it still works. Or: ${again}`;
    }
    case 'too-large':
      return locale === 'de' ? `Uploads sind hier auf ${formatBytes(refusal.limitBytes)} begrenzt.` : `Uploads are limited to ${formatBytes(refusal.limitBytes)} here.`;
    case 'headers-too-large':
      return locale === 'de'
        ? 'Die Anfrage hatte zu viele oder zu lange Header. Cookies dieser Seite löschen hilft meist.'
        : "The request carried too many or too long headers. Clearing this site's cookies usually helps.";
    case 'csrf':
    case 'too-slow':
      return locale === 'de' ? 'Bitte die Seite neu laden und erneut versuchen.' : 'Please reload the page and try again.';
    case 'bad-request':
      return refusal.reason;
    case 'unsupported-media':
      if (refusal.what === 'zip-with-location') {
        return locale === 'de'
          ? 'Zip-Downloads gibt es für diesen Link nicht, weil seine Fotos Ortsdaten enthalten. Bitte lade einzelne Fotos herunter.'
          : 'Zip downloads are not available for this link because its photos carry location data. Download single photos instead.';
      }
      return locale === 'de'
        ? 'Diese Datei kann nicht ohne ihre Orts- und Kameradaten heruntergeladen werden.'
        : 'This file cannot be downloaded without its location and camera data.';
    case 'origin-unreachable':
      return `${CAUSES[refusal.cause].what[locale]} ${CAUSES[refusal.cause].fix[locale]}`;
    case 'tunnel-offline': {
      const since = refusal.since ? refusal.since.toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : null;
      if (locale === 'de') return since ? `Offline seit ${since}. Bitte später erneut versuchen.` : 'Bitte später erneut versuchen.';
      return since ? `Offline since ${since}. Please try again later.` : 'Please try again later.';
    }
    case 'store-unavailable':
      return locale === 'de' ? 'Porthole kann das gerade nicht prüfen. Bitte gleich erneut versuchen.' : 'Porthole cannot check this right now. Please try again in a moment.';
    case 'unauthenticated':
      return locale === 'de' ? 'Bitte zuerst anmelden.' : 'Please sign in first.';
    case 'not-found':
      return locale === 'de' ? 'Unter dieser Adresse gibt es nichts.' : 'There is nothing at this address.';
    case 'misdirected':
      return locale === 'de' ? 'Dieser Server ist nicht für diesen Namen eingerichtet.' : 'This server is not set up for this name.';
    case 'forbidden':
      return locale === 'de' ? 'Das ist hier nicht erlaubt.' : 'This is not allowed here.';
    case 'method-not-allowed':
      return locale === 'de' ? 'Diese Adresse kann so nicht benutzt werden.' : 'This address cannot be used this way.';
  }
}

function requestsLimited(retryAfterSeconds: number, locale: Locale): string {
  const n = Math.max(1, Math.ceil(retryAfterSeconds));
  if (locale === 'de') return `Zu viele Anfragen von deinem Netz. Bitte ${n} ${n === 1 ? 'Sekunde' : 'Sekunden'} warten und neu laden.`;
  return `Too many requests from your network. Please wait ${n} ${n === 1 ? 'second' : 'seconds'} and reload.`;
}

function passwordLimited(retryAfterSeconds: number, locale: Locale): string {
  const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
  const n = seconds < 90 ? seconds : Math.ceil(seconds / 60);
  if (locale === 'de') {
    const unit = seconds < 90 ? (n === 1 ? 'Sekunde' : 'Sekunden') : n === 1 ? 'Minute' : 'Minuten';
    return `Zu viele falsche Passwörter. Bitte in ${n} ${unit} erneut versuchen.`;
  }
  const unit = seconds < 90 ? (n === 1 ? 'second' : 'seconds') : n === 1 ? 'minute' : 'minutes';
  return `Too many wrong passwords. Please try again in ${n} ${unit}.`;
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) ((value /= 1024), unit++);
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

/** "/api" as the first path segment, however it is spelled (case, percent-encoding, doubled slashes). */
const API_PATH = /^\/+(?:a|%61|%41)(?:p|%70|%50)(?:i|%69|%49)(?:\/|%2f|\?|$)/i;

/** Browsers navigating get a page; scripts and the mobile app get JSON. */
function wantsHtml(req: http.IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return accept.includes('text/html') && !API_PATH.test(req.url ?? '');
}

/** A finished answer: the same bytes for every request that gets it. */
interface Prebuilt {
  status: number;
  headers: http.OutgoingHttpHeaders;
  body: Buffer;
}

/** Share-host answers are never indexed (same value as the share host's own X-Robots-Tag). */
const SHARE_NO_INDEX = 'noindex, nofollow, noarchive';

function prebuilt(status: number, contentType: string, body: string): Prebuilt {
  const bytes = Buffer.from(body, 'utf8');
  return {
    status,
    body: bytes,
    // Vary: the answer depends on these two request headers and nothing else (never on why it was refused).
    headers: { ...PAGE_SECURITY_HEADERS, 'content-type': contentType, 'content-length': bytes.length, vary: 'Accept, Accept-Language', 'x-robots-tag': SHARE_NO_INDEX },
  };
}

interface ShareFace {
  html: Record<Locale, Prebuilt>;
  json: Prebuilt;
}

function shareFace(status: number, json: { error: string; message: string }, title: Text, text: Text): ShareFace {
  const page = (locale: Locale) =>
    prebuilt(status, 'text/html; charset=utf-8', renderPage(title[locale], `<h1>${escapeHtml(title[locale])}</h1><p>${escapeHtml(text[locale])}</p>`, locale));
  return {
    html: { en: page('en'), de: page('de') },
    json: prebuilt(status, 'application/json; charset=utf-8', JSON.stringify({ ...json, statusCode: status })),
  };
}

/** The share host's one refusal: whatever rule, key, slug, method or spelling refused the request. */
const SHARE_NOT_FOUND = shareFace(
  404,
  { error: 'not-found', message: 'Not found' },
  t('Nothing to see here', 'Hier gibt es nichts zu sehen'),
  t(
    'This address does not open anything. If someone sent you a link, check that it was copied completely, or ask them for a new one.',
    'Unter dieser Adresse gibt es nichts. Wenn dir jemand einen Link geschickt hat, prüfe, ob er vollständig kopiert wurde, oder bitte um einen neuen.',
  ),
);

/** The share host when the photos cannot be reached (tunnel down, origin unreachable): no word on why. */
const SHARE_UNAVAILABLE = shareFace(
  503,
  { error: 'unavailable', message: 'Temporarily unavailable. Please try again later.' },
  t('Temporarily unavailable', 'Vorübergehend nicht erreichbar'),
  t('The photos cannot be shown right now. Please try again in a few minutes.', 'Die Fotos können gerade nicht angezeigt werden. Bitte versuche es in ein paar Minuten erneut.'),
);

function sendPrebuilt(req: http.IncomingMessage, res: http.ServerResponse, face: ShareFace): void {
  const answer = wantsHtml(req) ? face.html[pickLocale(req.headers['accept-language'])] : face.json;
  res.writeHead(answer.status, answer.headers);
  res.end(req.method === 'HEAD' ? undefined : answer.body);
}

/** Ends the response with the refusal. Safe to call whatever the handler already did, unless headers went out. */
export function refuse(req: http.IncomingMessage, res: http.ServerResponse, refusal: Refusal, surface: RefusalSurface): void {
  tagRefused(res, refusal.kind, refusal.kind === 'rate-limited' ? rateLimitOf(refusal.subject) : undefined);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (surface === 'share') {
    if (refusal.kind === 'tunnel-offline' || refusal.kind === 'origin-unreachable' || refusal.kind === 'store-unavailable') return sendPrebuilt(req, res, SHARE_UNAVAILABLE);
    // The share host shows exactly one refusal to the world, except for these which a visitor must understand.
    const shareVisible = refusal.kind === 'rate-limited' || refusal.kind === 'unsupported-media' || refusal.kind === 'too-large';
    if (!shareVisible) return sendPrebuilt(req, res, SHARE_NOT_FOUND);
  }
  const status = STATUS[refusal.kind];
  const locale = pickLocale(req.headers['accept-language']);
  const headers: http.OutgoingHttpHeaders = {};
  if (refusal.kind === 'rate-limited' || refusal.kind === 'store-unavailable') headers['retry-after'] = String(Math.max(1, Math.ceil(refusal.retryAfterSeconds)));
  if (refusal.kind === 'method-not-allowed') headers.allow = refusal.allow;
  // A refused upload must not keep the connection reading a body we will never use.
  // Same when the body is still arriving (e.g. the origin failed mid-upload): the rest is never read.
  if (refusal.kind === 'too-large' || refusal.kind === 'bad-request' || refusal.kind === 'too-slow' || !req.complete) headers.connection = 'close';
  const title = (refusal.kind === 'rate-limited' && refusal.subject === 'requests' ? TOO_MANY_REQUESTS : TITLES[refusal.kind])[locale];
  const text = message(refusal, locale);
  if (wantsHtml(req)) {
    let extra = '';
    if (refusal.kind === 'origin-unreachable') extra = `<p class="muted">${escapeHtml(refusal.origin)}${refusal.code ? ` (${escapeHtml(refusal.code)})` : ''}</p>`;
    if (refusal.kind === 'unsupported-media' && refusal.detail) extra = `<p class="muted">${escapeHtml(refusal.detail)}</p>`;
    if (refusal.kind === 'rate-limited' && refusal.backTo) extra = `<p><a href="${escapeHtml(refusal.backTo)}">${escapeHtml(BACK_TO_SIGN_IN[locale])}</a></p>`;
    sendPage(res, { status, locale, title, body: `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>${extra}`, headers }, req.method);
    return;
  }
  const detail = refusal.kind === 'unsupported-media' && refusal.detail ? ` (${refusal.detail})` : '';
  const body = JSON.stringify({ error: refusal.kind, message: text + detail, statusCode: status });
  res.writeHead(status, { ...PAGE_SECURITY_HEADERS, ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Which limit a rate-limited refusal hit, for the metrics (a fixed set, never anything the client sent). */
function rateLimitOf(subject: 'password' | 'requests' | undefined): RateLimitName {
  return subject === 'requests' ? 'request-rate' : subject === 'password' ? 'share-password' : 'other';
}

/**
 * Refuses an upgrade (WebSocket) over the per-client request rate: 429 with Retry-After on the raw socket, the
 * same on every host, counted like a refused request.
 */
export function refuseUpgradeOverRate(socket: import('node:stream').Duplex, retryAfterSeconds: number): void {
  tagRateLimitedUpgrade(socket, 'request-rate');
  refuseUpgrade(socket, 429, retryAfterSeconds);
}

/** Refuses a WebSocket/Upgrade request on its raw socket, before any upgrade happens. */
export function refuseUpgrade(socket: import('node:stream').Duplex, status: 401 | 403 | 404 | 421 | 429 | 502 | 503, retryAfterSeconds?: number): void {
  const reason = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 421: 'Misdirected Request', 429: 'Too Many Requests', 502: 'Bad Gateway', 503: 'Service Unavailable' }[
    status
  ];
  const retry = status === 429 && retryAfterSeconds !== undefined ? `Retry-After: ${Math.max(1, Math.ceil(retryAfterSeconds))}\r\n` : '';
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${reason}\r\n${retry}Connection: close\r\nContent-Length: 0\r\n\r\n`);
  else socket.destroy();
}
