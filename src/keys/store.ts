/**
 * All KV I/O of API keys. Layout of the `API_KEYS` namespace (no plaintext key anywhere):
 *
 * | KV key                              | value                         | metadata        |
 * |-------------------------------------|-------------------------------|-----------------|
 * | `h:<hmac hex>`                      | record JSON (verification)    | —               |
 * | `k:<key id>`                        | record JSON + `hash` (by id)  | —               |
 * | `o:<org>:<inverted ms>:<key id>`    | empty (org index, newest 1st) | the record¹     |
 * | `u:<key id>`                        | `last_used_at` ISO timestamp  | —               |
 *
 * ¹ KV sends metadata in a header (ASCII) and caps it at 1024 bytes: a record that does not fit
 * (a non-ASCII name, say) leaves only `{id}` there, and `list` reads its `k:` entry instead.
 * `<org>` is URI-encoded so one organisation's prefix can never be another's. A key in its
 * rotation grace period carries `expires_at`, and its entries a KV `expiration` shortly after; a key
 * given an end at creation keeps its entries a week after it (so it is refused as "expired").
 * `metadata` lives in the `k:` entry only: verification never needs it.
 * Every KV failure becomes 503 `key_store_unavailable`: the gateway fails closed.
 */
import { GatewayError } from "../errors";
import { noteDependency } from "../observability/seen";

/** Who created a key: a key id, a Clerk user id, or an operator of the CLI. */
export interface CreatedBy {
  readonly method: "api_key" | "jwt" | "operator";
  readonly id: string;
}

/** An API key's record: everything about a key except the key. */
export interface KeyRecord {
  readonly id: string;
  readonly org_id: string;
  readonly name: string;
  /** Grants as requested at creation (scopes, wildcards, presets); expanded at verification. */
  readonly scopes: readonly string[];
  /** Prefix and last four characters, e.g. `pk_test_...sW9x`. */
  readonly hint: string;
  readonly created_at: string;
  readonly created_by: CreatedBy;
  /** The key stops working at this instant: set at creation, or by a rotation's grace period. */
  readonly expires_at?: string;
  /** `rotation` when `expires_at` is the end of a rotation's grace period. */
  readonly expired_by?: "rotation";
  /** The key this one replaced by rotation. */
  readonly rotated_from?: string;
  /** The key that replaced this one (set when a rotation gives it a grace period): it cannot be rotated again. */
  readonly rotated_to?: string;
  /** Explicit opt-in at creation: the key may be sent by a browser (e.g. a local tool); absent otherwise. */
  readonly allow_browser?: true;
  /** Last edit (name, scopes, metadata), if any: orders a record against a scope marker. */
  readonly updated_at?: string;
  /** Free-form JSON object (≤ 1 KiB), returned by list and get. */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Rate-limit tier (a name from `RATE_LIMIT_TIERS`); absent on keys made before tiers: `standard`. */
  readonly rate_limit?: string;
}

/** A record with its lookup hash, as stored under its id. */
export interface StoredKey extends KeyRecord {
  readonly hash: string;
}

/** One page of KV `list`. */
export interface KvListPage {
  readonly keys: readonly { readonly name: string; readonly metadata?: unknown }[];
  readonly list_complete: boolean;
  readonly cursor?: string;
}

/** The KV operations the key store uses; `kvFromBinding` adapts a Workers binding, the CLI a REST client. */
export interface KvLike {
  /** A value; `cacheTtl` is how long KV's edge may serve it from its read cache (seconds). */
  get(key: string, options?: { cacheTtl?: number }): Promise<string | null>;
  /** Values of up to 100 keys in one call (KV bulk read). */
  getMany(keys: readonly string[]): Promise<Map<string, string | null>>;
  put(key: string, value: string, options?: { expiration?: number; metadata?: unknown }): Promise<void>;
  delete(key: string): Promise<void>;
  list(options: { prefix: string; limit: number; cursor?: string }): Promise<KvListPage>;
}

/** Most keys KV reads in one bulk `get`. */
export const KV_BULK_GET_MAX = 100;
/**
 * KV's shortest read-cache TTL (its default is 60 s), for the verification read: a delete made
 * elsewhere is then seen by a location's KV cache within 30 s.
 */
export const KV_READ_CACHE_TTL_SECONDS = 30;

const adapters = new WeakMap<KVNamespace, KvLike>();

/** The store's view of a Workers KV binding (one adapter per binding). */
export function kvFromBinding(namespace: KVNamespace): KvLike {
  let kv = adapters.get(namespace);
  if (!kv) {
    kv = {
      get: (key, options) => namespace.get(key, { type: "text", ...options }),
      getMany: (keys) => namespace.get([...keys], "text"),
      put: (key, value, options) => namespace.put(key, value, options),
      delete: (key) => namespace.delete(key),
      list: (options) => namespace.list(options),
    };
    adapters.set(namespace, kv);
  }
  return kv;
}

const hashKey = (hash: string) => `h:${hash}`;
const idKey = (id: string) => `k:${id}`;
const usedKey = (id: string) => `u:${id}`;
/** The fingerprint of the pepper keys in this namespace are hashed under (src/keys/pepper.ts). */
const PEPPER_FINGERPRINT_KEY = "meta:pepper-fingerprint";
/** Index prefix of one organisation. */
export const orgPrefix = (orgId: string) => `o:${encodeURIComponent(orgId)}:`;
// Inverted creation time, so KV's lexicographic `list` returns the newest key first.
const MAX_MS = 9_999_999_999_999;
const indexKey = (record: KeyRecord) =>
  `${orgPrefix(record.org_id)}${String(MAX_MS - Date.parse(record.created_at)).padStart(13, "0")}:${record.id}`;

/** How long the entries of a key that expired on its own date stay in KV (refused as "expired" meanwhile). */
export const EXPIRED_KEY_RETENTION_SECONDS = 7 * 24 * 3600;

/**
 * KV `expiration` (epoch seconds) of a key's entries: a minute after a rotation's grace period ends
 * (KV requires ≥ 60 s ahead), a week after an end chosen at creation.
 */
const kvExpiration = (record: KeyRecord) =>
  record.expires_at === undefined
    ? undefined
    : Math.ceil(Date.parse(record.expires_at) / 1000) + (record.expired_by === "rotation" ? 60 : EXPIRED_KEY_RETENTION_SECONDS);

const withExpiration = (expiration: number | undefined) => (expiration === undefined ? {} : { expiration });

/** Largest KV metadata, serialised. */
export const KV_METADATA_MAX_BYTES = 1024;
const fitsMetadata = (value: unknown) => {
  const text = JSON.stringify(value);
  return text.length <= KV_METADATA_MAX_BYTES && /^[\x20-\x7e]*$/.test(text);
};

/** What the verification entry holds: the record without its hash or metadata. */
const verificationRecord = ({ hash: _hash, metadata: _metadata, ...record }: StoredKey): KeyRecord => record;

function isRecord(value: unknown): value is KeyRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  const by = r["created_by"] as Record<string, unknown> | null | undefined;
  return (
    typeof r["id"] === "string" &&
    typeof r["org_id"] === "string" &&
    typeof r["name"] === "string" &&
    Array.isArray(r["scopes"]) &&
    r["scopes"].every((s) => typeof s === "string") &&
    typeof r["hint"] === "string" &&
    typeof r["created_at"] === "string" &&
    typeof by === "object" &&
    by !== null &&
    typeof by["id"] === "string" &&
    (r["expires_at"] === undefined || typeof r["expires_at"] === "string") &&
    (r["allow_browser"] === undefined || r["allow_browser"] === true) &&
    (r["updated_at"] === undefined || typeof r["updated_at"] === "string") &&
    (r["metadata"] === undefined || (typeof r["metadata"] === "object" && r["metadata"] !== null && !Array.isArray(r["metadata"]))) &&
    (r["rate_limit"] === undefined || typeof r["rate_limit"] === "string")
  );
}

function parseRecord(text: string): KeyRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw unavailable(cause);
  }
  if (!isRecord(value)) throw unavailable(new Error("malformed key record"));
  return value;
}

function parseStored(text: string): StoredKey {
  const stored = parseRecord(text) as StoredKey;
  if (typeof stored.hash !== "string") throw unavailable(new Error("key record without hash"));
  return stored;
}

function unavailable(cause: unknown): GatewayError {
  return new GatewayError("key_store_unavailable", { detail: "The key store is unavailable; retry shortly.", cause });
}

/** Run a KV operation; any failure that is not already a `GatewayError` is the store being unavailable. */
async function io<T>(operation: () => Promise<T>): Promise<T> {
  try {
    const value = await operation();
    noteDependency("kv", true);
    return value;
  } catch (cause) {
    if (cause instanceof GatewayError) throw cause;
    noteDependency("kv", false);
    throw unavailable(cause);
  }
}

/**
 * Wait for every write to land or fail, then report the first failure. `Promise.all` would
 * reject while sibling writes are still in flight, and a rollback started then could be
 * overtaken by them (the chaos run found index entries of refused creates surviving that way).
 */
async function allWrites(writes: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(writes);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** Attempts of an idempotent write (a retire, a delete, a rollback) before it counts as failed. */
export const WRITE_ATTEMPTS = 3;

/**
 * An idempotent write, tried up to `WRITE_ATTEMPTS` times. A KV call that fails may still have
 * landed, so a write whose outcome matters for consistency is repeated rather than left unknown.
 */
async function retrying(write: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (cause) {
      if (attempt >= WRITE_ATTEMPTS) throw cause;
    }
  }
}

const deleteRetrying = (kv: KvLike, key: string) => retrying(() => kv.delete(key));

/** A page of an organisation's keys. */
export interface KeyPage {
  readonly records: KeyRecord[];
  /** KV's cursor for the next page, absent on the last one. */
  readonly cursor?: string;
}

/** The API key store over one KV namespace. */
export class KeyStore {
  constructor(readonly kv: KvLike) {}

  /** The record whose key hashes to `hash`, or null. One KV read. */
  findByHash(hash: string): Promise<KeyRecord | null> {
    return io(async () => {
      const text = await this.kv.get(hashKey(hash), { cacheTtl: KV_READ_CACHE_TTL_SECONDS });
      return text === null ? null : parseRecord(text);
    });
  }

  /** The records of up to 100 key hashes per bulk read, with their hashes (absent keys left out). */
  findByHashes(hashes: readonly string[]): Promise<StoredKey[]> {
    return io(async () => {
      const out: StoredKey[] = [];
      for (let i = 0; i < hashes.length; i += KV_BULK_GET_MAX) {
        const chunk = hashes.slice(i, i + KV_BULK_GET_MAX);
        const values = await this.kv.getMany(chunk.map(hashKey));
        for (const hash of chunk) {
          const text = values.get(hashKey(hash)) ?? null;
          if (text !== null) out.push({ ...parseRecord(text), hash });
        }
      }
      return out;
    });
  }

  /** The stored record with this id (in any organisation; callers check), or null. */
  findById(id: string): Promise<StoredKey | null> {
    return io(async () => {
      const text = await this.kv.get(idKey(id));
      return text === null ? null : parseStored(text);
    });
  }

  /** The stored records of up to 100 ids in one bulk read, in the order of `ids` (null when absent). */
  findByIds(ids: readonly string[]): Promise<(StoredKey | null)[]> {
    return io(async () => {
      const out: (StoredKey | null)[] = [];
      for (let i = 0; i < ids.length; i += KV_BULK_GET_MAX) {
        const chunk = ids.slice(i, i + KV_BULK_GET_MAX);
        const values = await this.kv.getMany(chunk.map(idKey));
        for (const id of chunk) {
          const text = values.get(idKey(id)) ?? null;
          out.push(text === null ? null : parseStored(text));
        }
      }
      return out;
    });
  }

  /**
   * Store a new key's entries. The hash entry is written last, so a key is never usable without
   * its management entries; on failure the written entries are removed and 503 thrown. The
   * rollback removes the hash entry first and keeps the others if it cannot: a key that might
   * work then stays listed (and deletable) rather than working unlisted.
   */
  async insert(record: KeyRecord, hash: string): Promise<void> {
    try {
      await this.#writeManaged({ ...record, hash });
      await io(() => this.kv.put(hashKey(hash), JSON.stringify(verificationRecord({ ...record, hash })), withExpiration(kvExpiration(record))));
    } catch (error) {
      try {
        await deleteRetrying(this.kv, hashKey(hash));
        await allWrites([deleteRetrying(this.kv, indexKey(record)), deleteRetrying(this.kv, idKey(record.id))]);
      } catch {
        // The 503 below stands; what is left is listed, or not usable.
      }
      throw error;
    }
  }

  /** Give a key an end: rewrite its entries with `expires_at` and a KV `expiration` shortly after. */
  async expire(stored: StoredKey, expiresAt: string, successorId?: string): Promise<StoredKey> {
    const updated: StoredKey = { ...stored, expires_at: expiresAt, expired_by: "rotation", ...(successorId ? { rotated_to: successorId } : {}) };
    const expiration = kvExpiration(updated);
    // The hash entry first: if a later write fails, the key still ends on time and merely stays
    // listed until it does; the other order could leave a working key with no record to delete.
    // Both steps are idempotent and retried: a failure in between would leave a key that ends
    // while its listing says it does not (found by the chaos run, docs/reliability.md).
    await io(() => retrying(() => this.kv.put(hashKey(stored.hash), JSON.stringify(verificationRecord(updated)), withExpiration(expiration))));
    await retrying(() => this.#writeManaged(updated));
    return updated;
  }

  /**
   * Replace a key's record by `updated` (same id, hash and creation time; an edit). The hash entry
   * first, so verification sees a narrowing before the management entries say it happened; both
   * idempotent writes are retried, so a failure in between rarely leaves the two disagreeing.
   */
  async update(updated: StoredKey): Promise<void> {
    const expiration = kvExpiration(updated);
    await io(() => retrying(() => this.kv.put(hashKey(updated.hash), JSON.stringify(verificationRecord(updated)), withExpiration(expiration))));
    await retrying(() => this.#writeManaged(updated));
  }

  /**
   * Delete a key: its hash entry first (verification stops), then its index and last-used
   * entries, and its id entry last, so that a delete that fails part-way can always be retried
   * (the retry finds the key by id). Each delete is retried a few times before the 503.
   */
  async remove(stored: StoredKey): Promise<void> {
    await io(() => deleteRetrying(this.kv, hashKey(stored.hash)));
    await io(() => allWrites([deleteRetrying(this.kv, indexKey(stored)), deleteRetrying(this.kv, usedKey(stored.id))]));
    await io(() => deleteRetrying(this.kv, idKey(stored.id)));
  }

  /** One page (≤ `limit`) of an organisation's keys, newest first, from the index's metadata. */
  listOrg(orgId: string, limit: number, cursor?: string): Promise<KeyPage> {
    return io(async () => {
      const page = await this.kv.list({ prefix: orgPrefix(orgId), limit, ...(cursor ? { cursor } : {}) });
      const entries = page.keys.map((k) => {
        const metadata = (typeof k.metadata === "object" && k.metadata !== null ? k.metadata : {}) as Record<string, unknown>;
        const record = { ...metadata, org_id: orgId };
        return isRecord(record) ? record : typeof metadata["id"] === "string" ? metadata["id"] : undefined;
      });
      // Records too large or not ASCII for metadata: one bulk read of their id entries.
      const missing = entries.filter((e): e is string => typeof e === "string");
      const byId = new Map<string, KeyRecord>();
      for (let i = 0; i < missing.length; i += KV_BULK_GET_MAX) {
        const values = await this.kv.getMany(missing.slice(i, i + KV_BULK_GET_MAX).map(idKey));
        for (const text of values.values()) {
          if (text === null) continue;
          const { hash: _hash, ...record } = parseRecord(text) as StoredKey;
          if (record.org_id === orgId) byId.set(record.id, record);
        }
      }
      const records = entries.flatMap((e) => (typeof e === "string" ? (byId.has(e) ? [byId.get(e)!] : []) : e ? [e] : []));
      return { records, ...(page.list_complete || !page.cursor ? {} : { cursor: page.cursor }) };
    });
  }

  /**
   * How many of an organisation's keys are live (no `expires_at`, or one ahead of `now`), counted
   * from the index in pages of 1000 names and no further than `atMost`. A key whose record did not
   * fit the index's metadata counts as live. KV's `list` is eventually consistent: a key created
   * moments ago elsewhere may not be counted yet.
   */
  countOrg(orgId: string, atMost: number, now: number): Promise<number> {
    return io(async () => {
      let count = 0;
      let cursor: string | undefined;
      do {
        const page = await this.kv.list({ prefix: orgPrefix(orgId), limit: 1000, ...(cursor ? { cursor } : {}) });
        for (const { metadata } of page.keys) {
          const expiresAt = (metadata as { expires_at?: unknown } | undefined)?.expires_at;
          if (!(typeof expiresAt === "string" && Date.parse(expiresAt) <= now)) count++;
        }
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor && count < atMost);
      return count;
    });
  }

  /** `last_used_at` of each key id (null when never used): one bulk read per 100 ids. */
  lastUsed(ids: readonly string[]): Promise<Map<string, string | null>> {
    return io(async () => {
      const out = new Map<string, string | null>();
      for (let i = 0; i < ids.length; i += KV_BULK_GET_MAX) {
        const chunk = ids.slice(i, i + KV_BULK_GET_MAX);
        const values = await this.kv.getMany(chunk.map(usedKey));
        for (const id of chunk) out.set(id, values.get(usedKey(id)) ?? null);
      }
      return out;
    });
  }

  /** Record that a key was used at `at` (ISO). Expires with the key when it has an end. */
  touch(record: KeyRecord, at: string): Promise<void> {
    const expiration = kvExpiration(record);
    return io(() => this.kv.put(usedKey(record.id), at, withExpiration(expiration)));
  }

  /** The stored pepper fingerprint, or null when none was recorded yet. */
  pepperFingerprint(): Promise<string | null> {
    return io(async () => {
      const text = await this.kv.get(PEPPER_FINGERPRINT_KEY);
      if (text === null) return null;
      const value = JSON.parse(text) as { fingerprint?: unknown };
      return typeof value.fingerprint === "string" ? value.fingerprint : null;
    });
  }

  /** Record the pepper fingerprint (first issuance, or an operator after a pepper rotation). */
  setPepperFingerprint(fingerprint: string, setAt: string, setBy: string): Promise<void> {
    return io(() => this.kv.put(PEPPER_FINGERPRINT_KEY, JSON.stringify({ fingerprint, set_at: setAt, set_by: setBy })));
  }

  async #writeManaged(stored: StoredKey): Promise<void> {
    const expiration = kvExpiration(stored);
    // The index's metadata omits what its KV key already says, and must be ASCII within 1024 bytes.
    const { hash: _hash, org_id: _org, ...full } = stored;
    const metadata = fitsMetadata(full) ? full : { id: stored.id };
    await io(() =>
      allWrites([
        this.kv.put(idKey(stored.id), JSON.stringify(stored), withExpiration(expiration)),
        this.kv.put(indexKey(stored), "", { ...withExpiration(expiration), metadata }),
      ]),
    );
  }
}
