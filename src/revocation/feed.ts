/**
 * The revocation feed at the edge: how an isolate learns, within seconds, of revocations made
 * anywhere, without I/O on a warm request.
 *
 * - The log (a Durable Object) holds every revocation with a sequence number.
 * - Each location keeps a copy of its recent tail in the Cache API (`caches.default`, shared by
 *   the isolates of one location). When the copy is older than `REVOCATION_POLL_MS`, the isolate
 *   that notices takes a short lease (so, about one isolate per location) and asks the log for
 *   the entries after the copy's head, then writes the merged copy back.
 * - Each isolate looks at its location's copy at most once per `API_KEY_REVOCATION_CHECK_MS`,
 *   behind the response (`waitUntil`); only a request finding the isolate's knowledge older than
 *   twice that interval (an idle or new isolate) waits for the look, which is one Cache API read
 *   and, if the location's copy is stale too, one call to the log.
 * - A revoked key is dropped from the isolate's caches and remembered as revoked until no copy
 *   of it can survive anywhere (the retention), so a stale KV read cannot bring it back.
 *
 * Worst case from a revocation's append to its refusal at a location with traffic:
 * `REVOCATION_POLL_MS + 2 × API_KEY_REVOCATION_CHECK_MS` plus one log round trip (4 s + RTT with
 * the defaults). When the log is unreachable the isolate keeps verifying on what it knows (the
 * bound falls back to KV's), logs `revocation_feed_unavailable`, and catches up from its last
 * sequence number once the log answers again: no revocation is skipped.
 */
import type { Bindings, Config } from "../env";
import { forgetKey, type KeyCaches, keyCaches as isolateKeyCaches } from "../keys/cache";
import type { RevocationSink } from "../keys/service";
import type { KeyRecord } from "../keys/store";
import { type FeedEntry, type FeedPage, type RevocationLogClient, revocationLog } from "./log";

/** A location's copy of the log's recent tail, as kept in its Cache API. */
export interface LocationCopy {
  /** Highest sequence number the copy has caught up to. */
  readonly head: number;
  /** When the log was last read for this copy (epoch ms). */
  readonly fetched_at: number;
  /** Entries still within retention, oldest first. */
  readonly entries: readonly FeedEntry[];
}

/** Most entries a location's copy holds (about 100 bytes each). */
export const COPY_MAX_ENTRIES = 20_000;
/** Most pages (of 1,000) one poll reads before writing the copy back. */
export const MAX_PAGES_PER_POLL = 20;
/** Most revocations one isolate remembers; beyond it the oldest are dropped (KV has long caught up). */
export const REVOKED_MAX = 50_000;

const FEED_BASE = "https://revocation-feed.agntix.internal/v1/";
const COPY_URL = `${FEED_BASE}copy`;
const LEASE_URL = `${FEED_BASE}lease`;

/** What a request does about the feed: nothing (warm), look behind the response, or wait for the look. */
export type FeedDue = "fresh" | "refresh" | "wait";

/** Pure: the hot path's only feed decision, a timestamp comparison. */
export function feedDue(now: number, checkedAt: number, checkMs: number): FeedDue {
  const age = now - checkedAt;
  // A clock that went back (a new isolate's clock, a test) makes the last look due, not fresh forever.
  if (age < checkMs && age >= 0) return "fresh";
  return age >= 2 * checkMs ? "wait" : "refresh";
}

/**
 * Pure: a location's copy after a page of the log: entries past retention dropped, the page's new
 * entries appended, the head advanced to what the page covers.
 */
export function mergeCopy(copy: LocationCopy | undefined, page: FeedPage, now: number, retentionMs: number): LocationCopy {
  const keep = (e: FeedEntry) => e.not_after + retentionMs >= now;
  const head0 = copy?.head ?? 0;
  let entries = [...(copy?.entries ?? []).filter(keep), ...page.entries.filter((e) => e.seq > head0 && keep(e))];
  if (entries.length > COPY_MAX_ENTRIES) entries = entries.slice(-COPY_MAX_ENTRIES);
  const last = page.entries.at(-1)?.seq ?? head0;
  const head = Math.max(head0, page.more ? last : page.head);
  return { head, fetched_at: now, entries };
}

/** What a feed needs: where the location copy lives, the key caches it invalidates, a clock, the log. */
export interface FeedOptions {
  readonly config: Config["revocation"];
  readonly log: () => RevocationLogClient;
  /** The location's shared cache (default `caches.default`). */
  readonly cache?: () => Cache | Promise<Cache>;
  /** The isolate's key caches (default: the module's). */
  readonly keyCaches?: KeyCaches;
  readonly now?: () => number;
}

/** The state `/healthz` reports. */
export interface FeedHealth {
  readonly status: "ok" | "unavailable" | "off";
  /** Age of the newest look at the log this isolate applied, in ms (null: never). */
  readonly lag_ms: number | null;
}

/** One isolate's view of the revocation feed. */
export class RevocationFeed {
  readonly config: Config["revocation"];
  readonly keyCaches: KeyCaches;
  readonly now: () => number;
  readonly #log: () => RevocationLogClient;
  readonly #cache: () => Cache | Promise<Cache>;

  /** Highest sequence number applied. */
  known = 0;
  /** When the isolate last started a look at its location's copy. */
  checkedAt = Number.NEGATIVE_INFINITY;
  /** When the log was read for the copy this isolate last applied. */
  syncedAt = Number.NEGATIVE_INFINITY;
  /** When this isolate last called the log itself. */
  #polledAt = Number.NEGATIVE_INFINITY;
  /** Whether the last call to the log failed. */
  #failing = false;
  #inFlight: Promise<void> | undefined;
  /** Key hash → refused from this time on (epoch ms). */
  readonly #revokedKeys = new Map<string, number>();
  /** Organisation id → its keys created before this time are refused. */
  readonly #revokedOrgs = new Map<string, number>();
  /** Key hash → its grants since an edit at `changedAt` (epoch ms). */
  readonly #grants = new Map<string, { readonly grants: readonly string[]; readonly changedAt: number }>();

  constructor(options: FeedOptions) {
    this.config = options.config;
    this.#log = options.log;
    this.#cache = options.cache ?? (() => caches.default);
    this.keyCaches = options.keyCaches ?? isolateKeyCaches;
    this.now = options.now ?? (() => Date.now());
  }

  /**
   * Called before each API-key verification. Warm: one comparison, nothing else. Due: the look
   * runs behind the response. Stale (idle or new isolate, log healthy): the promise to wait for.
   */
  beforeVerify(now: number, ctx: Pick<ExecutionContext, "waitUntil">): Promise<void> | undefined {
    if (!this.config.feed) return undefined;
    const due = feedDue(now, this.checkedAt, this.config.checkMs);
    if (due === "fresh") return undefined;
    const look = this.refresh();
    // During an outage no request waits for the log: it keeps working on what the isolate knows.
    if (due === "wait" && !this.#failing) return look;
    ctx.waitUntil(look);
    return undefined;
  }

  /** True when the feed says this key (or every older key of its organisation) is refused at `now`. */
  isRevoked(hash: string, record: KeyRecord, now: number): boolean {
    const until = this.#revokedKeys.get(hash);
    if (until !== undefined && now >= until) return true;
    if (this.#revokedOrgs.size === 0) return false;
    const cut = this.#revokedOrgs.get(record.org_id);
    return cut !== undefined && now >= cut && Date.parse(record.created_at) < cut;
  }

  /** The grants an edit gave this key, and when, if the feed brought one. */
  grantsOf(hash: string): { readonly grants: readonly string[]; readonly changedAt: number } | undefined {
    return this.#grants.size === 0 ? undefined : this.#grants.get(hash);
  }

  /** Apply revocations this isolate made itself (before the log's copy reaches it). */
  noteLocal(entries: readonly Omit<FeedEntry, "seq">[]): void {
    const now = this.now();
    for (const entry of entries) this.#note(entry, now);
  }

  /** Look at the location's copy now; poll the log if the copy is stale (or `force`). Never rejects. */
  refresh(options: { force?: boolean } = {}): Promise<void> {
    if (this.#inFlight && !options.force) return this.#inFlight;
    const look = this.#refresh(options.force ?? false).finally(() => {
      if (this.#inFlight === look) this.#inFlight = undefined;
    });
    this.#inFlight = look;
    return look;
  }

  /** What `/healthz` shows. */
  health(): FeedHealth {
    if (!this.config.feed) return { status: "off", lag_ms: null };
    const lag = Number.isFinite(this.syncedAt) ? Math.max(0, this.now() - this.syncedAt) : null;
    return { status: this.#failing ? "unavailable" : "ok", lag_ms: lag };
  }

  async #refresh(force: boolean): Promise<void> {
    const now = this.now();
    this.checkedAt = now;
    let cache: Cache | undefined;
    let copy: LocationCopy | undefined;
    try {
      cache = await this.#cache();
      copy = await readCopy(cache, this.known, false);
    } catch (cause) {
      logFeed("warn", "revocation_copy_unreadable", cause);
    }
    if (copy) this.#apply(copy, now);
    const stale = !copy || !within(now - copy.fetched_at, this.config.pollMs);
    if (!force && (!stale || within(now - this.#polledAt, this.config.pollMs))) return;
    if (!force && cache && (await leaseHeld(cache, now, this.config.pollMs))) return;
    this.#polledAt = now;
    try {
      if (cache) await takeLease(cache, now + this.config.pollMs).catch(() => undefined);
      // The full copy, to merge into (the look above may have read its headers only).
      const base = cache ? await readCopy(cache, -1, true).catch(() => undefined) : copy;
      const merged = await this.#poll(base, now);
      if (cache) await writeCopy(cache, merged, this.config.retentionMs).catch((cause) => logFeed("warn", "revocation_copy_unwritable", cause));
      this.#apply(merged, now);
      if (this.#failing) logFeed("info", "revocation_feed_recovered");
      this.#failing = false;
    } catch (cause) {
      if (!this.#failing) this.#failing = true;
      // The event to alert on: this location follows revocations only as fast as KV now.
      logFeed("error", "revocation_feed_unavailable", cause);
    }
  }

  async #poll(base: LocationCopy | undefined, now: number): Promise<LocationCopy> {
    const log = this.#log();
    let copy = base;
    for (let i = 0; i < MAX_PAGES_PER_POLL; i++) {
      const page = await log.since(copy?.head ?? 0);
      // A log whose head went backwards is a new log (local state wiped): start over from it.
      if (copy && page.head < copy.head) {
        copy = undefined;
        this.known = 0;
        continue;
      }
      copy = mergeCopy(copy, page, now, this.config.retentionMs);
      if (!page.more) break;
    }
    return copy!;
  }

  #apply(copy: LocationCopy, now: number): void {
    if (copy.head < this.known) this.known = 0; // a new log: re-apply its copy from the start
    if (copy.entries.length && copy.head > this.known) {
      for (const entry of copy.entries) if (entry.seq > this.known) this.#note(entry, now);
    }
    this.known = Math.max(this.known, copy.head);
    this.syncedAt = Math.max(this.syncedAt, copy.fetched_at);
  }

  #note(entry: Omit<FeedEntry, "seq">, now: number): void {
    if (entry.kind === "grants") {
      const known = this.#grants.get(entry.subject);
      if (entry.grants && (!known || known.changedAt < entry.not_after)) {
        this.#grants.delete(entry.subject);
        this.#grants.set(entry.subject, { grants: entry.grants, changedAt: entry.not_after });
        for (const oldest of this.#grants.keys()) {
          if (this.#grants.size <= REVOKED_MAX) break;
          this.#grants.delete(oldest);
        }
      }
      return;
    }
    if (entry.kind === "org") {
      this.#revokedOrgs.set(entry.subject, Math.max(this.#revokedOrgs.get(entry.subject) ?? 0, entry.not_after));
      // Rare: re-reading every cached key costs less than indexing the cache by organisation.
      if (entry.not_after <= now) this.keyCaches.verified.clear();
      return;
    }
    const earlier = this.#revokedKeys.get(entry.subject);
    this.#revokedKeys.delete(entry.subject); // re-inserted last: the Map stays oldest-first
    this.#revokedKeys.set(entry.subject, earlier === undefined ? entry.not_after : Math.min(earlier, entry.not_after));
    if (entry.not_after <= now) {
      forgetKey(entry.subject, this.keyCaches);
      this.keyCaches.unknown.set(entry.subject, true, now);
    }
    for (const oldest of this.#revokedKeys.keys()) {
      if (this.#revokedKeys.size <= REVOKED_MAX) break;
      this.#revokedKeys.delete(oldest);
    }
  }
}

/** `0 ≤ age < limit`: a clock that went back never makes a copy or a poll look recent forever. */
const within = (age: number, limit: number) => age >= 0 && age < limit;

async function readCopy(cache: Cache, known: number, full: boolean): Promise<LocationCopy | undefined> {
  const res = await cache.match(COPY_URL);
  if (!res) return undefined;
  const head = Number(res.headers.get("x-feed-head"));
  const fetchedAt = Number(res.headers.get("x-feed-fetched-at"));
  if (!full && head === known && Number.isFinite(fetchedAt)) {
    await res.body?.cancel();
    return { head, fetched_at: fetchedAt, entries: [] };
  }
  const copy = (await res.json()) as LocationCopy;
  if (typeof copy?.head !== "number" || typeof copy.fetched_at !== "number" || !Array.isArray(copy.entries)) return undefined;
  return copy;
}

async function writeCopy(cache: Cache, copy: LocationCopy, retentionMs: number): Promise<void> {
  const headers = {
    "content-type": "application/json",
    "cache-control": `public, max-age=${Math.ceil(retentionMs / 1000)}`,
    "x-feed-head": String(copy.head),
    "x-feed-fetched-at": String(copy.fetched_at),
  };
  await cache.put(COPY_URL, new Response(JSON.stringify(copy), { headers }));
}

async function leaseHeld(cache: Cache, now: number, pollMs: number): Promise<boolean> {
  try {
    const res = await cache.match(LEASE_URL);
    if (!res) return false;
    await res.body?.cancel();
    // A lease longer than this isolate's own poll interval (another version's config) is not honoured.
    const left = Number(res.headers.get("x-lease-until")) - now;
    return left > 0 && left <= pollMs;
  } catch {
    return false;
  }
}

async function takeLease(cache: Cache, until: number): Promise<void> {
  const headers = { "cache-control": "public, max-age=60", "x-lease-until": String(until) };
  await cache.put(LEASE_URL, new Response("lease", { headers }));
}

function logFeed(level: "info" | "warn" | "error", event: string, cause?: unknown): void {
  const kind = cause === undefined ? undefined : cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.name : cause.name) : typeof cause;
  const line = JSON.stringify({ level, event, ...(kind ? { cause: kind } : {}) });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

// One feed per set of bindings: the runtime hands an isolate the same bindings object on every
// request, so this is one feed per isolate. The multi-location tests install one per "location".
const feeds = new WeakMap<object, RevocationFeed>();

/** The feed of the isolate serving these bindings. */
export function feedFor(env: Bindings, config: Config): RevocationFeed {
  let feed = feeds.get(env);
  if (!feed) {
    feed = new RevocationFeed({ config: config.revocation, log: () => revocationLog(env.REVOCATION_LOG, config.revocation) });
    feeds.set(env, feed);
  }
  return feed;
}

/** Use this feed for these bindings (tests: one feed, key caches, cache and clock per simulated location). */
export function installFeed(env: Bindings, feed: RevocationFeed): void {
  feeds.set(env, feed);
}

/**
 * The management API's revocation sink: append to the log (503 and nothing done if it cannot),
 * then apply the entries in this isolate at once and refresh this location's copy behind the
 * response, so the other isolates here learn of them within one check interval.
 */
export function edgeRevocationSink(env: Bindings, config: Config, ctx: Pick<ExecutionContext, "waitUntil">, actor: string): RevocationSink {
  return {
    async append(entries) {
      // One id per call: if its answer is lost, the log is asked whether this append landed.
      await revocationLog(env.REVOCATION_LOG, config.revocation).append(
        entries.map((entry) => ({ ...entry, actor })),
        crypto.randomUUID(),
      );
      const feed = feedFor(env, config);
      feed.noteLocal(entries);
      if (config.revocation.feed) ctx.waitUntil(feed.refresh({ force: true }));
    },
    refusedFrom: (record, options) =>
      revocationLog(env.REVOCATION_LOG, config.revocation).refusedFrom(record.hash, record.org_id, Date.parse(record.created_at), options?.exceptReason),
  };
}
