/**
 * The one bounded in-isolate cache of the gateway: a size cap (least recently used evicted first)
 * and a TTL on every entry, so a flood of distinct keys or tokens cannot grow memory. Used for
 * verified keys, unknown keys and `last_used_at` writes (src/keys/cache.ts) and for verified
 * session tokens (src/auth/session-token.ts), whose entries also end at the token's own `exp`.
 */
export class TtlLru<K, V> {
  readonly #entries = new Map<K, { value: V; expiresAt: number }>();

  constructor(
    readonly maxEntries: number,
    readonly ttlMs: number,
  ) {
    if (maxEntries < 1 || ttlMs <= 0) throw new RangeError("TtlLru needs maxEntries ≥ 1 and ttlMs > 0");
  }

  /** The live value for `key`, refreshing its recency; expired entries are dropped. */
  get(key: K, now = Date.now()): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= now) return undefined;
    // Re-inserted: the Map's order is the eviction order, least recently used first.
    this.#entries.set(key, entry);
    return entry.value;
  }

  /**
   * Store `value` until `now + ttlMs`, or until `expiresAt` when that comes first (nothing is stored
   * when it has already passed), evicting the least recently used entries over the cap.
   */
  set(key: K, value: V, now = Date.now(), expiresAt = Infinity): void {
    const until = Math.min(expiresAt, now + this.ttlMs);
    this.#entries.delete(key);
    if (until <= now) return;
    this.#entries.set(key, { value, expiresAt: until });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.maxEntries) break;
      this.#entries.delete(oldest);
    }
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** Entries held, live or not yet swept. */
  get size(): number {
    return this.#entries.size;
  }
}
