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

/** What a location's marker says about a key. */
export interface Marker {
  /** The key stops working at this time (epoch ms), if it does. */
  readonly notAfter?: number;
  /** The key's grants since `changedAt` (an edit), if it was edited. */
  readonly grants?: readonly string[];
  /** When the grants changed (epoch ms). */
  readonly changedAt?: number;
}

/** Location-wide revocation markers, by key hash. */
export interface RevocationMarkers {
  /** Record that the key with this hash stops working at `notAfter` (epoch ms). */
  mark(hash: string, notAfter: number, now: number): Promise<void>;
  /**
   * Record that the key with this hash holds `grants` from `changedAt` on (an edit that narrowed
   * or widened it), keeping the end it has (`notAfter`), if any.
   */
  regrant(hash: string, grants: readonly string[], changedAt: number, notAfter: number | undefined, now: number): Promise<void>;
  /** What the marker for this hash says, if there is one. */
  read(hash: string): Promise<Marker | undefined>;
}

function putMarker(hash: string, headers: Record<string, string>, notAfter: number | undefined, now: number): Promise<void> {
  const maxAge = Math.max(0, Math.ceil(((notAfter ?? now) - now) / 1000)) + MARKER_LINGER_SECONDS;
  const marker = new Response("revoked", { headers: { "cache-control": `public, max-age=${maxAge}`, ...headers } });
  return caches.default.put(MARKER_BASE + hash, marker);
}

/** Markers in `caches.default` (the Cache API of the location serving the request). */
export const cacheApiMarkers: RevocationMarkers = {
  mark(hash, notAfter, now) {
    return putMarker(hash, { "x-not-after": String(notAfter) }, notAfter, now);
  },
  regrant(hash, grants, changedAt, notAfter, now) {
    const headers: Record<string, string> = { "x-grants": grants.join(" "), "x-changed-at": String(changedAt) };
    if (notAfter !== undefined) headers["x-not-after"] = String(notAfter);
    return putMarker(hash, headers, notAfter, now);
  },
  async read(hash) {
    const marker = await caches.default.match(MARKER_BASE + hash);
    if (!marker) return undefined;
    await marker.body?.cancel();
    const notAfterHeader = marker.headers.get("x-not-after");
    const grantsHeader = marker.headers.get("x-grants");
    const notAfter = notAfterHeader === null ? undefined : Number(notAfterHeader);
    const changedAt = Number(marker.headers.get("x-changed-at"));
    const grants = grantsHeader === null || !Number.isFinite(changedAt) ? undefined : grantsHeader.split(" ").filter(Boolean);
    // An unreadable marker still says "revoked": refuse rather than guess.
    if ((notAfter !== undefined && !Number.isFinite(notAfter)) || (notAfter === undefined && grants === undefined)) return { notAfter: 0 };
    return { ...(notAfter !== undefined ? { notAfter } : {}), ...(grants ? { grants, changedAt } : {}) };
  },
};
