// Verified session tokens are held in the gateway's one bounded cache (src/ttl-lru.ts), keyed by
// this digest so that the cache never holds a token.
import { toHex } from "../hex";

const encoder = new TextEncoder();

/** The hex SHA-256 of a token: the cache key, so the cache never holds a token. */
export async function tokenDigest(token: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(token))));
}
