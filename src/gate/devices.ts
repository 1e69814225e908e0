// Device tokens: how the Immich mobile app gets past the gate. The app cannot do an email PIN in a browser,
// but it can send a fixed header on every request ("Custom proxy headers"), so an allowed person gets one
// long random token per phone from the command line. This module owns the token (shape, hash), adding and
// revoking devices, and the per-request check: hash lookup, current allowlist, revocation noticed at once,
// wrong tokens counted per client IP and audited without flooding the log.
import crypto from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { ResolvedConfig } from '../config/load.js';
import type { RequestContext } from '../http/context.js';
import { refuse, refuseUpgrade } from '../http/refuse.js';
import { createLogThrottle, type Logger } from '../log.js';
import { createRateLimit, type LimitVerdict } from '../store/rate-limit.js';
import { createRevocableCache } from '../store/revocable-cache.js';
import type { DeviceRecord, Store } from '../store/store.js';
import { clientBucket } from '../http/client-bucket.js';
import { createAllowlist, normalizeEmail, type Allowlist } from './email.js';
import { hashToken } from './session.js';

/** The header the app sends, as node:http presents it (lower case) and as a person types it into the app. */
export const DEVICE_HEADER = 'x-porthole-device';
export const DEVICE_HEADER_NAME = 'X-Porthole-Device';
/** Dropped from every request forwarded to Immich: the token is Porthole's, never the origin's. */
export const DEVICE_HEADERS: ReadonlySet<string> = new Set([DEVICE_HEADER]);

/** A recognisable prefix (secret scanners, people reading logs) in front of 256 random bits, base64url. */
const DEVICE_TOKEN_PREFIX = 'ph_dev_';
const TOKEN_BYTES = 32;
const TOKEN_LENGTH = DEVICE_TOKEN_PREFIX.length + 43;
const TOKEN_SHAPE = /^ph_dev_[A-Za-z0-9_-]{43}$/;
const DEVICE_ID = /^[0-9a-f]{16}$/;

export const DEVICE_NAME_MAX = 64;
/** A bound on what one address can accumulate; a person with more phones than this has a problem anyway. */
const MAX_DEVICES_PER_ADDRESS = 50;
/** lastUsedAt and the last IP are written at most this often per device, however many requests it makes. */
export const TOUCH_INTERVAL_MS = 60_000;
/** At most one device.refused (and one rate.limited) audit event per client IP in this interval. */
const REFUSAL_AUDIT_INTERVAL_MS = 60_000;

export const newDeviceToken = (): string => DEVICE_TOKEN_PREFIX + crypto.randomBytes(TOKEN_BYTES).toString('base64url');
const isDeviceTokenShaped = (value: string): boolean => value.length === TOKEN_LENGTH && TOKEN_SHAPE.test(value);
export const isDeviceId = (value: string): boolean => DEVICE_ID.test(value);
/** SHA-256, like sessions: the token carries 256 bits, so a fast hash is enough and lookups stay cheap. */
export const hashDeviceToken = hashToken;

/** A bad argument to adding or revoking devices; the message is meant for the person at the terminal. */
export class DeviceInputError extends Error {}

/** The label as stored: trimmed, one line of printable text, 1 to DEVICE_NAME_MAX characters. */
function normalizeDeviceName(input: unknown): string {
  if (typeof input !== 'string') throw new DeviceInputError('give the device a name, e.g. --name "Alice\'s phone"');
  const name = input.trim();
  if (name.length === 0) throw new DeviceInputError('the device name is empty; give it a name, e.g. --name "Alice\'s phone"');
  if ([...name].length > DEVICE_NAME_MAX) throw new DeviceInputError(`the device name is too long (${[...name].length} characters, at most ${DEVICE_NAME_MAX})`);
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) throw new DeviceInputError('the device name must be one line of text without control characters');
  return name;
}

export interface NewDevice {
  record: DeviceRecord;
  /** Shown to the person once; only its hash is stored. */
  token: string;
}

/**
 * Adds a device for an address on the allowlist and returns its token. `allow` is the configured gate.allow;
 * the gateway checks it again on every request, so this is only the early, friendly refusal.
 */
export function addDevice(store: Store, allow: readonly string[], input: { email: string; name: unknown }, now = Date.now()): NewDevice {
  const email = normalizeEmail(input.email);
  if (!email) throw new DeviceInputError(`"${String(input.email).slice(0, 80)}" is not a plain email address`);
  if (!createAllowlist(allow)(email)) {
    throw new DeviceInputError(`${email} is not on gate.allow; add it there first (a device only works while its address is allowed)`);
  }
  const name = normalizeDeviceName(input.name);
  if (store.devices.countActive(email) >= MAX_DEVICES_PER_ADDRESS) {
    throw new DeviceInputError(`${email} already has ${MAX_DEVICES_PER_ADDRESS} devices; revoke some first (porthole devices list)`);
  }
  const token = newDeviceToken();
  const record: DeviceRecord = {
    id: crypto.randomBytes(8).toString('hex'),
    tokenHash: hashDeviceToken(token),
    email,
    name,
    createdAt: now,
    lastUsedAt: null,
    lastIp: null,
    revokedAt: null,
  };
  store.devices.create(record);
  store.audit.record({ type: 'device.created', at: now, email, detail: `device ${record.id} "${name}" (command line)` });
  return { record, token };
}

export type DeviceRevokeTarget = { all: true } | { id: string } | { email: string };

/** Revokes and audits; returns the devices that were active and no longer are. */
export function revokeDevices(store: Store, target: DeviceRevokeTarget, now = Date.now()): DeviceRecord[] {
  let revoked: DeviceRecord[];
  if ('all' in target) revoked = store.devices.revokeAll(now);
  else if ('id' in target) revoked = [store.devices.revokeById(target.id, now)].filter((d): d is DeviceRecord => d !== undefined);
  else revoked = store.devices.revokeByEmail(target.email, now);
  for (const device of revoked) {
    store.audit.record({ type: 'device.revoked', at: now, email: device.email, detail: `device ${device.id} "${device.name}" (command line)` });
  }
  return revoked;
}

/** Why a device header did not open the door; for the audit log only, never for the client. */
export interface DeviceRefusal {
  ok: false;
  reason: string;
  email: string | null;
}
export type DeviceVerdict = { ok: true; device: DeviceRecord } | DeviceRefusal;

export interface DeviceGate {
  /** Decides on a device header's value. Cheap when it passes: no hash, no query for a cached token. */
  check(value: string | string[], ctx: RequestContext, now: number): DeviceVerdict;
  /** Answers a refused device request: the normal 401, or 429 once the client IP has too many wrong tokens. */
  refuse(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, refusal: DeviceRefusal): void;
  refuseUpgrade(socket: Duplex, ctx: RequestContext, refusal: DeviceRefusal): void;
  /** Stops listening to the store's revocations. */
  close(): void;
}

/** Tokens recently found valid, so most requests cost no hash and no query. */
const CACHE_LIMIT = 1024;
/** Client IPs remembered for audit throttling. */
const AUDIT_MEMORY_LIMIT = 4096;

export interface DeviceGateDeps {
  config: Pick<ResolvedConfig, 'gate'>;
  /** The running gateway's allowlist (it may change on reload). */
  allowlist: Allowlist;
  store: Store;
  logger: Logger;
  now: () => number;
}

/** The refusal of a well-formed token the store does not know (a shared store may not have seen it yet). */
export const UNKNOWN_DEVICE_TOKEN = 'unknown device token';

export function createDeviceGate(deps: DeviceGateDeps): DeviceGate {
  const { store, logger, now } = deps;
  // Counted apart from code verification, so a revoked phone retrying at home cannot block sign-ins there;
  // the number is the one configured for code verification.
  const limit = createRateLimit(store, 'gate_device_ip', { points: deps.config.gate.rateLimits.verifiesPerIpPerHour, durationSeconds: 3600 }, logger);
  // Emptied whenever the store announces a device revoked (here or by `porthole devices revoke` in another
  // process), so a revocation is never outlived by the cache.
  const cache = createRevocableCache<DeviceRecord>(store.changes, ['device'], CACHE_LIMIT);
  const audited = new LRUCache<string, { at: number; suppressed: number }>({ max: AUDIT_MEMORY_LIMIT });
  const newAddressLog = createLogThrottle(REFUSAL_AUDIT_INTERVAL_MS);

  const refused = (reason: string, email: string | null = null): DeviceRefusal => ({ ok: false, reason, email });

  /** Audits at most once per interval per key; what was held back is counted into the next event. */
  function auditThrottled(key: string, type: 'device.refused' | 'rate.limited', ip: string, email: string | null, detail: string): void {
    const at = now();
    const last = audited.get(key);
    if (last && at - last.at < REFUSAL_AUDIT_INTERVAL_MS && at >= last.at) {
      last.suppressed++;
      return;
    }
    const more = last && last.suppressed > 0 ? ` (+${last.suppressed} more from this IP since the last event)` : '';
    audited.set(key, { at, suppressed: 0 });
    try {
      store.audit.record({ type, at, email, ip, detail: detail + more });
    } catch (error) {
      logger.error({ err: error }, 'device refusal could not be audited');
    }
  }

  function check(value: string | string[], ctx: RequestContext, at: number): DeviceVerdict {
    // Two headers (joined by node:http, or an array) are never a token.
    if (typeof value !== 'string' || !isDeviceTokenShaped(value)) return refused('malformed device token');
    let device = cache.get(value);
    if (!device) {
      const found = store.devices.findByTokenHash(hashDeviceToken(value));
      if (!found) return refused(UNKNOWN_DEVICE_TOKEN);
      if (found.revokedAt !== null) return refused(`revoked device ${found.id} "${found.name}"`, found.email);
      device = found;
      cache.set(value, device);
    }
    // The allowlist of the running config decides now, not the one in force when the device was added.
    if (!deps.allowlist.allows(device.email)) return refused(`device ${device.id} "${device.name}": address no longer on gate.allow`, device.email);
    const ip = ctx.client.ip;
    // One line when a phone shows up from an address it was not last seen at (a new network, or a copied token).
    if (device.lastIp !== ip)
      newAddressLog.pass(`${device.id} ${ip}`, () =>
        logger.info({ device: device!.id, name: device!.name, email: device!.email, ip, previousIp: device!.lastIp }, 'device token used from a new address'),
      );
    if (device.lastUsedAt === null || at - device.lastUsedAt >= TOUCH_INTERVAL_MS || at < device.lastUsedAt) {
      device = { ...device, lastUsedAt: at, lastIp: ip };
      store.devices.touch(device.id, at, ip);
      cache.set(value, device);
    }
    return { ok: true, device };
  }

  /** Counts the wrong token against the client (a /64 is one IPv6 client) and audits when it is over. */
  function decide(ctx: RequestContext, refusal: DeviceRefusal, answer: (verdict: LimitVerdict) => void): void {
    const ip = ctx.client.ip;
    auditThrottled(`refused ${ip}`, 'device.refused', ip, refusal.email, refusal.reason);
    void limit.consume(clientBucket(ip)).then((verdict) => {
      if (!verdict.ok && !verdict.unavailable) auditThrottled(`limited ${ip}`, 'rate.limited', ip, refusal.email, 'device token per IP');
      answer(verdict);
    });
  }

  return {
    check,
    refuse(req, res, ctx, refusal) {
      decide(ctx, refusal, (verdict) => {
        if (res.writableEnded || res.destroyed) return;
        // The same 401 as any request without a credential: unknown, revoked and disallowed look alike.
        if (verdict.ok) refuse(req, res, { kind: 'unauthenticated' }, 'private');
        else if (verdict.unavailable) refuse(req, res, { kind: 'store-unavailable', retryAfterSeconds: verdict.retryAfterSeconds }, 'private');
        else refuse(req, res, { kind: 'rate-limited', retryAfterSeconds: verdict.retryAfterSeconds }, 'private');
      });
    },
    refuseUpgrade(socket, ctx, refusal) {
      decide(ctx, refusal, (verdict) => {
        if (verdict.ok) refuseUpgrade(socket, 401);
        else if (verdict.unavailable) refuseUpgrade(socket, 503, verdict.retryAfterSeconds);
        else refuseUpgrade(socket, 429, verdict.retryAfterSeconds);
      });
    },
    close: () => cache.close(),
  };
}
