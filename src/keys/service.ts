/**
 * API key management: create, list, get, delete, rotate one, rotate many. Services take their
 * dependencies and the acting caller explicitly (no Hono context), so the management API and the
 * operator CLI share them. Every caller sees only its own organisation: an id of another
 * organisation is `key_not_found`, exactly like an unknown id.
 */
import { GatewayError } from "../errors";
import { expandScopes, type Scope, sortScopes } from "../scopes";
import { forgetKey, keyCaches } from "./cache";
import { generateKey, generateKeyId, isKeyId, keyHint, type KeyPrefix } from "./format";
import { cursorTag, hashKey } from "./hash";
import type { RevocationMarkers } from "./revocations";
import type { CreatedBy, KeyRecord, KeyStore, StoredKey } from "./store";
import type { CreateInput, FieldError, ListInput } from "./validate";

/** What the key services need. */
export interface KeyServiceDeps {
  readonly store: KeyStore;
  /** HMAC pepper (`API_KEY_PEPPER`). */
  readonly pepper: string;
  /** Prefix of keys issued here. */
  readonly prefix: KeyPrefix;
  /** Location-wide revocation markers (the worker's Cache API); absent in the CLI. */
  readonly markers?: RevocationMarkers;
  /** Clock, epoch ms (default `Date.now`). */
  readonly now?: () => number;
}

/** Who is acting: its organisation, the scopes it holds, and how it is named as a creator. */
export interface Actor {
  readonly orgId: string;
  readonly scopes: ReadonlySet<Scope>;
  readonly createdBy: CreatedBy;
}

/** A key as the management API shows it: never the key itself. */
export interface KeyView {
  readonly id: string;
  readonly name: string;
  readonly scopes: string[];
  readonly hint: string;
  readonly created_at: string;
  readonly created_by: CreatedBy;
  readonly last_used_at: string | null;
  /** When the key stops working (rotation grace period), or null. */
  readonly expires_at: string | null;
  readonly rotated_from?: string;
  /** Created with the opt-in for browser use. */
  readonly allow_browser: boolean;
}

/** A key just created: the only time `key` is shown. */
export interface CreatedKey extends KeyView {
  readonly key: string;
}

/** A key created by rotation, with what happened to the key it replaced. */
export interface RotatedKey extends CreatedKey {
  readonly old_id: string;
  /** When the old key stops (now, or the end of the grace period); null if it could not be retired. */
  readonly old_key_expires_at: string | null;
}

/** A page of keys. */
export interface KeyList {
  readonly data: KeyView[];
  readonly next_cursor: string | null;
}

/** Longest organisation id the store accepts (KV keys are capped at 512 bytes). */
export const MAX_ORG_ID_LENGTH = 128;
/** Keys written at once during a bulk rotation. */
const BULK_CONCURRENCY = 10;

const iso = (ms: number) => new Date(ms).toISOString();
const clock = (deps: KeyServiceDeps) => (deps.now ?? Date.now)();
const isExpired = (record: KeyRecord, now: number) => record.expires_at !== undefined && Date.parse(record.expires_at) <= now;

/** The concrete scopes that `grants` give and `held` lacks: a caller cannot grant them. */
export function ungrantableScopes(held: ReadonlySet<Scope>, grants: readonly string[]): Scope[] {
  return sortScopes(expandScopes(grants)).filter((scope) => !held.has(scope));
}

function requireGrantable(actor: Actor, grants: readonly string[]): void {
  const missing = ungrantableScopes(actor.scopes, grants);
  if (missing.length > 0) {
    throw new GatewayError("scope_escalation", {
      detail: `You cannot grant scopes you do not hold: ${missing.join(", ")}.`,
      extra: { required_scopes: missing },
    });
  }
}

function keyNotFound(errors?: FieldError[]): GatewayError {
  return new GatewayError("key_not_found", {
    detail: errors ? "Some of these ids name no API key in your organization." : "No API key with this id in your organization.",
    ...(errors ? { extra: { errors } } : {}),
  });
}

function view(record: KeyRecord, lastUsedAt: string | null): KeyView {
  return {
    id: record.id,
    name: record.name,
    scopes: [...record.scopes],
    hint: record.hint,
    created_at: record.created_at,
    created_by: record.created_by,
    last_used_at: lastUsedAt,
    expires_at: record.expires_at ?? null,
    ...(record.rotated_from ? { rotated_from: record.rotated_from } : {}),
    allow_browser: record.allow_browser === true,
  };
}

/** The caller's live key with this id, or null (unknown, malformed, another organisation's, or expired). */
async function findOwned(deps: KeyServiceDeps, orgId: string, id: string): Promise<StoredKey | null> {
  if (!isKeyId(id)) return null;
  const stored = await deps.store.findById(id);
  if (!stored || stored.org_id !== orgId || isExpired(stored, clock(deps))) return null;
  return stored;
}

/** A newly issued key: what the caller is shown, and what was stored (for a rollback). */
interface Issued {
  readonly created: CreatedKey;
  readonly stored: StoredKey;
}

async function issue(
  deps: KeyServiceDeps,
  actor: Actor,
  name: string,
  scopes: readonly string[],
  rotatedFrom?: string,
  allowBrowser = false,
): Promise<Issued> {
  if (actor.orgId === "" || actor.orgId.length > MAX_ORG_ID_LENGTH) {
    throw new GatewayError("validation_failed", {
      detail: "The organization id is not usable.",
      extra: { errors: [{ field: "org_id", message: `must be 1 to ${MAX_ORG_ID_LENGTH} characters` }] },
    });
  }
  const key = generateKey(deps.prefix);
  const hash = await hashKey(key, deps.pepper);
  const record: KeyRecord = {
    id: generateKeyId(),
    org_id: actor.orgId,
    name,
    scopes: [...scopes],
    hint: keyHint(key),
    created_at: iso(clock(deps)),
    created_by: { method: actor.createdBy.method, id: actor.createdBy.id.slice(0, 64) },
    ...(rotatedFrom ? { rotated_from: rotatedFrom } : {}),
    ...(allowBrowser ? { allow_browser: true as const } : {}),
  };
  await deps.store.insert(record, hash);
  return { created: { ...view(record, null), key }, stored: { ...record, hash } };
}

/** Delete a key everywhere this isolate can reach: KV, this isolate's caches, this location's marker. */
async function revoke(deps: KeyServiceDeps, stored: StoredKey): Promise<void> {
  const now = clock(deps);
  await deps.store.remove(stored);
  forgetKey(stored.hash);
  keyCaches.unknown.set(stored.hash, true, now);
  await mark(deps, stored, now, now);
}

async function mark(deps: KeyServiceDeps, stored: StoredKey, notAfter: number, now: number): Promise<void> {
  try {
    await deps.markers?.mark(stored.hash, notAfter, now);
  } catch (cause) {
    // KV already holds the truth; without the marker, other isolates here refuse within the cache TTL.
    logWarning("revocation_marker_failed", stored.id, cause);
  }
}

/** End an old key now (grace 0) or at the end of the grace period; null when the store failed. */
async function retire(deps: KeyServiceDeps, stored: StoredKey, graceSeconds: number): Promise<string | null> {
  const now = clock(deps);
  try {
    if (graceSeconds === 0) {
      await revoke(deps, stored);
      return iso(now);
    }
    // A key already in a grace period never gets a longer one.
    const end = Math.min(now + graceSeconds * 1000, stored.expires_at ? Date.parse(stored.expires_at) : Infinity);
    const updated = await deps.store.expire(stored, iso(end));
    forgetKey(stored.hash);
    await mark(deps, updated, end, now);
    return iso(end);
  } catch (cause) {
    logWarning("rotation_retire_failed", stored.id, cause);
    return null;
  }
}

function logWarning(event: string, keyId: string, cause: unknown): void {
  const kind = cause instanceof GatewayError ? cause.code : cause instanceof Error ? cause.name : typeof cause;
  console.warn(JSON.stringify({ level: "warn", event, key_id: keyId, cause: kind }));
}

async function encodeCursor(deps: KeyServiceDeps, orgId: string, cursor: string): Promise<string> {
  const encoded = btoa(cursor).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${encoded}.${await cursorTag(deps.pepper, orgId, cursor)}`;
}

async function decodeCursor(deps: KeyServiceDeps, orgId: string, token: string): Promise<string> {
  const [encoded = "", tag] = token.split(".");
  let cursor: string | undefined;
  try {
    cursor = atob(encoded.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    cursor = undefined;
  }
  if (cursor === undefined || tag !== (await cursorTag(deps.pepper, orgId, cursor))) {
    throw new GatewayError("validation_failed", {
      detail: "The cursor is not one this API returned to you.",
      extra: { errors: [{ field: "cursor", message: "is not a cursor returned by this API" }] },
    });
  }
  return cursor;
}

/** Create a key; refuses (403 `scope_escalation`) a scope the actor does not hold. */
export async function createKey(deps: KeyServiceDeps, actor: Actor, input: CreateInput): Promise<CreatedKey> {
  requireGrantable(actor, input.scopes);
  return (await issue(deps, actor, input.name, input.scopes, undefined, input.allowBrowser === true)).created;
}

/** One page of the organisation's keys, newest first, with `last_used_at`. */
export async function listKeys(deps: KeyServiceDeps, orgId: string, input: ListInput): Promise<KeyList> {
  const kvCursor = input.cursor === undefined ? undefined : await decodeCursor(deps, orgId, input.cursor);
  const page = await deps.store.listOrg(orgId, input.limit, kvCursor);
  const now = clock(deps);
  const live = page.records.filter((record) => !isExpired(record, now));
  const lastUsed = live.length ? await deps.store.lastUsed(live.map((r) => r.id)) : new Map<string, string | null>();
  return {
    data: live.map((record) => view(record, lastUsed.get(record.id) ?? null)),
    next_cursor: page.cursor === undefined ? null : await encodeCursor(deps, orgId, page.cursor),
  };
}

/** One key of the organisation, or 404 `key_not_found`. */
export async function getKey(deps: KeyServiceDeps, orgId: string, id: string): Promise<KeyView> {
  const stored = await findOwned(deps, orgId, id);
  if (!stored) throw keyNotFound();
  const lastUsed = await deps.store.lastUsed([stored.id]);
  return view(stored, lastUsed.get(stored.id) ?? null);
}

/** Delete a key of the organisation; it is refused from the next request on (see docs/api-keys.md). */
export async function deleteKey(deps: KeyServiceDeps, orgId: string, id: string): Promise<void> {
  const stored = await findOwned(deps, orgId, id);
  if (!stored) throw keyNotFound();
  await revoke(deps, stored);
}

/**
 * Replace a key by a new one with the same name and scopes. The old key is deleted, or keeps
 * working for `graceSeconds`. The actor must hold the key's scopes (rotation mints a new key).
 */
export async function rotateKey(deps: KeyServiceDeps, actor: Actor, id: string, graceSeconds: number): Promise<RotatedKey> {
  const stored = await findOwned(deps, actor.orgId, id);
  if (!stored) throw keyNotFound();
  requireGrantable(actor, stored.scopes);
  const { created } = await issue(deps, actor, stored.name, stored.scopes, stored.id, stored.allow_browser === true);
  const oldKeyExpiresAt = await retire(deps, stored, graceSeconds);
  return { ...created, old_id: stored.id, old_key_expires_at: oldKeyExpiresAt };
}

/**
 * Rotate several keys, all or nothing as far as KV allows: every id is checked first (any unknown
 * id → 404 naming it, nothing rotated), then every new key is created (a failure removes those
 * already created, 503), then the old keys are retired. Results keep the order of `ids`.
 */
export async function rotateKeys(deps: KeyServiceDeps, actor: Actor, ids: readonly string[], graceSeconds: number): Promise<RotatedKey[]> {
  const now = clock(deps);
  const candidates = ids.filter(isKeyId);
  const stored = new Map((await deps.store.findByIds(candidates)).map((s, i) => [candidates[i]!, s]));
  const found = ids.map((id) => {
    const s = stored.get(id);
    return s && s.org_id === actor.orgId && !isExpired(s, now) ? s : null;
  });
  const missing = ids.flatMap((_, i) => (found[i] ? [] : [{ field: `ids[${i}]`, message: "names no API key in your organization" }]));
  if (missing.length) throw keyNotFound(missing);
  const olds = found as StoredKey[];
  requireGrantable(actor, olds.flatMap((stored) => stored.scopes));

  const issued: Issued[] = [];
  try {
    for (let i = 0; i < olds.length; i += BULK_CONCURRENCY) {
      const batch = olds.slice(i, i + BULK_CONCURRENCY);
      const results = await Promise.allSettled(batch.map((old) => issue(deps, actor, old.name, old.scopes, old.id, old.allow_browser === true)));
      for (const result of results) if (result.status === "fulfilled") issued.push(result.value);
      const failed = results.find((result) => result.status === "rejected");
      if (failed) throw failed.reason;
    }
  } catch (error) {
    await Promise.allSettled(issued.map(({ stored }) => deps.store.remove(stored)));
    throw error;
  }

  const rotated: RotatedKey[] = [];
  for (let i = 0; i < olds.length; i += BULK_CONCURRENCY) {
    const batch = olds.slice(i, i + BULK_CONCURRENCY);
    const ends = await Promise.all(batch.map((old) => retire(deps, old, graceSeconds)));
    batch.forEach((old, j) => rotated.push({ ...issued[i + j]!.created, old_id: old.id, old_key_expires_at: ends[j] ?? null }));
  }
  return rotated;
}
