/**
 * The identity provider's signing keys (JWKS), cached so that they survive the edge:
 *
 * - in memory, at module scope: one key set per JWKS URL per isolate, created once;
 * - in the Cache API, keyed by the JWKS URL, so a new isolate or a cold start finds them without
 *   a fetch (stored with `max-age` = the maximum staleness).
 *
 * Keys younger than `JWKS_FRESH_MS` are used as they are; older ones are still used while one
 * refresh runs behind the response (`waitUntil`): stale-while-revalidate. Keys older than the
 * maximum staleness are never used: if the IdP cannot be reached by then, requests get 503
 * `jwks_unavailable`. One fetch is in flight per key set per isolate, with a 2 s timeout. A `kid`
 * not in the set triggers one refetch, at most once per `UNKNOWN_KID_COOLDOWN_MS` per isolate,
 * so random kids cannot become a fetch flood while a newly published key is accepted within it.
 */
import { importJWK, type JWK } from "jose";
import { GatewayError } from "../errors";
import { noteDependency } from "../observability/seen";
import { readCapped } from "../body";

/** Timeout of one JWKS fetch, headers and body. */
export const JWKS_FETCH_TIMEOUT_MS = 2_000;
/** Age after which keys are refreshed behind the response. */
export const JWKS_FRESH_MS = 5 * 60_000;
/** Least time between two fetches caused by unknown `kid`s (or any fetch and the next such one). */
export const UNKNOWN_KID_COOLDOWN_MS = 30_000;
/** Least time between two fetch attempts after one failed, so a down IdP is not hammered. */
export const RETRY_AFTER_FAILURE_MS = 5_000;

const MAX_JWKS_BYTES = 64 * 1024;
const MAX_KEYS = 100;
const MAX_KEY_SETS = 16;
const PERSIST_KEY_BASE = "https://jwks-cache.agntix.internal/v1?jwks_url=";
// Private and symmetric members never belong in a JWKS; drop them rather than import them.
const NON_PUBLIC_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/** What a key lookup needs from the request and the config. */
export interface JwksOptions {
  /** Keys older than this are never used. */
  readonly maxStalenessMs: number;
  /** Work behind the response: refreshes and Cache API writes. */
  readonly ctx: Pick<ExecutionContext, "waitUntil">;
}

/** Signing keys by `kid`, as parsed from a JWKS. */
export type KeyMap = ReadonlyMap<string, JWK>;

interface Snapshot {
  readonly keys: KeyMap;
  /** When these keys were fetched from the IdP (ms); persisted with them. */
  readonly fetchedAt: number;
  /** Imported keys by `kid alg`, dropped with the snapshot. */
  readonly imported: Map<string, Promise<CryptoKey>>;
}

/**
 * The usable signing keys of a JWKS document: objects with a `kid` and an asymmetric `kty`,
 * meant for signatures, public members only. Empty when there are none (or it is not a JWKS).
 */
export function parseJwks(document: unknown): Map<string, JWK> {
  const keys = new Map<string, JWK>();
  const list = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) return keys;
  for (const item of list.slice(0, MAX_KEYS)) {
    if (typeof item !== "object" || item === null) continue;
    const jwk = { ...(item as Record<string, unknown>) };
    const { kid, kty, use, key_ops: ops } = jwk;
    if (typeof kid !== "string" || kid.length === 0 || kid.length > 256 || keys.has(kid)) continue;
    if (kty !== "RSA" && kty !== "EC" && kty !== "OKP") continue;
    if (use !== undefined && use !== "sig") continue;
    if (ops !== undefined && !(Array.isArray(ops) && ops.includes("verify"))) continue;
    for (const member of NON_PUBLIC_MEMBERS) delete jwk[member];
    keys.set(kid, jwk as JWK);
  }
  return keys;
}

type FetchResult = { ok: true; keys: Map<string, JWK> } | { ok: false; reason: string };

/** Read at most `maxBytes` of a body; `undefined` when it is longer. */
async function readCappedText(response: Response, maxBytes: number): Promise<string | undefined> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) return undefined;
  const bytes = await readCapped(response.body, maxBytes);
  return bytes && new TextDecoder().decode(bytes);
}

/** Fetch and parse the JWKS; never throws. */
async function fetchJwks(url: string): Promise<FetchResult> {
  try {
    const response = await fetch(url, {
      headers: { accept: "application/json" },
      redirect: "manual",
      signal: AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS),
    });
    if (response.status !== 200) {
      await response.body?.cancel();
      return { ok: false, reason: `status_${response.status}` };
    }
    const text = await readCappedText(response, MAX_JWKS_BYTES);
    if (text === undefined) return { ok: false, reason: "too_large" };
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch {
      return { ok: false, reason: "not_json" };
    }
    const keys = parseJwks(document);
    // An answer without a usable key is a broken endpoint, not a rotation: keep the keys we have.
    if (keys.size === 0) return { ok: false, reason: "no_keys" };
    return { ok: true, keys };
  } catch (error) {
    const name = error instanceof Error ? error.name : "unknown";
    return { ok: false, reason: name === "TimeoutError" || name === "AbortError" ? "timeout" : "network" };
  }
}

function defaultCache(): Cache | undefined {
  return (globalThis as { caches?: CacheStorage }).caches?.default;
}

const persistKey = (url: string) => new Request(PERSIST_KEY_BASE + encodeURIComponent(url));

/** Store keys in the Cache API until they pass the maximum staleness; failures only log. */
async function persist(url: string, keys: KeyMap, fetchedAt: number, maxStalenessMs: number): Promise<void> {
  try {
    const cache = defaultCache();
    if (!cache) return;
    const ttl = Math.max(1, Math.floor((fetchedAt + maxStalenessMs - Date.now()) / 1000));
    const body = JSON.stringify({ fetched_at: fetchedAt, jwks: { keys: [...keys.values()] } });
    await cache.put(
      persistKey(url),
      new Response(body, { headers: { "content-type": "application/json", "cache-control": `max-age=${ttl}` } }),
    );
  } catch (error) {
    log("jwks_persist_failed", error instanceof Error ? error.name : "unknown");
  }
}

/** Keys another isolate (or an earlier life of this one) stored; `undefined` when none or unreadable. */
async function readPersisted(url: string): Promise<{ keys: Map<string, JWK>; fetchedAt: number } | undefined> {
  try {
    const cache = defaultCache();
    const response = await cache?.match(persistKey(url));
    if (!response) return undefined;
    const stored = (await response.json()) as { fetched_at?: unknown; jwks?: unknown };
    if (typeof stored.fetched_at !== "number") return undefined;
    const keys = parseJwks(stored.jwks);
    return keys.size > 0 ? { keys, fetchedAt: stored.fetched_at } : undefined;
  } catch (error) {
    log("jwks_restore_failed", error instanceof Error ? error.name : "unknown");
    return undefined;
  }
}

function log(event: string, reason: string): void {
  console.warn(JSON.stringify({ level: "warn", event, reason }));
}

// Failed fetches are retried after RETRY_AFTER_FAILURE_MS: tell clients the same.
const unavailable = () =>
  new GatewayError("jwks_unavailable", {
    detail: "The session-token signing keys are unavailable; retry shortly.",
    headers: { "retry-after": String(RETRY_AFTER_FAILURE_MS / 1000) },
  });
const unknownKey = () => new GatewayError("invalid_token", { detail: "The token is signed by an unknown key." });
const keyMismatch = () => new GatewayError("invalid_token", { detail: "The token's algorithm does not match its key." });

/** One JWKS URL's keys in this isolate. */
class RemoteKeySet {
  private snapshot: Snapshot | undefined;
  private inFlight: Promise<boolean> | undefined;
  private restoring: Promise<void> | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly url: string) {}

  /** The verification key for `kid` and `alg`; throws `jwks_unavailable` or `invalid_token`. */
  async key(kid: string, alg: string, options: JwksOptions): Promise<CryptoKey> {
    const now = Date.now();
    if (!this.usable(now, options)) {
      await this.restore();
      if (!this.usable(Date.now(), options) && (this.inFlight || now - this.lastAttemptAt >= RETRY_AFTER_FAILURE_MS)) {
        await this.refresh(options);
      }
      if (!this.usable(Date.now(), options)) throw unavailable();
    }
    // Usable but no longer fresh (in memory or as restored): answer now, refresh behind the response.
    if (this.due(Date.now(), Math.min(JWKS_FRESH_MS, options.maxStalenessMs))) {
      options.ctx.waitUntil(this.refresh(options));
    }

    let jwk = this.snapshot!.keys.get(kid);
    if (!jwk && (this.inFlight || Date.now() - this.lastAttemptAt >= UNKNOWN_KID_COOLDOWN_MS)) {
      await this.refresh(options);
      jwk = this.usable(Date.now(), options) ? this.snapshot!.keys.get(kid) : undefined;
    }
    if (!jwk) throw unknownKey();
    return this.imported(this.snapshot!, kid, jwk, alg);
  }

  private usable(now: number, options: JwksOptions): boolean {
    return this.snapshot !== undefined && now - this.snapshot.fetchedAt <= options.maxStalenessMs;
  }

  /** Older than `freshMs`, and no refresh running or failed moments ago. */
  private due(now: number, freshMs: number): boolean {
    return now - this.snapshot!.fetchedAt >= freshMs && !this.inFlight && now - this.lastAttemptAt >= RETRY_AFTER_FAILURE_MS;
  }

  private install(keys: KeyMap, fetchedAt: number): void {
    if (this.snapshot && this.snapshot.fetchedAt > fetchedAt) return;
    this.snapshot = { keys, fetchedAt, imported: new Map() };
  }

  /** One Cache API read at a time; used whenever the keys in memory are missing or too old. */
  private restore(): Promise<void> {
    this.restoring ??= readPersisted(this.url)
      .then((persisted) => {
        if (persisted) this.install(persisted.keys, persisted.fetchedAt);
      })
      .finally(() => {
        this.restoring = undefined;
      });
    return this.restoring;
  }

  /** One fetch in flight: callers share it. Resolves to whether it brought keys; never rejects. */
  private refresh(options: JwksOptions): Promise<boolean> {
    this.inFlight ??= this.fetchKeys(options).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async fetchKeys(options: JwksOptions): Promise<boolean> {
    this.lastAttemptAt = Date.now();
    const result = await fetchJwks(this.url);
    noteDependency("jwks", result.ok);
    if (!result.ok) {
      log("jwks_fetch_failed", result.reason);
      return false;
    }
    const fetchedAt = Date.now();
    this.install(result.keys, fetchedAt);
    options.ctx.waitUntil(persist(this.url, result.keys, fetchedAt, options.maxStalenessMs));
    return true;
  }

  private imported(snapshot: Snapshot, kid: string, jwk: JWK, alg: string): Promise<CryptoKey> {
    if (jwk.alg !== undefined && jwk.alg !== alg) return Promise.reject(keyMismatch());
    const id = `${kid} ${alg}`;
    let key = snapshot.imported.get(id);
    if (!key) {
      key = (importJWK(jwk, alg) as Promise<CryptoKey>).catch(() => {
        snapshot.imported.delete(id);
        throw keyMismatch();
      });
      snapshot.imported.set(id, key);
    }
    return key;
  }
}

const keySets = new Map<string, RemoteKeySet>();

/**
 * The verification key for a token's `kid` and `alg` from the JWKS at `url`. Throws
 * `invalid_token` for an unknown kid (after at most one refetch) and `jwks_unavailable` (503)
 * when no keys younger than the maximum staleness can be had.
 */
export function jwksKey(url: string, kid: string, alg: string, options: JwksOptions): Promise<CryptoKey> {
  let set = keySets.get(url);
  if (!set) {
    // A deployment has one JWKS URL; the cap only bounds memory if configs vary (tests).
    if (keySets.size >= MAX_KEY_SETS) keySets.delete(keySets.keys().next().value!);
    set = new RemoteKeySet(url);
    keySets.set(url, set);
  }
  return set.key(kid, alg, options);
}

/** Test-only: forget every key set in this isolate, as a cold start would (the Cache API is kept). */
export function resetJwksCacheForTests(): void {
  keySets.clear();
}
