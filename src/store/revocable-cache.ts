// The in-memory cache in front of credential lookups on the hot path (session cookies, device tokens): a
// size-capped LRU that is emptied whenever the store announces a revocation of the kinds it holds, here or
// in another process, so a cached credential never outlives its revocation.
import { LRUCache } from 'lru-cache';
import type { ChangeFeed, ChangeKind } from './store.js';

export interface RevocableCache<V extends object> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  clear(): void;
  /** Stops listening to the store (the owner is going away). */
  close(): void;
}

export function createRevocableCache<V extends object>(changes: ChangeFeed, kinds: readonly ChangeKind[], max: number): RevocableCache<V> {
  const cache = new LRUCache<string, V>({ max });
  // Emptied on any change of these kinds: a change from elsewhere names no ids, and the cache is keyed by
  // token, not by id; refilling costs one query per live credential.
  const stop = changes.subscribe((change) => {
    if (kinds.includes(change.kind)) cache.clear();
  });
  return {
    get: (key) => cache.get(key),
    set: (key, value) => void cache.set(key, value),
    delete: (key) => void cache.delete(key),
    clear: () => cache.clear(),
    close: stop,
  };
}
