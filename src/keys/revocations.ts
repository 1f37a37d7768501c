/**
 * Revocation markers in the Cache API (`caches.default`), which every isolate of one Cloudflare
 * location shares. A delete or rotation writes "this key hash stops at T"; verification reads it
 * before trusting any cached or KV copy of the record, so the next request after a delete is
 * refused by whichever isolate of that location serves it, without a KV read. Other locations
 * learn of the delete through KV (see docs/api-keys.md for the bound).
 *
 * On `*.workers.dev` the Cache API is a no-op: markers then do nothing and the cross-location
 * bound applies everywhere. Production and staging run on custom domains.
 */
import { VERIFIED_TTL_MS } from "./cache";

/** Where markers live; never fetched, only used as a cache key. */
const MARKER_BASE = "https://revoked-api-keys.agntix.internal/";

/**
 * How long a marker outlives the moment it takes effect: longer than any cached copy of the
 * record at this location can survive (the isolate TTL plus KV's 60 s edge cache), with margin.
 */
export const MARKER_LINGER_SECONDS = VERIFIED_TTL_MS / 1000 + 60 + 60;

/** Location-wide revocation markers, by key hash. */
export interface RevocationMarkers {
  /** Record that the key with this hash stops working at `notAfter` (epoch ms). */
  mark(hash: string, notAfter: number, now: number): Promise<void>;
  /** When the key with this hash stops working, if a marker says so. */
  notAfter(hash: string): Promise<number | undefined>;
}

/** Markers in `caches.default` (the Cache API of the location serving the request). */
export const cacheApiMarkers: RevocationMarkers = {
  async mark(hash, notAfter, now) {
    const maxAge = Math.max(0, Math.ceil((notAfter - now) / 1000)) + MARKER_LINGER_SECONDS;
    const marker = new Response("revoked", {
      headers: { "cache-control": `public, max-age=${maxAge}`, "x-not-after": String(notAfter) },
    });
    await caches.default.put(MARKER_BASE + hash, marker);
  },
  async notAfter(hash) {
    const marker = await caches.default.match(MARKER_BASE + hash);
    if (!marker) return undefined;
    const value = Number(marker.headers.get("x-not-after"));
    await marker.body?.cancel();
    // An unreadable marker still says "revoked": refuse rather than guess.
    return Number.isFinite(value) ? value : 0;
  },
};
