// THE share-host surface, as data. Every request on the share host must match one row of SHARE_POLICY, or it
// is refused with the share host's single 404. Rows name the method, the exact path shape, where the link
// credential comes from, whether a password link must be unlocked first, which query parameters may be sent,
// what body is accepted and which link settings must allow it. Read this table to audit the share host.
//
// Path templates are regular expressions over the raw (validated, never rewritten) path; `.` is literal and
// {placeholders} stand for the shapes in PLACEHOLDERS. Nothing else in src/share decides what is reachable.

export type Method = 'GET' | 'HEAD' | 'POST' | 'DELETE';

/** Where the link credential is: none, the page path (/share/<key>, /s/<slug>), or exactly one `key`/`slug` query parameter. */
export type LinkSource = 'none' | 'path' | 'query';

/** Link settings (from Immich's GET /api/shared-links/me) and Porthole config that must allow a request. */
export type Condition =
  | 'allowDownload' // the link allows downloads
  | 'allowUpload' // the link allows uploads ...
  | 'uploadsEnabled' // ... and so does Porthole's share.allowUploads
  | 'albumParamIsLink' // ?albumId= names the link's own album
  | 'albumPathIsLink' // /albums/{uuid}/... names the link's own album
  | 'geoOnlyWithMetadata' // withCoordinates/bbox only when the link shows metadata
  | 'metadataShown' // only when the link shows metadata (zips cannot be cleaned)
  | 'previewOnlyWhenHidden'; // thumbnails: no ?size=fullsize when metadata is hidden (may be a RAW's embedded JPEG with tags)

/** 'clean-media': served with metadata overwritten when the link hides metadata (see original.ts). */
export type Special = 'robots' | 'root' | 'to-private-host' | 'login' | 'clean-media';

export interface Rule {
  readonly id: string;
  readonly methods: readonly Method[];
  readonly path: string;
  readonly link: LinkSource;
  /** Password links: 'unlocked' needs an immich_shared_link_token cookie Immich accepted for this link. */
  readonly password?: 'exempt' | 'unlocked';
  /** Query parameters allowed besides key/slug; 'page' = any well-formed ones except credentials. */
  readonly params?: readonly string[] | 'page';
  readonly body?: { readonly type: 'json' | 'multipart'; readonly maxBytes?: number };
  readonly when?: readonly Condition[];
  readonly special?: Special;
}

const PAGE: readonly Method[] = ['GET', 'HEAD'];
const GET: readonly Method[] = ['GET'];
const POST: readonly Method[] = ['POST'];
const THUMB = ['size', 'c', 'edited'] as const;
const TIMELINE = ['albumId', 'order', 'orderBy', 'visibility', 'isFavorite', 'isTrashed', 'withStacked', 'withPartners', 'withCoordinates', 'bbox'] as const;

// prettier-ignore
export const SHARE_POLICY: readonly Rule[] = [
  // id                 methods  path                                                            link      password    params / body / conditions
  { id: 'share-page',     methods: PAGE, path: '/share/{key}(/photos/{uuid})?/?',                    link: 'path',  password: 'exempt',   params: 'page' },
  { id: 'slug-page',      methods: PAGE, path: '/s/{slug}(/photos/{uuid})?/?',                       link: 'path',  password: 'exempt',   params: 'page' },
  { id: 'web-app',        methods: PAGE, path: '/_app/{appfile}',                                    link: 'none',                         params: 'page' },
  { id: 'static',         methods: PAGE, path: '/({static})',                                        link: 'none',                         params: 'page' },
  // Immich's service worker (registered by the web app, scope /): it fetches thumbnails itself, drops duplicate
  // requests and cancels those scrolled off screen. Its own requests are ordinary share-host requests, so every
  // one of them meets this table like the page's.
  { id: 'service-worker', methods: PAGE, path: '/service-worker.js',                                 link: 'none',                         params: [] },
  { id: 'robots',         methods: PAGE, path: '/robots.txt',                                        link: 'none',  special: 'robots',     params: 'page' },
  { id: 'root',           methods: PAGE, path: '/',                                                  link: 'none',  special: 'root',       params: 'page' },
  { id: 'email-link',     methods: PAGE, path: '/(albums|photos)/{uuid}',                            link: 'none',  special: 'to-private-host', params: 'page' },
  { id: 'server-public',  methods: GET,  path: '/api/server/(config|features|media-types)',          link: 'none',                         params: [] },
  { id: 'link-me',        methods: GET,  path: '/api/shared-links/me',                               link: 'query', password: 'exempt',   params: [] },
  { id: 'link-login',     methods: POST, path: '/api/shared-links/login',                            link: 'query', password: 'exempt',   params: [], body: { type: 'json', maxBytes: 4096 }, special: 'login' },
  { id: 'asset-info',     methods: GET,  path: '/api/assets/{uuid}',                                 link: 'query', password: 'unlocked', params: [] },
  { id: 'thumbnail',      methods: GET,  path: '/api/assets/{uuid}/thumbnail',                       link: 'query', password: 'unlocked', params: THUMB, when: ['previewOnlyWhenHidden'] },
  { id: 'playback',       methods: GET,  path: '/api/assets/{uuid}/video/playback',                  link: 'query', password: 'unlocked', params: ['c'], special: 'clean-media' },
  { id: 'original',       methods: GET,  path: '/api/assets/{uuid}/original',                        link: 'query', password: 'unlocked', params: ['c', 'edited'], when: ['allowDownload'], special: 'clean-media' },
  { id: 'hls-main',       methods: GET,  path: '/api/assets/{uuid}/video/stream/main.m3u8',          link: 'query', password: 'unlocked', params: [] },
  { id: 'hls-playlist',   methods: GET,  path: '/api/assets/{uuid}/video/stream/{session}/{variant}/playlist.m3u8', link: 'query', password: 'unlocked', params: [] },
  { id: 'hls-segment',    methods: GET,  path: '/api/assets/{uuid}/video/stream/{session}/{variant}/{segment}', link: 'query', password: 'unlocked', params: [] },
  { id: 'hls-end',        methods: ['DELETE'], path: '/api/assets/{uuid}/video/stream/{session}',    link: 'query', password: 'unlocked', params: [] },
  { id: 'timeline-buckets', methods: GET, path: '/api/timeline/buckets',                             link: 'query', password: 'unlocked', params: TIMELINE, when: ['albumParamIsLink', 'geoOnlyWithMetadata'] },
  { id: 'timeline-bucket', methods: GET, path: '/api/timeline/bucket',                               link: 'query', password: 'unlocked', params: [...TIMELINE, 'timeBucket'], when: ['albumParamIsLink', 'geoOnlyWithMetadata'] },
  { id: 'map-markers',    methods: GET,  path: '/api/albums/{uuid}/map-markers',                     link: 'query', password: 'unlocked', params: [], when: ['albumPathIsLink'] },
  { id: 'download-info',  methods: POST, path: '/api/download/info',                                 link: 'query', password: 'unlocked', params: [], body: { type: 'json', maxBytes: 1 << 20 }, when: ['allowDownload'] },
  { id: 'download-zip',   methods: POST, path: '/api/download/archive',                              link: 'query', password: 'unlocked', params: [], body: { type: 'json', maxBytes: 1 << 20 }, when: ['allowDownload', 'metadataShown'] },
  { id: 'upload',         methods: POST, path: '/api/assets',                                        link: 'query', password: 'unlocked', params: [], body: { type: 'multipart' }, when: ['allowUpload', 'uploadsEnabled'] },
];

/**
 * Accepted by Immich for share links, refused here on purpose. Listed so the refusal is visible in review;
 * they match no row above anyway.
 */
export const ALWAYS_REFUSED: readonly { method: Method; path: string; why: string }[] = [
  { method: 'GET', path: '/api/albums/{uuid}', why: "returns album members' names and e-mail addresses; the share page never calls it" },
  { method: 'POST', path: '/api/search/metadata', why: 'returns full EXIF and GPS whatever showMetadata says; the share page never calls it' },
];

/** Shapes of the path placeholders. Keys are 50 random bytes (67 base64url) or legacy 100-char hex. */
export const PLACEHOLDERS: Readonly<Record<string, string>> = {
  uuid: '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}',
  key: '[A-Za-z0-9_-]{67}|[0-9a-fA-F]{100}',
  // Raw slug segment; percent escapes were already checked by the normaliser, the decoded length is bounded later.
  slug: '[^/]{1,600}',
  // The web app's build output: a few segments, none starting with a dot.
  appfile: '(?:[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,127}/){0,6}[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,127}',
  static:
    'custom.css|favicon.ico|favicon-(?:16|32|48|96|144).png|apple-icon-180.png|manifest.json|manifest-icon-(?:192|512).maskable.png|feature-panel.png|light_skeleton.png|dark_skeleton.png',
  session: '[A-Za-z0-9_-]{1,64}',
  variant: '[0-9]{1,2}',
  segment: '[A-Za-z0-9_-]{1,64}.(?:m4s|mp4|ts)',
};

/** Credential parameters that are never accepted on the share host (they select Immich's session/API-key auth). */
export const FORBIDDEN_PARAMS: ReadonlySet<string> = new Set(['apiKey', 'sessionKey']);

/** Request headers that carry other credentials, Immich's share-credential headers (which would override the
 * checked query parameter) or the upload checksum probe; dropped before anything reaches Immich. */
export const DROPPED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'x-api-key',
  'x-immich-user-token',
  'x-immich-session-token',
  'x-immich-share-key',
  'x-immich-share-slug',
  'x-immich-checksum',
  'x-http-method-override',
  'x-method-override',
  'x-original-url',
  'x-rewrite-url',
  // The private host's device token: a secret that is no business of the share host or of Immich.
  'x-porthole-device',
]);

/** The only cookie Immich's share page needs: the password-unlock token. */
export const SHARE_COOKIE = 'immich_shared_link_token';
