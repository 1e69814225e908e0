// The ACME state of gateways sharing one Redis: the account key and the certificates per CA and name (plain
// keys, no expiry), the challenge answers (keys that expire on their own), and the renewal lock (SET NX PX, so
// only one gateway orders a name at a time, and a gateway that dies while ordering frees it when it expires).
// Every gateway hears of a saved certificate or a TLS-ALPN-01 answer on one pub/sub channel and swaps it in;
// after the store reconnected, a 'resync' asks every gateway to read its certificates again.
// The account key and certificate keys are secrets held in Redis: Redis must be private to the gateways and
// protected by a password (and TLS when it is reached over a network) — see docs/deploy.md.
import type { Redis } from 'ioredis';
import type { AcmeCertificatePair, AcmeStore, AcmeStoreEvent } from '../store.js';

/** KEYS: lock. ARGV: holder. Deletes the lock only while this holder still holds it. */
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
/** KEYS: lock. ARGV: holder, ttl ms. Takes a free lock or extends this holder's; 1 when held by this holder now. */
const LOCK = `local held = redis.call('GET', KEYS[1])
if held == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if held == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`;

export function redisAcmeKeys(prefix: string) {
  return {
    channel: `${prefix}acme`,
    account: (ca: string) => `${prefix}acme:account:${ca}`,
    cert: (ca: string, name: string) => `${prefix}acme:cert:${ca}:${name.toLowerCase()}`,
    http: (token: string) => `${prefix}acme:http-01:${token}`,
    alpn: (name: string) => `${prefix}acme:tls-alpn-01:${name.toLowerCase()}`,
    lock: (ca: string, name: string) => `${prefix}acme:lock:${ca}:${name.toLowerCase()}`,
  };
}

export interface RedisAcme extends AcmeStore {
  /** A message on the ACME channel (from the store's subscription). */
  receive(text: string): void;
  /** The store reloaded after Redis was away: messages may have been missed. */
  resynced(): void;
}

/** `client` answers at once or fails (no offline queue): an ACME step is retried later rather than left waiting. */
export function redisAcme(client: Redis, prefix: string): RedisAcme {
  const keys = redisAcmeKeys(prefix);
  const listeners = new Set<(event: AcmeStoreEvent) => void>();
  const emit = (event: AcmeStoreEvent) => {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (error) {
        process.emitWarning(`ACME store listener failed: ${(error as Error).message}`);
      }
    }
  };
  const publish = (event: AcmeStoreEvent) => client.publish(keys.channel, JSON.stringify(event));
  return {
    shared: true,
    async accountKey(ca, create) {
      const stored = await client.get(keys.account(ca));
      if (stored) return stored;
      await client.set(keys.account(ca), await create(), 'NX');
      // Whoever set it first: every gateway uses that one account.
      const kept = await client.get(keys.account(ca));
      if (!kept) throw new Error('the ACME account key could not be stored in Redis');
      return kept;
    },
    async certificate(ca, name) {
      const stored = await client.get(keys.cert(ca, name));
      return stored ? (JSON.parse(stored) as AcmeCertificatePair) : undefined;
    },
    async saveCertificate(ca, name, pair) {
      await client.set(keys.cert(ca, name), JSON.stringify({ cert: pair.cert, key: pair.key }));
      await publish({ kind: 'certificate', ca, name: name.toLowerCase() });
    },
    async putChallenge(answer, ttlMs) {
      if (answer.type === 'http-01') {
        await client.set(keys.http(answer.token), answer.keyAuthorization, 'PX', ttlMs);
        return;
      }
      const pair = { cert: answer.cert, key: answer.key };
      await client.set(keys.alpn(answer.name), JSON.stringify(pair), 'PX', ttlMs);
      // The challenge certificate travels with the message: the validator may dial any gateway within moments.
      await publish({ kind: 'tls-alpn-01', name: answer.name.toLowerCase(), pair });
    },
    async removeChallenge(type, id) {
      if (type === 'http-01') {
        await client.del(keys.http(id));
        return;
      }
      await client.del(keys.alpn(id));
      await publish({ kind: 'tls-alpn-01', name: id.toLowerCase() });
    },
    async httpChallenge(token) {
      return (await client.get(keys.http(token))) ?? undefined;
    },
    async alpnChallenge(name) {
      const stored = await client.get(keys.alpn(name));
      return stored ? (JSON.parse(stored) as AcmeCertificatePair) : undefined;
    },
    async lock(ca, name, holder, ttlMs) {
      return (await client.eval(LOCK, 1, keys.lock(ca, name), holder, String(ttlMs))) === 1;
    },
    async unlock(ca, name, holder) {
      await client.eval(UNLOCK, 1, keys.lock(ca, name), holder);
    },
    watch(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    receive(text) {
      const event = JSON.parse(text) as AcmeStoreEvent;
      if (event.kind === 'certificate' || event.kind === 'tls-alpn-01') emit(event);
    },
    resynced: () => emit({ kind: 'resync' }),
  };
}
