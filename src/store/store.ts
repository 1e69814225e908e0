// What Porthole remembers between requests and restarts: sessions, sign-in codes, device tokens, passkeys,
// tunnel tokens, audit events and rate-limit counters, and the one signal that something was revoked or that a
// share link changed at Immich. This
// interface is the seam every caller uses: SQLite implements it (sqlite.ts) for one gateway; Redis (redis/)
// for several gateways sharing one state, its change feed carried by pub/sub. Secrets are never stored, only
// their hashes.
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { LinkRecords } from './link-records.js';

export interface SessionRecord {
  /** Public, non-secret id used by the CLI (`porthole sessions revoke <id>`). */
  id: string;
  /** SHA-256 of the cookie token; the token itself is never stored. */
  tokenHash: string;
  email: string;
  createdAt: number;
  expiresAt: number;
  lastSeenAt: number;
  ip: string | null;
  userAgent: string | null;
}

export interface SessionStore {
  create(session: SessionRecord): void;
  findByTokenHash(tokenHash: string): SessionRecord | undefined;
  /** Sliding renewal: moves expiry forward and records activity. */
  touch(id: string, lastSeenAt: number, expiresAt: number): void;
  list(now: number): SessionRecord[];
  revokeById(id: string): SessionRecord | undefined;
  revokeByEmail(email: string): SessionRecord[];
  revokeAll(): SessionRecord[];
  deleteExpired(now: number): number;
}

/** A phone or tablet (the Immich app) let through by a device token instead of a session cookie. */
export interface DeviceRecord {
  /** Public, non-secret id used by the CLI (`porthole devices revoke <id>`). */
  id: string;
  /** SHA-256 of the device token; the token itself is never stored. */
  tokenHash: string;
  email: string;
  /** The owner's label, e.g. "Alice's phone". */
  name: string;
  createdAt: number;
  /** Written at most once a minute per device, not on every request. */
  lastUsedAt: number | null;
  lastIp: string | null;
  /** Set when revoked; the row stays so the audit log can name a revoked device that is still trying. */
  revokedAt: number | null;
}

export interface DeviceStore {
  create(device: DeviceRecord): void;
  /** The device behind a token hash, revoked or not (the caller decides). */
  findByTokenHash(tokenHash: string): DeviceRecord | undefined;
  touch(id: string, lastUsedAt: number, lastIp: string | null): void;
  /** Oldest first; revoked devices only when asked for. */
  list(options?: { includeRevoked?: boolean }): DeviceRecord[];
  countActive(email: string): number;
  /** Each returns the devices that were active and are now revoked. */
  revokeById(id: string, at: number): DeviceRecord | undefined;
  revokeByEmail(email: string, at: number): DeviceRecord[];
  revokeAll(at: number): DeviceRecord[];
}

/**
 * A sign-in code: one per request, bound to the browser that asked (its pending cookie names the id), so a
 * request from someone else never replaces or spends it. Several codes for one address can be live at once.
 */
export interface CodeRecord {
  /** Random, non-secret id carried in the requesting browser's pending cookie. */
  id: string;
  email: string;
  /** Keyed hash of the 6-digit code (see src/gate for how it is derived). */
  codeHash: string;
  /** Keyed hash of the random token in the emailed sign-in link. */
  linkTokenHash: string;
  createdAt: number;
  expiresAt: number;
  failedAttempts: number;
  /** Where to go after sign-in (same-host relative path, already validated). */
  returnTo: string;
  /** Language the requester used, so the mail and the confirmation page match. */
  locale: string;
}

export interface CodeStore {
  put(code: CodeRecord): void;
  get(id: string): CodeRecord | undefined;
  getByLinkTokenHash(linkTokenHash: string): CodeRecord | undefined;
  /** Counts a wrong try and returns the new count. */
  recordFailure(id: string): number;
  delete(id: string): void;
  deleteExpired(now: number): number;
}

/** Every kind of audit event; `porthole audit --type` accepts exactly these. */
export const AUDIT_EVENT_TYPES = [
  'code.requested',
  'code.refused',
  'code.sent',
  'code.send-failed',
  'code.wrong',
  'code.locked',
  'code.expired',
  'rate.limited',
  'session.created',
  'session.ended',
  'session.revoked',
  'csrf.rejected',
  'device.created',
  'device.revoked',
  'device.refused',
  /** A share link refused by one of the gateway's own rules (share.rules), named in the detail. */
  'share.refused',
  /** An admin had every gateway forget what it cached about share links (all, or one link named in the detail). */
  'share.link-forgotten',
  'share.password-wrong',
  'share.locked',
  'tunnel.connected',
  'tunnel.disconnected',
  'tunnel.refused',
  'audit.dropped',
  'passkey.created',
  'passkey.revoked',
  'passkey.refused',
  'tunnel.token-revoked',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditEvent {
  id?: number;
  at: number;
  type: AuditEventType;
  email?: string | null;
  ip?: string | null;
  detail?: string | null;
  /** How many events this row stands for: more than 1 when refusals were folded or dropped ones counted. */
  count?: number;
}

export interface AuditLog {
  record(event: Omit<AuditEvent, 'id' | 'at'> & { at?: number }): void;
  /** Writes the counts of folded events held back so far (see audit-guard.ts). */
  flush(): void;
  list(filter?: { limit?: number; type?: string; email?: string; sinceMs?: number }): AuditEvent[];
  /** Forgets events recorded before `before` (ms); returns how many. */
  deleteOlderThan(before: number): number;
}

/** A WebAuthn credential (passkey) that signs its owner in instead of an emailed code. */
export interface PasskeyRecord {
  /** Public, non-secret id used by the CLI and the gate page (`porthole passkeys revoke <id>`). */
  id: string;
  /** The authenticator's credential id, base64url. */
  credentialId: string;
  /** COSE public key. */
  publicKey: Buffer;
  /** Signature counter last seen (0 for authenticators that do not count). */
  counter: number;
  email: string;
  /** The owner's label, e.g. "iPhone". */
  name: string;
  /** Comma-separated transports the authenticator reported (hints for the browser). */
  transports: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export type PasskeyChallengePurpose = 'register' | 'authenticate';

export interface PasskeyStore {
  create(passkey: PasskeyRecord): void;
  findByCredentialId(credentialId: string): PasskeyRecord | undefined;
  /** Oldest first; one address's, or everyone's. */
  list(email?: string): PasskeyRecord[];
  /** Records a successful sign-in with the counter it reported. */
  used(id: string, counter: number, at: number): void;
  /** Each returns the passkeys that were removed. */
  revokeById(id: string, email?: string): PasskeyRecord | undefined;
  revokeByEmail(email: string): PasskeyRecord[];
  revokeAll(): PasskeyRecord[];
  /** The random WebAuthn user handle for an address, created on first use (never the address itself). */
  userHandle(email: string): string;
  /** Remembers a challenge for one ceremony, bound to the browser that asked (`binding`). */
  putChallenge(challenge: string, purpose: PasskeyChallengePurpose, binding: string, email: string | null, expiresAt: number, now: number): void;
  /** Removes and returns the challenge if it exists, is unexpired and matches; a challenge works once. */
  takeChallenge(challenge: string, purpose: PasskeyChallengePurpose, binding: string, now: number): { email: string | null } | undefined;
}

export interface LimiterOptions {
  /** How many actions are allowed per window. */
  points: number;
  durationSeconds: number;
  /** Once over the limit, keep refusing for this long (defaults to the rest of the window). */
  blockSeconds?: number;
}

/** A token a home connector (`porthole connect`) authenticates with; only its secret's hash is kept. */
export interface TunnelTokenRecord {
  id: string;
  name: string;
  createdAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

export interface TunnelTokenStore {
  insert(record: { id: string; name: string; secretHash: string; createdAt: number }): void;
  /** Oldest first, revoked ones included. */
  list(): TunnelTokenRecord[];
  /** Returns false when no such token exists or it was already revoked. */
  revoke(id: string, at: number): boolean;
  findHash(id: string): { secretHash: string; revokedAt: number | null } | undefined;
  touch(id: string, at: number): void;
}

/**
 * Which connectors are attached to which gateway, so `porthole tunnel status` on any gateway shows them all. Each
 * gateway renews its own entry every few seconds with an expiry; a gateway that crashed simply stops renewing and
 * its entry vanishes. The snapshot is the gateway's status as JSON (src/tunnel/status.ts), opaque to the store.
 */
export interface TunnelPresenceEntry {
  gatewayId: string;
  snapshot: string;
  expiresAt: number;
}

export interface TunnelPresenceStore {
  /** Replaces this gateway's entry, valid until `expiresAt` (wall-clock ms). */
  upsert(gatewayId: string, snapshot: string, expiresAt: number): void;
  /** Entries not expired at `now`, by gateway id. */
  list(now: number): TunnelPresenceEntry[];
  /** A gateway shutting down takes its entry with it. */
  remove(gatewayId: string): void;
}

/**
 * What a change is about: the credentials whose revocation must reach caches and open connections, and share
 * links (`link`: a link's state changed at Immich, or an admin asked every gateway to forget what it cached).
 */
export type ChangeKind = 'session' | 'device' | 'passkey' | 'tunnel-token' | 'link';

/**
 * Something of `kind` was revoked, removed or changed. `ids` names them when known; without ids anything of that
 * kind may have changed, and listeners check again (or drop) everything of that kind they hold. Credentials:
 * a change made through this store names its ids, one noticed from elsewhere (the command line in another
 * process, another gateway) carries none. Links: ids are Immich link ids and `tag:<linkTag>` names of a key or
 * slug (src/share/link-tag.ts; never a key or slug itself), carried to every process when the announcer knew
 * them.
 */
export interface StoreChange {
  kind: ChangeKind;
  ids?: readonly string[];
}

/**
 * The one change signal. Changes made through this store are delivered synchronously, before the revoking call
 * returns; changes by another process on the same state arrive within about a second (SQLite: one cheap
 * revision check on a timer while anyone listens; Redis: pub/sub). Listeners must not throw.
 */
export interface ChangeFeed {
  /** Calls `listener` on every change from now on; returns the function that stops it. */
  subscribe(listener: (change: StoreChange) => void): () => void;
}

/** Why a shared store cannot answer now (its server is down, or its copy of the records may have missed changes). */
export interface StoreUnavailable {
  /** When it stopped answering (ms). */
  since: number;
  reason: string;
}

/** A certificate and its private key, PEM. */
export interface AcmeCertificatePair {
  cert: string;
  key: string;
}

/** An answer the CA may come to fetch: HTTP-01 by token on the HTTP port, TLS-ALPN-01 by name on the HTTPS port. */
export type AcmeChallengeAnswer = { type: 'http-01'; token: string; keyAuthorization: string } | { type: 'tls-alpn-01'; name: string; cert: string; key: string };

/**
 * What another gateway (or this one) changed: a certificate saved for a CA and name, a TLS-ALPN-01 answer put
 * (with its certificate, a throwaway) or removed (without), or "anything may have changed" after the store
 * reconnected.
 */
export type AcmeStoreEvent = { kind: 'certificate'; ca: string; name: string } | { kind: 'tls-alpn-01'; name: string; pair?: AcmeCertificatePair } | { kind: 'resync' };

/**
 * ACME state (src/tls/acme.ts), per CA (`ca`: the directory's tag, acmeTagFor) and name: the account key, the
 * certificates, the challenge answers the CA fetches, and a renewal lock, so that gateways sharing a store
 * share one account and one certificate per name, any of them answers a challenge, and one orders at a time.
 * SQLite (acme-files.ts): files in dataDir as before, answers and locks in the database. Redis (redis/acme.ts):
 * keys under the store's prefix, events by pub/sub.
 */
export interface AcmeStore {
  /** True when other gateways share it (Redis): existing local files are then imported once. */
  readonly shared: boolean;
  /** The CA account's key; `create` makes one when none is stored, and concurrent callers all get the one kept. */
  accountKey(ca: string, create: () => Promise<string>): Promise<string>;
  certificate(ca: string, name: string): Promise<AcmeCertificatePair | undefined>;
  /** Stores it and tells every gateway (event 'certificate'). */
  saveCertificate(ca: string, name: string, pair: AcmeCertificatePair): Promise<void>;
  /** Publishes an answer until it is removed or `ttlMs` passes. */
  putChallenge(answer: AcmeChallengeAnswer, ttlMs: number): Promise<void>;
  removeChallenge(type: AcmeChallengeAnswer['type'], tokenOrName: string): Promise<void>;
  /** The key authorization for an HTTP-01 token, if any gateway published it and it has not expired. */
  httpChallenge(token: string): Promise<string | undefined>;
  alpnChallenge(name: string): Promise<AcmeCertificatePair | undefined>;
  /** Takes (or, for its holder, keeps and extends) the lock on ordering for a CA and name; false while another holds it. */
  lock(ca: string, name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Releases the lock if `holder` still holds it. */
  unlock(ca: string, name: string, holder: string): Promise<void>;
  watch(listener: (event: AcmeStoreEvent) => void): () => void;
}

export interface Store {
  readonly sessions: SessionStore;
  readonly codes: CodeStore;
  readonly devices: DeviceStore;
  readonly passkeys: PasskeyStore;
  readonly tunnelTokens: TunnelTokenStore;
  /** Connectors attached to each gateway sharing this store. */
  readonly tunnelPresence: TunnelPresenceStore;
  readonly audit: AuditLog;
  /** Revocations of sessions, devices, passkeys and tunnel tokens, and changed share links, wherever they were made. */
  readonly changes: ChangeFeed;
  /**
   * Announces on the change feed, to this process at once and to every process sharing this store, that share
   * links changed at Immich: `ids` as in StoreChange (an Immich link id, `tag:<linkTag>`); none (or more than
   * MAX_LINK_IDS) means every link. Each gateway's share host then forgets what it cached about them.
   */
  linkChanged(ids?: readonly string[]): void;
  /** The record per share link (link-records.ts). */
  readonly linkRecords: LinkRecords;
  /** ACME account, certificates, challenge answers and the renewal lock (absent: acme.ts keeps files in dataDir itself). */
  readonly acme?: AcmeStore;
  /** A named, persistent rate limiter (rate-limiter-flexible), created once per name. */
  limiter(name: string, options: LimiterOptions): RateLimiterAbstract;
  /** Forgets rate-limit counters whose window ended before `now` (wall-clock ms); returns how many. */
  deleteExpiredLimits(now: number): number;
  /**
   * A store shared by several gateways (Redis) answers records from an in-process mirror: null while that
   * mirror is current, otherwise why it may not be (then nothing may be decided on it: the gate refuses with
   * 503). A local store (SQLite) has no such method: it is always available or throws.
   */
  unavailable?(): StoreUnavailable | null;
  /**
   * Resolves once every write made on any gateway before this call is visible in this process's mirror
   * (bounded wait). The gate calls it before turning away a credential the mirror does not know yet.
   */
  catchUp?(): Promise<void>;
  /** Resolves once this process's writes have reached the shared server (a command calls it before exiting). */
  drain?(): Promise<void>;
  close(): void;
}
