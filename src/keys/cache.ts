/**
 * The isolate's caches for key verification, each a bounded `TtlLru` (src/ttl-lru.ts), so a flood
 * of distinct keys cannot grow memory.
 */
import type { Principal } from "../auth/principal";
import { TtlLru } from "../ttl-lru";
import type { KeyRecord } from "./store";

/** A verified key as the positive cache holds it: the record and its ready-made principal. */
export interface VerifiedKey {
  readonly record: KeyRecord;
  /** The key's principal; its scopes follow an edit in the revocation feed when it is newer than `record`. */
  principal: Principal;
  /** `changed_at` of the feed's edit whose grants `principal` carries, if any. */
  grantsChangedAt?: number;
}

/** How long a verified record is trusted in this isolate without reading KV again. */
export const VERIFIED_TTL_MS = 60_000;
/** How long an unknown key is refused in this isolate without reading KV again. */
export const UNKNOWN_TTL_MS = 30_000;
/** Minimum time between two `last_used_at` writes for one key from one isolate. */
export const LAST_USED_INTERVAL_MS = 60_000;
/** Entries per cache. */
export const KEY_CACHE_ENTRIES = 10_000;

/** One isolate's key caches, keyed by key hash (never by the key). */
export interface KeyCaches {
  readonly verified: TtlLru<string, VerifiedKey>;
  readonly unknown: TtlLru<string, true>;
  /** Key id → when this isolate last wrote its `last_used_at`. */
  readonly lastUsedWritten: TtlLru<string, number>;
}

/** A new, empty set of key caches (one per isolate; the multi-location tests make several). */
export function createKeyCaches(): KeyCaches {
  return {
    verified: new TtlLru<string, VerifiedKey>(KEY_CACHE_ENTRIES, VERIFIED_TTL_MS),
    unknown: new TtlLru<string, true>(KEY_CACHE_ENTRIES, UNKNOWN_TTL_MS),
    lastUsedWritten: new TtlLru<string, number>(KEY_CACHE_ENTRIES, LAST_USED_INTERVAL_MS),
  };
}

/** The isolate's key caches. */
export const keyCaches: KeyCaches = createKeyCaches();

/** Forget a key in these caches after it was deleted or rotated, so its next use reads the truth. */
export function forgetKey(hash: string, caches: KeyCaches = keyCaches): void {
  caches.verified.delete(hash);
  caches.unknown.delete(hash);
}

/** Empty every key cache of this isolate (tests). */
export function resetKeyCaches(caches: KeyCaches = keyCaches): void {
  caches.verified.clear();
  caches.unknown.clear();
  caches.lastUsedWritten.clear();
}
