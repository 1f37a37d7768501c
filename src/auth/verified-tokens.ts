// Verified session tokens are held in the gateway's one bounded cache (src/ttl-lru.ts), keyed by
// this digest so that the cache never holds a token.

/** The base64url SHA-256 of a token: the cache key, so the cache never holds a token. */
export async function tokenDigest(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
  let binary = "";
  for (const byte of digest) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
