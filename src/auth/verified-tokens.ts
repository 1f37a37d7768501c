/**
 * A bounded cache of verified session tokens: the SHA-256 of a token → its principal, kept until
 * the token's `exp` (at most `maxTtlMs`), so a token reused across requests is verified once.
 * Only successes are stored; the token itself never is.
 */
export class VerifiedTokenCache<T> {
  private readonly entries = new Map<string, { value: T; expiresAt: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly maxTtlMs: number,
  ) {}

  /** The value stored under `digest`, unless it has expired at `now` (ms). */
  get(digest: string, now: number): T | undefined {
    const entry = this.entries.get(digest);
    if (!entry) return undefined;
    this.entries.delete(digest);
    if (now >= entry.expiresAt) return undefined;
    // Re-inserted: the Map's order is the eviction order, least recently used first.
    this.entries.set(digest, entry);
    return entry.value;
  }

  /** Store `value` until `expiresAt` (ms, capped at now + maxTtlMs), evicting the least recently used entry when full. */
  set(digest: string, value: T, expiresAt: number, now: number): void {
    const until = Math.min(expiresAt, now + this.maxTtlMs);
    if (until <= now) return;
    this.entries.delete(digest);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(digest, { value, expiresAt: until });
  }

  /** Number of entries held (expired ones included until touched or evicted). */
  get size(): number {
    return this.entries.size;
  }
}

/** The base64url SHA-256 of a token: the cache key, so the cache never holds a token. */
export async function tokenDigest(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
  let binary = "";
  for (const byte of digest) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
