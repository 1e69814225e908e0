// The admin page, in English and German: sessions, devices, passkeys, the tunnel, audit events and the share
// host's link cache, each a section of one server-rendered page. Plain forms and links, no scripts: every action
// is a small POST form with the CSRF token; filters and paging are a GET form and links. Tables turn into cards
// on a phone. Everything that came from a person or a client (addresses, names, user agents, audit details) is
// escaped here, at the one place it becomes HTML.
import type { Locale } from '../http/locale.js';
import { escapeHtml } from '../http/page.js';
import type { LinkCacheEntry, LinkCacheState } from '../share/links.js';
import type { AuditEvent, DeviceRecord, PasskeyRecord, SessionRecord } from '../store/store.js';
import type { TunnelStatus } from '../tunnel/status.js';
import type { TunnelTokenRecord } from '../tunnel/token-store.js';
import { GATE_PREFIX } from '../gate/pages.js';
import type { ActionKind } from './actions.js';
import { CATEGORIES, MAX_PAGE, queryFor, type EventCategory, type EventFilter, type Notice } from './filters.js';

export const ADMIN_PATHS = {
  page: `${GATE_PREFIX}/admin`,
  revoke: `${GATE_PREFIX}/admin/revoke`,
  forget: `${GATE_PREFIX}/admin/forget-links`,
} as const;

type Text = Record<Locale, string>;
const t = (en: string, de: string): Text => ({ en, de });

const TEXT = {
  title: t('Admin', 'Verwaltung'),
  signedInAs: t('Signed in as {email}.', 'Angemeldet als {email}.'),
  backToPhotos: t('Back to the photos', 'Zurück zu den Fotos'),
  contents: t('Sections', 'Bereiche'),
  sessions: t('Sessions', 'Sitzungen'),
  devices: t('Device tokens', 'Geräte-Tokens'),
  passkeys: t('Passkeys', 'Passkeys'),
  tunnel: t('Connectors', 'Connectoren'),
  events: t('Audit events', 'Audit-Ereignisse'),
  linkCache: t('Link cache', 'Link-Cache'),
  linkRecords: t('A share link’s record', 'Aufzeichnung eines geteilten Links'),
  none: t('None.', 'Keine.'),
  email: t('Email', 'E-Mail'),
  signedIn: t('Signed in', 'Angemeldet'),
  lastSeen: t('Last seen', 'Zuletzt gesehen'),
  expires: t('Expires', 'Läuft ab'),
  address: t('Address', 'Adresse'),
  browser: t('Browser', 'Browser'),
  name: t('Name', 'Name'),
  created: t('Created', 'Angelegt'),
  lastUsed: t('Last used', 'Zuletzt benutzt'),
  revoke: t('Revoke', 'Widerrufen'),
  action: t('Action', 'Aktion'),
  sessionOf: t('session of {email}', 'Sitzung von {email}'),
  thisBrowser: t('this browser', 'dieser Browser'),
  never: t('never', 'nie'),
  tunnelOff: t('The tunnel is off (tunnel.enabled in the config).', 'Der Tunnel ist aus (tunnel.enabled in der Konfiguration).'),
  tunnelOnline: t('{count} connector(s) attached.', '{count} Connector(en) verbunden.'),
  tunnelOffline: t('No connector attached; offline since {since}.', 'Kein Connector verbunden; offline seit {since}.'),
  tunnelNever: t('No connector has attached yet.', 'Noch kein Connector hat sich verbunden.'),
  tunnelPending: t('{count} connection(s) still authenticating.', '{count} Verbindung(en) authentifizieren sich noch.'),
  gatewaysShared: t(
    '{count} gateways share this store; the connectors attached to each are listed under it.',
    '{count} Gateways teilen sich diesen Speicher; unter jedem stehen die mit ihm verbundenen Connectoren.',
  ),
  gateway: t('Gateway', 'Gateway'),
  thisGateway: t('this gateway', 'dieses Gateway'),
  reportedAgo: t('As it reported {ago} ago.', 'Stand von vor {ago}.'),
  othersUnknown: t('The other gateways’ connectors could not be read from the store.', 'Die Connectoren der anderen Gateways konnten nicht aus dem Speicher gelesen werden.'),
  since: t('Since', 'Seit'),
  token: t('Token', 'Token'),
  openStreams: t('Open streams', 'Offene Streams'),
  streamsTotal: t('Streams in total', 'Streams insgesamt'),
  bytesIn: t('Received', 'Empfangen'),
  bytesOut: t('Sent', 'Gesendet'),
  tokens: t('Tunnel tokens', 'Tunnel-Tokens'),
  state: t('State', 'Zustand'),
  active: t('active', 'aktiv'),
  revokedAt: t('revoked {at}', 'widerrufen {at}'),
  time: t('Time', 'Zeit'),
  type: t('Event', 'Ereignis'),
  detail: t('Detail', 'Details'),
  count: t('Count', 'Anzahl'),
  category: t('Show', 'Zeigen'),
  reason: t('Detail contains', 'Details enthalten'),
  filter: t('Filter', 'Filtern'),
  newer: t('Newer', 'Neuere'),
  older: t('Older', 'Ältere'),
  pageOf: t('Page {page}', 'Seite {page}'),
  noEvents: t('No events match.', 'Keine passenden Ereignisse.'),
  cacheSummary: t(
    '{fresh} fresh of {entries} entries (at most {max}), {inflight} lookups under way; answers are trusted for {ttl}. Since the start: {hit} hits, {miss} misses, {joined} joined.',
    '{fresh} frisch von {entries} Einträgen (höchstens {max}), {inflight} Abfragen laufen; Antworten gelten {ttl}. Seit dem Start: {hit} Treffer, {miss} Fehlschläge, {joined} zusammengelegt.',
  ),
  cacheOff: t('There is no share host, so no link cache.', 'Es gibt keinen Share-Host, also keinen Link-Cache.'),
  cacheForgotten: t('{forgotten} answers forgotten since the start.', '{forgotten} Antworten seit dem Start vergessen.'),
  forgetAll: t('Forget cached link answers', 'Zwischengespeicherte Link-Antworten vergessen'),
  forgetAllHint: t(
    'Every gateway sharing this store asks Immich again about each link on its next request; use it after changing links in Immich itself.',
    'Jedes Gateway, das diesen Speicher teilt, fragt Immich bei der nächsten Anfrage erneut nach jedem Link; sinnvoll, nachdem Links direkt in Immich geändert wurden.',
  ),
  forget: t('Forget', 'Vergessen'),
  link: t('Link', 'Link'),
  kind: t('Answer', 'Antwort'),
  download: t('Download', 'Download'),
  upload: t('Upload', 'Upload'),
  metadata: t('Metadata', 'Metadaten'),
  password: t('Password', 'Passwort'),
  freshFor: t('Fresh for', 'Frisch für'),
  yes: t('yes', 'ja'),
  no: t('no', 'nein'),
  noExpiry: t('no expiry', 'kein Ablauf'),
  footer: t('Protected by Porthole', 'Geschützt durch Porthole'),
  refusals: t('Refusals', 'Abweisungen'),
  why: t('Reason', 'Grund'),
  linkLookup: t('Key, slug, id or URL of a share link', 'Schlüssel, Slug, ID oder URL eines geteilten Links'),
  show: t('Show', 'Zeigen'),
  noRecord: t('Porthole has no record of that link.', 'Porthole hat zu diesem Link keine Aufzeichnung.'),
  // After an action (the page is shown again with one of these).
  'done.session': t('The session was ended.', 'Die Sitzung wurde beendet.'),
  'done.device': t('The device token was revoked.', 'Das Geräte-Token wurde widerrufen.'),
  'done.passkey': t('The passkey was removed.', 'Der Passkey wurde entfernt.'),
  'done.tunnel-token': t('The tunnel token was revoked and its connectors dropped.', 'Das Tunnel-Token wurde widerrufen und seine Connectoren getrennt.'),
  'done.gone': t('Nothing to revoke: it was already gone.', 'Nichts zu widerrufen: Es war schon weg.'),
  'done.link-cache': t(
    'Every gateway sharing this store was told to forget its cached link answers.',
    'Alle Gateways, die diesen Speicher teilen, wurden angewiesen, ihre zwischengespeicherten Link-Antworten zu vergessen.',
  ),
  'cat.all': t('All events', 'Alle Ereignisse'),
  'cat.signins': t('Sign-ins', 'Anmeldungen'),
  'cat.failed-codes': t('Failed codes', 'Falsche Codes'),
  'cat.lockouts': t('Lock-outs and rate limits', 'Sperren und Ratenlimits'),
  'cat.share-refusals': t('Share host refusals', 'Abweisungen auf dem Share-Host'),
  'cat.admin': t('Admin actions', 'Admin-Aktionen'),
  'kind.open': t('open', 'offen'),
  'kind.password': t('needs password', 'braucht Passwort'),
  'kind.unknown': t('unknown', 'unbekannt'),
  'kind.unlocked': t('unlocked', 'entsperrt'),
  'kind.refused': t('wrong password', 'falsches Passwort'),
} satisfies Record<string, Text>;

type Key = keyof typeof TEXT;

const say = (key: Key, locale: Locale, values: Record<string, string | number> = {}): string =>
  TEXT[key][locale].replace(/\{(\w+)\}/g, (_, name: string) => String(values[name] ?? ''));
/** Escaped text with escaped values. */
const h = (key: Key, locale: Locale, values: Record<string, string | number> = {}): string => escapeHtml(say(key, locale, values));

/** Wider than the gate's sign-in card, tables that become cards on a phone, compact buttons in rows. */
export const ADMIN_STYLE = `
body{align-items:flex-start}
main{max-width:76rem}
nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;padding:0;margin:.5rem 0 1rem}
section{margin-top:1.75rem}
h2{font-size:1.1rem;margin:0 0 .5rem}
table{width:100%;border-collapse:collapse;font-size:.9rem}
th,td{text-align:left;vertical-align:top;padding:.45rem .5rem;border-bottom:1px solid #8884;overflow-wrap:break-word}
td.nowrap,td button{white-space:nowrap}
.scroll{overflow-x:auto}
.nw{white-space:nowrap}
h3{font-size:1rem;margin:1.25rem 0 .5rem}
h3.gateway code{overflow-wrap:anywhere}
th{font-weight:600;color:var(--muted)}
td form{margin:0}
td button,form.filters button{width:auto;margin:0;padding:.4rem .8rem;font-size:.9rem}
button.danger{background:var(--err)}
.notice{border-left:4px solid var(--accent);padding:.5rem .75rem;background:#8881}
.num{font-variant-numeric:tabular-nums}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:flex-end}
form.filters label{margin:0 0 .25rem}
form.filters input,form.filters select{width:auto;min-width:12rem;font:inherit;padding:.5rem;border:1px solid var(--muted);border-radius:10px;background:transparent;color:inherit}
.pager{display:flex;gap:1rem;justify-content:space-between;margin-top:.75rem}
.forget button{width:auto;margin:0 0 .25rem;padding:.4rem .8rem;font-size:.9rem}
@media (max-width:44rem){
main{padding:20px 14px}
table.cards thead{display:none}
table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:100%}
table.cards tr{border:1px solid #8886;border-radius:12px;padding:.35rem .6rem;margin-bottom:.6rem}
table.cards td{display:flex;gap:.75rem;justify-content:space-between;border:0;padding:.25rem 0;text-align:right;overflow-wrap:anywhere;min-width:0}
table.cards td.num,table.cards td.nowrap{white-space:normal}
table.cards td::before{content:attr(data-label);font-weight:600;color:var(--muted);text-align:left;flex:none}
form.filters input,form.filters select{min-width:0;width:100%}
form.filters>div{width:100%}
}
`;

/** A time as UTC to the minute; one that cannot be read (a damaged date in another gateway's snapshot) is a dash. */
const time = (ms: number | null, locale: Locale): string =>
  ms === null
    ? say('never', locale)
    : !Number.isFinite(ms)
      ? '–'
      : new Date(ms)
          .toISOString()
          .replace('T', ' ')
          .replace(/:\d\d\.\d{3}Z$/, ' UTC');

/** A time that may wrap between date and time of day, never inside either. */
function timeHtml(ms: number | null, locale: Locale): string {
  const text = time(ms, locale);
  const space = text.indexOf(' ');
  return ms === null || space < 0 ? escapeHtml(text) : `<span class="nw">${escapeHtml(text.slice(0, space))}</span> <span class="nw">${escapeHtml(text.slice(space + 1))}</span>`;
}

function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 90) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 90 ? `${minutes} min` : `${Math.round(minutes / 60)} h`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) ((value /= 1024), unit++);
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

interface Column<Row> {
  label: Key;
  cell: (row: Row) => string;
  className?: string;
}

/** A table that is a list of cards on a phone: each cell carries its column's name. */
function table<Row>(locale: Locale, rows: readonly Row[], columns: Array<Column<Row>>, caption: string): string {
  if (rows.length === 0) return `<p class="muted">${h('none', locale)}</p>`;
  const head = columns.map((c) => `<th scope="col">${h(c.label, locale)}</th>`).join('');
  const body = rows
    .map((row) => `<tr>${columns.map((c) => `<td data-label="${h(c.label, locale)}"${c.className ? ` class="${c.className}"` : ''}>${c.cell(row)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<div class="scroll"><table class="cards"><caption class="muted" hidden>${escapeHtml(caption)}</caption><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

const hidden = (name: string, value: string) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;

/** Forgets one link's cached answers on every gateway (`name`: LinkCacheEntry.name), or every link's without one. */
function forgetButton(locale: Locale, csrf: string, name: string | null, what: string): string {
  const key: Key = name === null ? 'forgetAll' : 'forget';
  const label = name === null ? say(key, locale) : `${say(key, locale)}: ${what}`;
  return `<form method="post" action="${ADMIN_PATHS.forget}">${hidden('csrf', csrf)}${name === null ? '' : hidden('link', name)}<button type="submit" aria-label="${escapeHtml(label)}">${h(key, locale)}</button></form>`;
}

function revokeButton(locale: Locale, csrf: string, kind: ActionKind, id: string, what: string): string {
  const label = `${say('revoke', locale)}: ${what}`;
  return `<form method="post" action="${ADMIN_PATHS.revoke}">${hidden('csrf', csrf)}${hidden('kind', kind)}${hidden('id', id)}<button type="submit" class="danger" aria-label="${escapeHtml(label)}">${h('revoke', locale)}</button></form>`;
}

/**
 * A share link's record as the admin page shows it (the shape of the link-records store's read()): totals per kind,
 * refusals per reason, and the newest events with time and coarse client label.
 */
export interface LinkRecordView {
  linkId: string | null;
  events: Array<{ at: number; kind: string; reason: string | null; client: string | null; count: number; detail: string | null }>;
  totals: Record<string, number>;
  refusals: Record<string, number>;
  firstAt: number | null;
  lastAt: number | null;
}

export interface AdminView {
  locale: Locale;
  csrf: string;
  admin: string;
  currentSessionId: string;
  now: number;
  notice: Notice | null;
  sessions: SessionRecord[];
  devices: DeviceRecord[];
  passkeys: PasskeyRecord[];
  /**
   * Absent when the tunnel is off. `status` is this gateway's (live); `others` what each other gateway sharing the
   * store last said (expired ones are not there); `othersUnknown` when the store could not be read for them.
   */
  tunnel?: { status: TunnelStatus; others?: TunnelStatus[]; othersUnknown?: boolean; tokens: TunnelTokenRecord[] };
  filter: EventFilter;
  events: AuditEvent[];
  moreEvents: boolean;
  /** Absent without a share host. */
  linkCache?: LinkCacheState;
  /** Whether per-link records can be looked up (see AdminSources.linkRecord), and the one asked for, if any. */
  linkRecords: boolean;
  linkRecord?: LinkRecordView | null;
}

function sessionsSection(v: AdminView): string {
  const { locale } = v;
  return table(
    locale,
    v.sessions,
    [
      {
        label: 'email',
        cell: (s) => `${escapeHtml(s.email)}${s.id === v.currentSessionId ? ` <span class="muted">(${h('thisBrowser', locale)})</span>` : ''}`,
      },
      { label: 'signedIn', cell: (s) => timeHtml(s.createdAt, locale), className: 'num' },
      { label: 'lastSeen', cell: (s) => timeHtml(s.lastSeenAt, locale), className: 'num' },
      { label: 'expires', cell: (s) => timeHtml(s.expiresAt, locale), className: 'num' },
      { label: 'address', cell: (s) => escapeHtml(s.ip ?? '–'), className: 'nowrap' },
      { label: 'browser', cell: (s) => escapeHtml((s.userAgent ?? '–').slice(0, 120)) },
      { label: 'action', className: 'nowrap', cell: (s) => revokeButton(locale, v.csrf, 'session', s.id, say('sessionOf', locale, { email: s.email })) },
    ],
    say('sessions', locale),
  );
}

function devicesSection(v: AdminView): string {
  const { locale } = v;
  return table(
    locale,
    v.devices,
    [
      { label: 'email', cell: (d) => escapeHtml(d.email) },
      { label: 'name', cell: (d) => escapeHtml(d.name) },
      { label: 'created', cell: (d) => timeHtml(d.createdAt, locale), className: 'num' },
      { label: 'lastUsed', cell: (d) => timeHtml(d.lastUsedAt, locale), className: 'num' },
      { label: 'address', cell: (d) => escapeHtml(d.lastIp ?? '–') },
      { label: 'action', className: 'nowrap', cell: (d) => revokeButton(locale, v.csrf, 'device', d.id, `${d.name} (${d.email})`) },
    ],
    say('devices', locale),
  );
}

function passkeysSection(v: AdminView): string {
  const { locale } = v;
  return table(
    locale,
    v.passkeys,
    [
      { label: 'email', cell: (p) => escapeHtml(p.email) },
      { label: 'name', cell: (p) => escapeHtml(p.name) },
      { label: 'created', cell: (p) => timeHtml(p.createdAt, locale), className: 'num' },
      { label: 'lastUsed', cell: (p) => timeHtml(p.lastUsedAt, locale), className: 'num' },
      { label: 'action', className: 'nowrap', cell: (p) => revokeButton(locale, v.csrf, 'passkey', p.id, `${p.name} (${p.email})`) },
    ],
    say('passkeys', locale),
  );
}

/** One gateway's connectors: whether any is attached (or since when none is), then one row each. */
function gatewayConnectors(v: AdminView, status: TunnelStatus, grouped: boolean): string {
  const { locale } = v;
  const state =
    status.connectors.length > 0
      ? h('tunnelOnline', locale, { count: status.connectors.length })
      : status.offlineSince
        ? h('tunnelOffline', locale, { since: time(Date.parse(status.offlineSince), locale) })
        : h('tunnelNever', locale);
  const pending = status.unauthenticated ? ` ${h('tunnelPending', locale, { count: status.unauthenticated })}` : '';
  const connectors = table(
    locale,
    status.connectors,
    [
      { label: 'name', cell: (c) => escapeHtml(c.name) },
      { label: 'token', cell: (c) => `<code>${escapeHtml(c.tokenId)}</code>` },
      { label: 'since', cell: (c) => timeHtml(Date.parse(c.since), locale), className: 'num' },
      { label: 'address', cell: (c) => escapeHtml(c.remoteAddress) },
      { label: 'openStreams', cell: (c) => String(c.openStreams), className: 'num' },
      { label: 'streamsTotal', cell: (c) => String(c.streamsTotal), className: 'num' },
      { label: 'bytesIn', cell: (c) => bytes(c.bytesIn), className: 'num' },
      { label: 'bytesOut', cell: (c) => bytes(c.bytesOut), className: 'num' },
    ],
    grouped ? `${say('tunnel', locale)}: ${status.gateway ?? ''}` : say('tunnel', locale),
  );
  return `<p>${state}${pending}</p>${connectors}`;
}

/**
 * Connectors, then tunnel tokens. A gateway alone on its store shows its connectors as it always did; with others
 * on the store (or when they could not be read) each gateway gets a heading of its own, this one first and said
 * to be this one, so a connector attached elsewhere can be found, and its token revoked, from any gateway.
 */
function tunnelSection(v: AdminView): string {
  const { locale } = v;
  if (!v.tunnel) return `<p class="muted">${h('tunnelOff', locale)}</p>`;
  const { status, tokens } = v.tunnel;
  const others = v.tunnel.others ?? [];
  let connectors: string;
  if (others.length === 0 && !v.tunnel.othersUnknown) {
    connectors = gatewayConnectors(v, status, false);
  } else {
    const heading = (g: TunnelStatus, self: boolean) =>
      `<h3 class="gateway">${h('gateway', locale)} <code>${escapeHtml(g.gateway ?? '')}</code>${self ? ` <span class="muted">(${h('thisGateway', locale)})</span>` : ''}</h3>`;
    const summary = others.length > 0 ? `<p>${h('gatewaysShared', locale, { count: others.length + 1 })}</p>` : '';
    const unknown = v.tunnel.othersUnknown ? `<p class="muted">${h('othersUnknown', locale)}</p>` : '';
    const elsewhere = others.map(
      (g) => `${heading(g, false)}<p class="muted">${h('reportedAgo', locale, { ago: duration(v.now - Date.parse(g.writtenAt)) })}</p>${gatewayConnectors(v, g, true)}`,
    );
    connectors = `${summary}${unknown}${heading(status, true)}${gatewayConnectors(v, status, true)}${elsewhere.join('')}`;
  }
  const tokenTable = table(
    locale,
    tokens,
    [
      { label: 'name', cell: (k) => escapeHtml(k.name) },
      { label: 'token', cell: (k) => `<code>${escapeHtml(k.id)}</code>` },
      { label: 'created', cell: (k) => timeHtml(k.createdAt, locale), className: 'num' },
      { label: 'lastUsed', cell: (k) => timeHtml(k.lastUsedAt, locale), className: 'num' },
      { label: 'state', cell: (k) => (k.revokedAt === null ? h('active', locale) : h('revokedAt', locale, { at: time(k.revokedAt, locale) })) },
      { label: 'action', className: 'nowrap', cell: (k) => (k.revokedAt === null ? revokeButton(locale, v.csrf, 'tunnel-token', k.id, `${say('token', locale)} ${k.name}`) : '') },
    ],
    say('tokens', locale),
  );
  return `${connectors}<h3>${h('tokens', locale)}</h3>${tokenTable}`;
}

function eventsSection(v: AdminView): string {
  const { locale, filter } = v;
  const options = CATEGORIES.map((c: EventCategory) => `<option value="${c}"${c === filter.category ? ' selected' : ''}>${h(`cat.${c}` as Key, locale)}</option>`).join('');
  const form = `<form class="filters" method="get" action="${ADMIN_PATHS.page}#events">
<div><label for="cat">${h('category', locale)}</label><select id="cat" name="cat">${options}</select></div>
<div><label for="filter-email">${h('email', locale)}</label><input id="filter-email" name="email" type="email" maxlength="254" value="${escapeHtml(filter.email ?? '')}"></div>
<div><label for="filter-reason">${h('reason', locale)}</label><input id="filter-reason" name="reason" type="text" maxlength="80" value="${escapeHtml(filter.reason ?? '')}"></div>
<div><button type="submit">${h('filter', locale)}</button></div></form>`;
  const rows = table(
    locale,
    v.events,
    [
      { label: 'time', cell: (e) => timeHtml(e.at, locale), className: 'num' },
      { label: 'type', cell: (e) => `<code>${escapeHtml(e.type)}</code>` },
      { label: 'email', cell: (e) => escapeHtml(e.email ?? '–') },
      { label: 'address', cell: (e) => escapeHtml(e.ip ?? '–') },
      { label: 'detail', cell: (e) => escapeHtml(e.detail ?? '') },
      { label: 'count', cell: (e) => String(e.count ?? 1), className: 'num' },
    ],
    say('events', locale),
  );
  const link = (page: number, key: Key, rel: string) => `<a rel="${rel}" href="${escapeHtml(`${ADMIN_PATHS.page}${queryFor({ ...filter, page })}#events`)}">${h(key, locale)}</a>`;
  const newer = filter.page > 1 ? link(filter.page - 1, 'newer', 'prev') : '<span></span>';
  const older = v.moreEvents && filter.page < MAX_PAGE ? link(filter.page + 1, 'older', 'next') : '<span></span>';
  const empty = v.events.length === 0 ? `<p class="muted">${h('noEvents', locale)}</p>` : rows;
  return `${form}${empty}<p class="pager">${newer}<span class="muted">${h('pageOf', locale, { page: filter.page })}</span>${older}</p>`;
}

function linkCacheSection(v: AdminView): string {
  const { locale } = v;
  const cache = v.linkCache;
  if (!cache) return `<p class="muted">${h('cacheOff', locale)}</p>`;
  const summary = h('cacheSummary', locale, {
    fresh: cache.fresh,
    entries: cache.entries,
    max: cache.maxEntries,
    inflight: cache.inflight,
    ttl: duration(cache.ttlMs),
    hit: cache.counts.hit,
    miss: cache.counts.miss,
    joined: cache.counts.joined,
  });
  const flag = (value: boolean | undefined) => (value === undefined ? '–' : h(value ? 'yes' : 'no', locale));
  const entries = table(
    locale,
    cache.newest,
    [
      { label: 'link', cell: (e: LinkCacheEntry) => `<code>${escapeHtml(e.label)}</code>` },
      { label: 'kind', cell: (e) => h(`kind.${e.kind}` as Key, locale) },
      { label: 'download', cell: (e) => flag(e.link?.allowDownload) },
      { label: 'upload', cell: (e) => flag(e.link?.allowUpload) },
      { label: 'metadata', cell: (e) => flag(e.link?.showMetadata) },
      { label: 'password', cell: (e) => flag(e.link?.passwordProtected) },
      {
        label: 'expires',
        cell: (e) => (e.link ? (e.link.expiresAt === null ? h('noExpiry', locale) : timeHtml(e.link.expiresAt, locale)) : '–'),
        className: 'num',
      },
      { label: 'freshFor', cell: (e) => duration(e.until - v.now), className: 'num' },
      { label: 'action', className: 'nowrap', cell: (e) => forgetButton(locale, v.csrf, e.name, e.label) },
    ],
    say('linkCache', locale),
  );
  const forgotten = cache.counts.forgotten ? ` ${h('cacheForgotten', locale, { forgotten: cache.counts.forgotten })}` : '';
  return `<p>${summary}${forgotten}</p><div class="forget">${forgetButton(locale, v.csrf, null, '')}<p class="muted">${h('forgetAllHint', locale)}</p></div>${entries}`;
}

/** The totals of a link's record in words; the event names beside them stay as stored, for grepping the CLI's output. */
const RECORD_TOTALS = {
  view: t('Page views', 'Seitenaufrufe'),
  unlock: t('Unlocked with the password', 'Mit dem Passwort geöffnet'),
  download: t('Downloads', 'Downloads'),
  upload: t('Uploads', 'Uploads'),
  refused: t('Refused', 'Abgewiesen'),
  dropped: t('Events not kept (over the bounds)', 'Nicht aufbewahrte Ereignisse (über den Grenzen)'),
} as const;

function linkRecordSection(v: AdminView): string {
  const { locale, filter } = v;
  const form = `<form class="filters" method="get" action="${ADMIN_PATHS.page}#link-records">
<div><label for="link">${h('linkLookup', locale)}</label><input id="link" name="link" type="text" maxlength="300" autocapitalize="none" spellcheck="false" value="${escapeHtml(filter.link ?? '')}"></div>
<div><button type="submit">${h('show', locale)}</button></div></form>`;
  if (!filter.link) return form;
  const record = v.linkRecord;
  if (!record) return `${form}<p class="muted">${h('noRecord', locale)}</p>`;
  const totals = Object.entries(record.totals)
    .map(([kind, n]) => `<li>${escapeHtml(RECORD_TOTALS[kind as keyof typeof RECORD_TOTALS]?.[locale] ?? kind)} (<code>${escapeHtml(kind)}</code>): <strong>${n}</strong></li>`)
    .join('');
  const refusals = Object.entries(record.refusals)
    .map(([reason, n]) => `<li>${escapeHtml(reason)}: <strong>${n}</strong></li>`)
    .join('');
  const events = table(
    locale,
    record.events,
    [
      { label: 'time', cell: (e) => timeHtml(e.at, locale), className: 'num' },
      { label: 'type', cell: (e) => `<code>${escapeHtml(e.kind)}</code>` },
      { label: 'why', cell: (e) => escapeHtml(e.reason ?? '–') },
      { label: 'address', cell: (e) => escapeHtml(e.client ?? '–') },
      { label: 'detail', cell: (e) => escapeHtml(e.detail ?? '') },
      { label: 'count', cell: (e) => String(e.count), className: 'num' },
    ],
    say('linkRecords', locale),
  );
  const id = record.linkId ? `<p><code>${escapeHtml(record.linkId)}</code></p>` : '';
  return `${form}${id}<ul>${totals}</ul>${refusals ? `<h3>${h('refusals', locale)}</h3><ul>${refusals}</ul>` : ''}${events}`;
}

export function adminPage(v: AdminView): { title: string; body: string } {
  const { locale } = v;
  const sections: Array<[string, Key, string]> = [
    ['sessions', 'sessions', sessionsSection(v)],
    ['devices', 'devices', devicesSection(v)],
    ['passkeys', 'passkeys', passkeysSection(v)],
    ['tunnel', 'tunnel', tunnelSection(v)],
    ['events', 'events', eventsSection(v)],
    ['link-cache', 'linkCache', linkCacheSection(v)],
  ];
  if (v.linkRecords) sections.push(['link-records', 'linkRecords', linkRecordSection(v)]);
  const title = say('title', locale);
  const nav = `<nav aria-label="${h('contents', locale)}"><ul>${sections.map(([id, key]) => `<li><a href="#${id}">${h(key, locale)}</a></li>`).join('')}</ul></nav>`;
  const notice = v.notice ? `<p class="notice" role="status">${h(`done.${v.notice}` as Key, locale)}</p>` : '';
  const body = `<h1>${escapeHtml(title)}</h1><p class="muted">${h('signedInAs', locale, { email: v.admin })} <a href="/">${h('backToPhotos', locale)}</a></p>
${nav}${notice}
${sections.map(([id, key, html]) => `<section id="${id}" aria-labelledby="${id}-title"><h2 id="${id}-title">${h(key, locale)}</h2>\n${html}</section>`).join('\n')}
<p class="muted">${h('footer', locale)}</p>`;
  return { title, body };
}
