/**
 * API key management: create, list, get, delete, rotate one, rotate many. Services take their
 * dependencies and the acting caller explicitly (no Hono context), so the management API and the
 * operator CLI share them. Every caller sees only its own organisation: an id of another
 * organisation is `key_not_found`, exactly like an unknown id.
 */
import type { AuditEvent, AuditLog } from "../audit/log";
import { GatewayError } from "../errors";
import { hourOf } from "../usage/counter";
import { isStale, suggestedScopes, usedScopes } from "../usage/least-privilege";
import type { UsageStore } from "../usage/store";
import { checkTierGrant, DEFAULT_TIER, keyTier, tierRank } from "../ratelimit/policy";
import { expandScopes, type Scope, sortScopes } from "../scopes";
import { forgetKey, keyCaches } from "./cache";
import { generateKey, generateKeyId, isKeyId, keyHint, type KeyPrefix } from "./format";
import { cursorTag, hashKey } from "./hash";
import type { RevocationInput, RevocationReason } from "../revocation/log";
import { assertPepperMatches } from "./pepper";
import type { CreatedBy, KeyRecord, KeyStore, StoredKey } from "./store";
import type { CreateInput, FieldError, KeyMetadata, ListInput, UpdateInput } from "./validate";

/** What the key services need. */
export interface KeyServiceDeps {
  readonly store: KeyStore;
  /** HMAC pepper (`API_KEY_PEPPER`). */
  readonly pepper: string;
  /** Prefix of keys issued here. */
  readonly prefix: KeyPrefix;
  /**
   * Where revocations (and edits of grants) are recorded before KV changes: the revocation log.
   * Absent, they reach other isolates and locations only through KV (its bound, not the feed's).
   */
  readonly revocations?: RevocationSink;
  /** Clock, epoch ms (default `Date.now`). */
  readonly now?: () => number;
  /**
   * The audit log: every change is recorded here before it is made (503 and no change when it
   * cannot be). The management API always sets it; the operator CLI does not (docs/api-keys.md).
   */
  readonly audit?: AuditLog;
  /** Usage figures for list, get and the usage series; absent in the CLI (figures are then null). */
  readonly usage?: UsageStore;
  /** Configured rate-limit tier names, lowest first (absent: only `standard` is known). */
  readonly rateLimitTiers?: readonly string[];
  /**
   * Most live keys an organisation may hold when creating one (`API_KEY_LIMIT_PER_ORG`); absent, no
   * cap (the operator CLI). Rotation is never capped: it replaces a key.
   */
  readonly maxKeysPerOrg?: number;
}

/** Records revocations in the log; throws 503 `revocation_log_unavailable` when it cannot (nothing recorded). */
export interface RevocationSink {
  append(entries: readonly RevocationInput[]): Promise<void>;
  /**
   * When the log refuses this key from (epoch ms: its earliest delete, rotation or kill-switch
   * entry), or null; throws 503 `revocation_log_unavailable` when the log cannot say. The
   * management API's sink always has it; the operator CLI's (signed posts) does not (see `settle`).
   */
  refusedFrom?(stored: StoredKey, options?: { readonly exceptReason?: RevocationReason }): Promise<number | null>;
}

/** Who is acting: its organisation, the scopes it holds, and how it is named as a creator. */
export interface Actor {
  readonly orgId: string;
  readonly scopes: ReadonlySet<Scope>;
  readonly createdBy: CreatedBy;
  /**
   * The highest rate-limit tier the actor may give a key: its own (a key's tier, or the session
   * tier). `null` for an operator, who may give any; absent means `standard`.
   */
  readonly rateLimitCeiling?: string | null;
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
  /** When the key stops working (set at creation, or a rotation's grace period), or null. */
  readonly expires_at: string | null;
  /** Free-form JSON object given at creation or by an edit, or null. */
  readonly metadata: Readonly<Record<string, unknown>> | null;
  /** When the key was last edited, or null. */
  readonly updated_at: string | null;
  readonly rotated_from?: string;
  /** Created with the opt-in for browser use. */
  readonly allow_browser: boolean;
  /** The key's rate-limit tier. */
  readonly rate_limit: string;
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

/** A key as list shows it: the record, its use in the last 30 days, and whether it is stale. */
export interface ListedKey extends KeyView {
  /** Requests (every outcome) in the last 30 days; null when usage is off or unavailable. */
  readonly requests_30d: number | null;
  /** Unused (or never used) for 90 days: a candidate for deletion. */
  readonly stale: boolean;
}

/** A key as get shows it: also the scopes it used in 30 days and the smallest grant covering them. */
export interface KeyDetail extends ListedKey {
  readonly scopes_used_30d: string[] | null;
  readonly suggested_scopes: string[] | null;
}

/** A page of keys. */
export interface KeyList {
  readonly data: ListedKey[];
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

/** What the caller tried when an escalation was refused, for the audit log. */
interface Attempt {
  readonly operation: "create" | "update" | "rotate" | "bulk_rotate";
  readonly keyId: string | null;
  readonly scopes: readonly string[];
}

/** Refuse (403 `scope_escalation`, audited) when `missing` is not empty. */
async function refuseUnless(deps: KeyServiceDeps, actor: Actor, missing: readonly Scope[], attempt: Attempt): Promise<void> {
  if (missing.length === 0) return;
  const event: AuditEvent = {
    action: "key.escalation_refused",
    orgId: actor.orgId,
    keyId: attempt.keyId,
    detail: { operation: attempt.operation, requested_scopes: [...attempt.scopes], missing_scopes: [...missing] },
  };
  try {
    await deps.audit?.record([event]);
  } catch (cause) {
    // Nothing changes either way: the refusal stands, and the lost row is in the logs.
    logWarning("audit_refusal_write_failed", attempt.keyId ?? "-", cause);
  }
  throw new GatewayError("scope_escalation", {
    detail: `You cannot grant scopes you do not hold: ${missing.join(", ")}.`,
    extra: { required_scopes: [...missing] },
  });
}

/** Refuse (403, audited) grants whose expansion the actor does not hold. */
function requireGrantable(deps: KeyServiceDeps, actor: Actor, grants: readonly string[], attempt: Omit<Attempt, "scopes">): Promise<void> {
  return refuseUnless(deps, actor, ungrantableScopes(actor.scopes, grants), { ...attempt, scopes: grants });
}

/**
 * The scopes an edit from `from` to `to` adds that `held` lacks. The rule: an edit may remove any
 * scope (as deleting the key could), and add only scopes the caller holds itself (as creating a
 * key with them could).
 */
export function widenedBeyond(held: ReadonlySet<Scope>, from: readonly string[], to: readonly string[]): Scope[] {
  const had = expandScopes(from);
  return sortScopes(expandScopes(to)).filter((scope) => !had.has(scope) && !held.has(scope));
}

/**
 * Run `change` after its events are in the audit log; if the change fails, the rows are taken
 * back. An audit log that cannot be written stops the change (503 `audit_unavailable`).
 */
async function audited<T>(deps: KeyServiceDeps, events: readonly AuditEvent[], change: () => Promise<T>): Promise<T> {
  const receipt = await deps.audit?.record(events);
  try {
    return await change();
  } catch (error) {
    if (receipt) await deps.audit!.retract(receipt);
    throw error;
  }
}

/** The parts of a record an edit can change, as the audit log shows them before and after. */
const editable = (record: KeyRecord) => ({ name: record.name, scopes: [...record.scopes], metadata: record.metadata ?? null });

/** A record as the audit log shows a key that was created. */
const created = (record: KeyRecord) => ({
  ...editable(record),
  hint: record.hint,
  allow_browser: record.allow_browser === true,
  expires_at: record.expires_at ?? null,
  ...(record.rotated_from ? { rotated_from: record.rotated_from } : {}),
});

const tiersOf = (deps: KeyServiceDeps): readonly string[] => deps.rateLimitTiers ?? [DEFAULT_TIER];
const ceilingOf = (actor: Actor): string | undefined => (actor.rateLimitCeiling === null ? undefined : (actor.rateLimitCeiling ?? DEFAULT_TIER));

/** The tier a new key gets when none is asked for: `standard`, or the actor's own when that is lower. */
export function defaultTierFor(tiers: readonly string[], ceiling: string | undefined): string {
  return ceiling !== undefined && tierRank(tiers, ceiling) < tierRank(tiers, DEFAULT_TIER) ? ceiling : DEFAULT_TIER;
}

/** Refuse a tier that is not configured (400) or above the actor's own (403 `rate_limit_escalation`). */
function requireTier(deps: KeyServiceDeps, actor: Actor, tier: string, existing = false): void {
  const tiers = tiersOf(deps);
  const ceiling = ceilingOf(actor);
  // A key's existing tier that is no longer configured counts as the default tier.
  const verdict = checkTierGrant(tiers, ceiling, existing && !tiers.includes(tier) ? DEFAULT_TIER : tier);
  if (verdict === "unknown") {
    throw new GatewayError("validation_failed", {
      detail: "Invalid fields: rate_limit.",
      extra: { errors: [{ field: "rate_limit", message: `must be one of ${tiers.join(", ")}` }] },
    });
  }
  if (verdict === "escalation") {
    throw new GatewayError("rate_limit_escalation", {
      detail: `You cannot give a key the rate limit ${tier}: it is above your own (${ceiling}).`,
      extra: { rate_limit: tier, allowed_rate_limits: tiers.slice(0, tierRank(tiers, ceiling!) + 1) },
    });
  }
}

/** True when a rotation already replaced this key (it is in its grace period). */
const hasSuccessor = (stored: KeyRecord) => stored.rotated_to !== undefined || stored.expired_by === "rotation";

/** 409 for rotating a key that already has a successor: rotate the successor instead. */
function alreadyRotated(stored: KeyRecord): GatewayError {
  const successor = stored.rotated_to ?? null;
  return new GatewayError("already_rotated", {
    detail: successor
      ? `This key was already rotated; its successor is ${successor}. Rotate that key instead.`
      : "This key was already rotated. Rotate its successor instead.",
    extra: { successor_id: successor },
  });
}

/** 409 when the organisation already holds `max` live keys. */
async function requireRoomForKey(deps: KeyServiceDeps, orgId: string): Promise<void> {
  const max = deps.maxKeysPerOrg;
  if (max === undefined) return;
  if ((await deps.store.countOrg(orgId, max, clock(deps))) >= max) {
    throw new GatewayError("key_limit_reached", {
      detail: `Your organization has reached its limit of ${max} API keys. Delete unused keys before creating more.`,
      extra: { limit: max },
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
    metadata: record.metadata ?? null,
    updated_at: record.updated_at ?? null,
    ...(record.rotated_from ? { rotated_from: record.rotated_from } : {}),
    allow_browser: record.allow_browser === true,
    rate_limit: keyTier(record.rate_limit),
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

/** What a new key is made of besides its name and scopes. */
interface IssueOptions {
  readonly rotatedFrom?: string;
  readonly allowBrowser?: boolean;
  readonly expiresAt?: string;
  readonly metadata?: KeyMetadata | Readonly<Record<string, unknown>>;
  /** The key's rate-limit tier (always set on new keys). */
  readonly rateLimit?: string;
}

/** A new key and its record, not yet stored. */
async function prepare(deps: KeyServiceDeps, actor: Actor, name: string, scopes: readonly string[], options: IssueOptions = {}): Promise<Issued> {
  if (actor.orgId === "" || actor.orgId.length > MAX_ORG_ID_LENGTH) {
    throw new GatewayError("validation_failed", {
      detail: "The organization id is not usable.",
      extra: { errors: [{ field: "org_id", message: `must be 1 to ${MAX_ORG_ID_LENGTH} characters` }] },
    });
  }
  // A key hashed under the wrong pepper would never verify: refuse rather than issue it.
  await assertPepperMatches(deps.store, deps.pepper, clock(deps), actor.createdBy.method);
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
    ...(options.expiresAt ? { expires_at: options.expiresAt } : {}),
    ...(options.rotatedFrom ? { rotated_from: options.rotatedFrom } : {}),
    ...(options.allowBrowser ? { allow_browser: true as const } : {}),
    ...(options.metadata ? { metadata: options.metadata } : {}),
    ...(options.rateLimit ? { rate_limit: options.rateLimit } : {}),
  };
  return { created: { ...view(record, null), key }, stored: { ...record, hash } };
}

/** Store a prepared key. */
async function store(deps: KeyServiceDeps, issued: Issued): Promise<Issued> {
  const { hash, ...record } = issued.stored;
  await deps.store.insert(record, hash);
  return issued;
}

/**
 * What a rotation's new key inherits besides name and scopes: the browser opt-in, the metadata,
 * and an end chosen at creation (not a grace period's).
 */
const inherited = (old: StoredKey): IssueOptions => ({
  rateLimit: keyTier(old.rate_limit),
  rotatedFrom: old.id,
  ...(old.allow_browser === true ? { allowBrowser: true } : {}),
  ...(old.expires_at && old.expired_by !== "rotation" ? { expiresAt: old.expires_at } : {}),
  ...(old.metadata ? { metadata: old.metadata } : {}),
});

/** The log entry revoking a stored key from `notAfter` on. */
function revocation(stored: StoredKey, notAfter: number, reason: RevocationReason): RevocationInput {
  return { kind: "key", subject: stored.hash, not_after: notAfter, reason, key_id: stored.id };
}

/**
 * Record revocations in the log before anything else changes: if the log cannot take them, the
 * call fails with 503 `revocation_log_unavailable` and nothing is revoked (`undo` removes what
 * the call created before).
 */
async function recordRevocations(deps: KeyServiceDeps, entries: RevocationInput[], undo?: () => Promise<unknown>): Promise<void> {
  if (!deps.revocations || entries.length === 0) return;
  try {
    await deps.revocations.append(entries);
  } catch (error) {
    await undo?.().catch(() => undefined);
    throw error;
  }
}

/** Remove a key from KV and this isolate's caches (the log already has its revocation). */
async function removeKey(deps: KeyServiceDeps, stored: StoredKey): Promise<void> {
  const now = clock(deps);
  try {
    await deps.store.remove(stored);
  } catch (error) {
    // The delete may have reached the hash entry: drop this isolate's copy so it reads the truth.
    forgetKey(stored.hash);
    throw error;
  }
  forgetKey(stored.hash);
  keyCaches.unknown.set(stored.hash, true, now);
}

/**
 * Make a record just written back to KV agree with the revocation log; returns the record as KV
 * now holds it, or null when the key is gone.
 *
 * Why: an edit, or a rotation retiring a key, reads the record and writes it back whole, and KV
 * has no compare-and-swap: a DELETE (or rotation, or kill switch) landing between the read and
 * the write would be undone (the key listed and working again, or a grace period's end dropped).
 * The log is strongly consistent, and every revocation is appended to it BEFORE its KV change.
 * So a writer that asks the log AFTER its own write either sees the entry and re-applies it here
 * (deletes the entries again, or restores the end), or the entry was appended after our write had
 * finished, and the revoker's own KV change then lands after ours. Either way KV ends revoked,
 * whatever the timing: no lock to expire under a slow writer, and no extra cost for DELETE.
 * The operator CLI's sink cannot ask the log, so its calls are not covered (docs/api-keys.md).
 */
async function settle(deps: KeyServiceDeps, written: StoredKey, onLogUnavailable?: () => Promise<StoredKey | null>): Promise<StoredKey | null> {
  if (!deps.revocations?.refusedFrom) return written;
  let from: number | null;
  try {
    from = await deps.revocations.refusedFrom(written);
  } catch (error) {
    // The write-back that undoes ours is as blind as ours was: a revocation logged before it
    // (a kill switch, a DELETE) may already have removed the key, and it would come back listed
    // but refused until the log's sweep. So ask the log again AFTER it, by the same argument,
    // and apply what the log says; the call still answers 503 (its change did not happen).
    const restored = await onLogUnavailable?.();
    if (restored) await settleAgain(deps, restored);
    throw error;
  }
  return applyRefusal(deps, written, from);
}

/** Asks the log about a record again, up to `SETTLE_RETRIES` times; a log that never answers leaves it to the sweep. */
const SETTLE_RETRIES = 2;
async function settleAgain(deps: KeyServiceDeps, written: StoredKey): Promise<void> {
  for (let attempt = 0; attempt < SETTLE_RETRIES; attempt++) {
    let from: number | null;
    try {
      from = await deps.revocations!.refusedFrom!(written);
    } catch (cause) {
      logWarning("edit_resettle_failed", written.id, cause);
      continue;
    }
    await applyRefusal(deps, written, from);
    return;
  }
}

async function applyRefusal(deps: KeyServiceDeps, written: StoredKey, from: number | null): Promise<StoredKey | null> {
  if (from === null) return written;
  if (from <= clock(deps)) {
    await removeKey(deps, written);
    return null;
  }
  if (written.expires_at !== undefined && Date.parse(written.expires_at) <= from) return written;
  const ended = await deps.store.expire(written, iso(from));
  forgetKey(written.hash);
  return ended;
}

/**
 * True when the log refuses `stored` already, before `end` (a delete or kill switch since it was
 * read). Asked after the rotation's own entry is in the log, so the same ordering as `settle`
 * holds. A log that cannot answer is not a reason to undo a recorded rotation: `retire` asks again.
 * Rotation entries do not count: an earlier rotation of this key whose append landed unheard (503,
 * outcome unknown) must not make its retry a 404 (docs/api-keys.md).
 */
async function revokedMeanwhile(deps: KeyServiceDeps, stored: StoredKey, end: number): Promise<boolean> {
  if (!deps.revocations?.refusedFrom) return false;
  try {
    const from = await deps.revocations.refusedFrom(stored, { exceptReason: "rotate" });
    return from !== null && from < end && from <= clock(deps);
  } catch (cause) {
    logWarning("rotation_recheck_failed", stored.id, cause);
    return false;
  }
}

/** When a rotated key stops: now (grace 0) or at the end of its grace period, never later than an earlier end. */
function retirementEnd(stored: StoredKey, graceSeconds: number, now: number): number {
  if (graceSeconds === 0) return now;
  return Math.min(now + graceSeconds * 1000, stored.expires_at ? Date.parse(stored.expires_at) : Infinity);
}

/**
 * End an old key in KV at `end` (past: delete; ahead: grace period, naming its successor so that it
 * is never rotated again); null when the store failed.
 */
async function retire(deps: KeyServiceDeps, stored: StoredKey, end: number, successorId: string): Promise<string | null> {
  try {
    if (end <= clock(deps)) {
      await removeKey(deps, stored);
      return iso(end);
    }
    const expired = await deps.store.expire(stored, iso(end), successorId);
    forgetKey(stored.hash);
    // `stored` was read before the rotation: a delete since then must not be undone by this write.
    const settled = await settle(deps, expired);
    return settled?.expires_at ?? iso(Math.min(end, clock(deps)));
  } catch (cause) {
    // The log already refuses it everywhere; KV still lists it until it is deleted. The store may
    // hold the new end already: this isolate must not keep trusting its older copy (chaos run).
    forgetKey(stored.hash);
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

/**
 * Create a key; refuses (403 `scope_escalation`) a scope the actor does not hold and (403
 * `rate_limit_escalation`) a rate-limit tier above the actor's own.
 */
export async function createKey(deps: KeyServiceDeps, actor: Actor, input: CreateInput): Promise<CreatedKey> {
  await requireGrantable(deps, actor, input.scopes, { operation: "create", keyId: null });
  const rateLimit = input.rateLimit ?? defaultTierFor(tiersOf(deps), ceilingOf(actor));
  requireTier(deps, actor, rateLimit);
  await requireRoomForKey(deps, actor.orgId);
  const issued = await prepare(deps, actor, input.name, input.scopes, {
    rateLimit,
    ...(input.allowBrowser === true ? { allowBrowser: true } : {}),
    ...(input.expiresAt ? { expiresAt: input.expiresAt } : {}),
    ...(input.metadata ? { metadata: input.metadata } : {}),
  });
  const event: AuditEvent = { action: "key.created", orgId: actor.orgId, keyId: issued.stored.id, after: created(issued.stored) };
  await audited(deps, [event], async () => {
    await store(deps, issued);
    await requireNotKilled(deps, [issued.stored]);
  });
  return issued.created;
}

/**
 * Refuse (409 `organization_keys_revoked`, the keys taken back) new keys that the organisation
 * kill switch refuses: a switch that listed the organisation's keys while one was half written
 * (its id and index entries, not yet its hash entry) deleted those and missed the hash entry,
 * leaving a key unlisted that would work again once the log forgot the switch (chaos run). Asked
 * after the keys are written, like `settle`; a log that cannot answer takes them back too (503).
 */
async function requireNotKilled(deps: KeyServiceDeps, issued: readonly StoredKey[]): Promise<void> {
  if (!deps.revocations?.refusedFrom || issued.length === 0) return;
  const takeBack = () => Promise.allSettled(issued.map((stored) => removeKey(deps, stored))).then(() => undefined);
  // The earliest creation time: the switch refuses every key created before its instant.
  const earliest = issued.reduce((a, b) => (Date.parse(a.created_at) <= Date.parse(b.created_at) ? a : b));
  let from: number | null;
  try {
    from = await deps.revocations.refusedFrom(earliest);
  } catch (error) {
    await takeBack();
    throw error;
  }
  if (from === null) return;
  await takeBack();
  throw new GatewayError("organization_keys_revoked", {
    detail: "Every key of your organization was revoked while this one was being made; it was not created. Try again.",
  });
}

/**
 * Edit a key's name, scopes or metadata. Scopes follow `widenedBeyond`'s rule (403 otherwise). A
 * change of scopes is written to the revocation log first (503, nothing changed, if it cannot be)
 * and takes effect in this isolate at once and everywhere within the revocation bound
 * (docs/api-keys.md).
 */
export async function updateKey(deps: KeyServiceDeps, actor: Actor, id: string, input: UpdateInput): Promise<KeyView> {
  const stored = await findOwned(deps, actor.orgId, id);
  if (!stored) throw keyNotFound();
  if (input.scopes) {
    const missing = widenedBeyond(actor.scopes, stored.scopes, input.scopes);
    await refuseUnless(deps, actor, missing, { operation: "update", keyId: stored.id, scopes: input.scopes });
  }
  const now = clock(deps);
  const { metadata: _old, ...rest } = stored;
  const metadata = input.metadata === undefined ? stored.metadata : (input.metadata ?? undefined);
  const updated: StoredKey = {
    ...rest,
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.scopes !== undefined ? { scopes: input.scopes } : {}),
    ...(metadata ? { metadata } : {}),
    updated_at: iso(now),
  };
  const event: AuditEvent = { action: "key.updated", orgId: actor.orgId, keyId: stored.id, before: editable(stored), after: editable(updated) };
  const regrant: RevocationInput[] =
    input.scopes && !sameScopes(stored.scopes, input.scopes)
      ? [{ kind: "grants", subject: stored.hash, not_after: now, grants: [...input.scopes], reason: "edit", key_id: stored.id }]
      : [];
  const settled = await audited(deps, [event], async () => {
    await recordRevocations(deps, regrant);
    await deps.store.update(updated);
    // A delete or rotation since `findOwned` read the key must win over this write (see `settle`).
    // If the log cannot say whether one did: the record goes back as it was read, and 503.
    const restore = () =>
      deps.store.update(stored).then(
        () => stored,
        (cause: unknown) => (logWarning("edit_restore_failed", stored.id, cause), updated),
      );
    const result = await settle(deps, updated, restore);
    // Deleted meanwhile: as if the edit had come after the delete (its audit row is taken back).
    if (!result) throw keyNotFound();
    return result;
  });
  forgetKey(stored.hash);
  const lastUsed = await deps.store.lastUsed([stored.id]);
  return view(settled, lastUsed.get(stored.id) ?? null);
}

const sameScopes = (a: readonly string[], b: readonly string[]) => {
  const x = sortScopes(expandScopes(a));
  const y = sortScopes(expandScopes(b));
  return x.length === y.length && x.every((s, i) => s === y[i]);
};

/** One page of the organisation's keys, newest first, with `last_used_at`. */
export async function listKeys(deps: KeyServiceDeps, orgId: string, input: ListInput): Promise<KeyList> {
  const kvCursor = input.cursor === undefined ? undefined : await decodeCursor(deps, orgId, input.cursor);
  const page = await deps.store.listOrg(orgId, input.limit, kvCursor);
  const now = clock(deps);
  const live = page.records.filter((record) => !isExpired(record, now));
  const ids = live.map((r) => r.id);
  const [lastUsed, requests] = await Promise.all([
    live.length ? deps.store.lastUsed(ids) : new Map<string, string | null>(),
    live.length ? usageOrNull(deps, (usage) => usage.totals(orgId, ids, usageSince(now))) : null,
  ]);
  return {
    data: live.map((record) => {
      const used = lastUsed.get(record.id) ?? null;
      return { ...view(record, used), requests_30d: requests?.get(record.id) ?? null, stale: isStale(used, record.created_at, now) };
    }),
    next_cursor: page.cursor === undefined ? null : await encodeCursor(deps, orgId, page.cursor),
  };
}

/** One key of the organisation, or 404 `key_not_found`. */
export async function getKey(deps: KeyServiceDeps, orgId: string, id: string): Promise<KeyDetail> {
  const stored = await findOwned(deps, orgId, id);
  if (!stored) throw keyNotFound();
  const now = clock(deps);
  const [lastUsed, summary] = await Promise.all([
    deps.store.lastUsed([stored.id]),
    usageOrNull(deps, (usage) => usage.summary(orgId, stored.id, usageSince(now))),
  ]);
  const used = lastUsed.get(stored.id) ?? null;
  const scopes = summary ? usedScopes(summary.scopes) : null;
  return {
    ...view(stored, used),
    requests_30d: summary?.requests ?? null,
    stale: isStale(used, stored.created_at, now),
    scopes_used_30d: scopes,
    suggested_scopes: scopes ? suggestedScopes(scopes) : null,
  };
}

/** Usage figures cover the last 30 days, whole hours. */
const usageSince = (now: number) => hourOf(now - USAGE_WINDOW_MS);
const USAGE_WINDOW_MS = 30 * 24 * 3_600_000;

/** A usage read, or null when usage is not wired (the CLI) or unavailable (logged): list and get still answer. */
async function usageOrNull<T>(deps: KeyServiceDeps, read: (usage: UsageStore) => Promise<T>): Promise<T | null> {
  if (!deps.usage) return null;
  try {
    return await read(deps.usage);
  } catch (cause) {
    logWarning("usage_read_failed", "-", cause);
    return null;
  }
}

/** The hourly usage of one key of the organisation in [from, to), or 404 `key_not_found`. */
export async function keyUsage(deps: KeyServiceDeps, orgId: string, id: string, from: number, to: number): Promise<UsageSeries> {
  const stored = await findOwned(deps, orgId, id);
  if (!stored) throw keyNotFound();
  if (!deps.usage) throw new GatewayError("usage_unavailable", { detail: "Usage figures are unavailable here." });
  const points = await deps.usage.series(orgId, stored.id, from, to);
  return {
    key_id: stored.id,
    from: iso(from),
    to: iso(to),
    granularity: "hour",
    data: points.map((p) => ({
      hour: iso(p.hour),
      requests: p.allowed + p.refused_scope + p.rate_limited,
      allowed: p.allowed,
      refused_scope: p.refused_scope,
      rate_limited: p.rate_limited,
      scopes: p.scopes,
    })),
  };
}

/** A key's usage series: hours with at least one request, oldest first (absent hours had none). */
export interface UsageSeries {
  readonly key_id: string;
  readonly from: string;
  readonly to: string;
  readonly granularity: "hour";
  readonly data: {
    readonly hour: string;
    readonly requests: number;
    readonly allowed: number;
    readonly refused_scope: number;
    readonly rate_limited: number;
    readonly scopes: Record<string, number>;
  }[];
}

/**
 * Delete a key of the organisation: audit log, then revocation log (503, nothing done, if either
 * cannot be written), then KV. Refused everywhere within the revocation bound (docs/api-keys.md).
 */
export async function deleteKey(deps: KeyServiceDeps, orgId: string, id: string): Promise<void> {
  const stored = await findOwned(deps, orgId, id);
  if (!stored) throw keyNotFound();
  await audited(deps, [{ action: "key.deleted", orgId, keyId: stored.id, before: created(stored) }], async () => {
    await recordRevocations(deps, [revocation(stored, clock(deps), "delete")]);
    await removeKey(deps, stored);
  });
}

/**
 * Replace a key by a new one with the same name, scopes and rate-limit tier. The old key is
 * deleted, or keeps working for `graceSeconds`. The actor must hold the key's scopes and a tier at
 * least the key's (rotation mints a new key).
 */
export async function rotateKey(deps: KeyServiceDeps, actor: Actor, id: string, graceSeconds: number): Promise<RotatedKey> {
  const stored = await findOwned(deps, actor.orgId, id);
  if (!stored) throw keyNotFound();
  // Rotating a key in its grace period again would mint another non-expiring successor each time.
  if (hasSuccessor(stored)) throw alreadyRotated(stored);
  await requireGrantable(deps, actor, stored.scopes, { operation: "rotate", keyId: stored.id });
  requireTier(deps, actor, keyTier(stored.rate_limit), true);
  const issued = await prepare(deps, actor, stored.name, stored.scopes, inherited(stored));
  const end = retirementEnd(stored, graceSeconds, clock(deps));
  await audited(deps, rotationEvents("key.rotated", actor.orgId, stored, issued, graceSeconds), async () => {
    await store(deps, issued);
    await recordRevocations(deps, [revocation(stored, end, "rotate")], () => deps.store.remove(issued.stored));
    if (await revokedMeanwhile(deps, stored, end)) {
      // Deleted since `findOwned` read it: no successor for a deleted key (and no audit rows).
      await deps.store.remove(issued.stored);
      throw keyNotFound();
    }
  });
  const oldKeyExpiresAt = await retire(deps, stored, end, issued.stored.id);
  return { ...issued.created, old_id: stored.id, old_key_expires_at: oldKeyExpiresAt };
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
  const rotatedAlready = olds.flatMap((old, i) =>
    hasSuccessor(old) ? [{ field: `ids[${i}]`, message: "was already rotated; rotate its successor instead", successor_id: old.rotated_to ?? null }] : [],
  );
  if (rotatedAlready.length) {
    throw new GatewayError("already_rotated", {
      detail: "Some of these keys were already rotated (nothing was rotated); `errors` names each key's successor.",
      extra: { errors: rotatedAlready },
    });
  }
  await requireGrantable(deps, actor, olds.flatMap((stored) => stored.scopes), { operation: "bulk_rotate", keyId: null });
  for (const old of olds) requireTier(deps, actor, keyTier(old.rate_limit), true);

  const prepared = await Promise.all(olds.map((old) => prepare(deps, actor, old.name, old.scopes, inherited(old))));
  const events = olds.flatMap((old, i) => rotationEvents("key.bulk_rotated", actor.orgId, old, prepared[i]!, graceSeconds));
  const issued: Issued[] = [];
  const endsAt = olds.map((old) => retirementEnd(old, graceSeconds, clock(deps)));
  await audited(deps, events, async () => {
    const removeIssued = () => Promise.allSettled(issued.map(({ stored }) => deps.store.remove(stored)));
    try {
      for (let i = 0; i < prepared.length; i += BULK_CONCURRENCY) {
        const batch = prepared.slice(i, i + BULK_CONCURRENCY);
        const results = await Promise.allSettled(batch.map((p) => store(deps, p)));
        for (const result of results) if (result.status === "fulfilled") issued.push(result.value);
        const failed = results.find((result) => result.status === "rejected");
        if (failed) throw failed.reason;
      }
      await requireNotKilled(deps, issued.map(({ stored }) => stored));
    } catch (error) {
      await removeIssued();
      throw error;
    }
    await recordRevocations(deps, olds.map((old, i) => revocation(old, endsAt[i]!, "rotate")), removeIssued);
  });

  const rotated: RotatedKey[] = [];
  for (let i = 0; i < olds.length; i += BULK_CONCURRENCY) {
    const batch = olds.slice(i, i + BULK_CONCURRENCY);
    const ends = await Promise.all(batch.map((old, j) => retire(deps, old, endsAt[i + j]!, issued[i + j]!.stored.id)));
    batch.forEach((old, j) => rotated.push({ ...issued[i + j]!.created, old_id: old.id, old_key_expires_at: ends[j] ?? null }));
  }
  return rotated;
}

/** A rotation's rows: the old key rotated (naming its successor), the new key created from it. */
function rotationEvents(action: "key.rotated" | "key.bulk_rotated", orgId: string, old: StoredKey, issued: Issued, graceSeconds: number): AuditEvent[] {
  return [
    { action, orgId, keyId: old.id, before: created(old), detail: { new_key_id: issued.stored.id, grace_period_seconds: graceSeconds } },
    { action: "key.created", orgId, keyId: issued.stored.id, after: created(issued.stored), detail: { rotated_from: old.id } },
  ];
}

/** Most keys one leaked-key report may name. */
export const MAX_LEAKED_KEYS = 1000;

/**
 * Revoke leaked keys reported by anyone who holds them (`POST /v1/chat/api-keys/revoke`): the
 * keys that exist are written to the revocation log (reason `leaked`), recorded in the audit log
 * of their organisation, and deleted from KV. Returns how many existed, for the logs only: the
 * caller is never told.
 */
export async function revokeLeakedKeys(deps: KeyServiceDeps, hashes: readonly string[]): Promise<number> {
  const now = clock(deps);
  const found = (await deps.store.findByHashes([...new Set(hashes)])).filter((stored) => !isExpired(stored, now));
  if (found.length === 0) return 0;
  try {
    await recordRevocations(deps, found.map((stored) => revocation(stored, now, "leaked")));
  } catch (cause) {
    // Nobody to answer 503 to: delete from KV all the same (the KV bound instead of the feed's).
    logWarning("leaked_key_log_failed", found[0]!.id, cause);
  }
  try {
    await deps.audit?.record(
      found.map((stored) => ({ action: "key.leak_revoked" as const, orgId: stored.org_id, keyId: stored.id, before: created(stored), detail: { reason: "leaked_key_report" } })),
    );
  } catch (cause) {
    // The key is revoked all the same: a leaked key matters more than its audit row (logged).
    logWarning("leaked_key_audit_failed", found[0]!.id, cause);
  }
  for (let i = 0; i < found.length; i += BULK_CONCURRENCY) {
    const results = await Promise.allSettled(found.slice(i, i + BULK_CONCURRENCY).map((stored) => removeKey(deps, stored)));
    // The log already refuses them everywhere; a record left in KV stays listed until deleted.
    results.forEach((r, j) => r.status === "rejected" && logWarning("leaked_key_cleanup_failed", found[i + j]!.id, r.reason));
  }
  return found.length;
}

/** What the organisation kill switch did. */
export interface OrganizationRevocation {
  readonly org_id: string;
  /** Every key created before this instant is refused everywhere within the revocation bound. */
  readonly revoked_before: string;
  readonly keys_deleted: number;
}

/**
 * The organisation kill switch: one log entry refuses every key the organisation has now
 * (reason `org`), then each is audited and deleted from KV. 503 with nothing changed if the log
 * cannot be written; a KV failure part-way is 503 `key_store_unavailable` with every key already
 * refused (repeat the call to finish the clean-up).
 */
export async function revokeOrganization(deps: KeyServiceDeps, actor: Actor): Promise<OrganizationRevocation> {
  const orgId = actor.orgId;
  const now = clock(deps);
  // Audited first, like every change: an audit log that cannot take the row stops the kill switch (503).
  const event: AuditEvent = { action: "org.keys_revoked", orgId, keyId: null, detail: { revoked_before: iso(now) } };
  await audited(deps, [event], () => recordRevocations(deps, [{ kind: "org", subject: orgId, not_after: now, reason: "org" }]));
  let deleted = 0;
  let cursor: string | undefined;
  do {
    const page = await deps.store.listOrg(orgId, 100, cursor);
    cursor = page.cursor;
    const ids = page.records.filter((r) => Date.parse(r.created_at) <= now).map((r) => r.id);
    const stored = (await deps.store.findByIds(ids)).filter((s): s is StoredKey => s !== null && s.org_id === orgId);
    if (stored.length === 0) continue;
    const events = stored.map((s) => ({ action: "key.deleted" as const, orgId, keyId: s.id, before: created(s), detail: { reason: "organization_revoked" } }));
    await audited(deps, events, async () => {
      // Each key by its hash too: a writer that read a key before the switch and writes it back
      // after may leave its hash entry without its listing, where the log's sweep of the switch's
      // entry (which reads the organisation's index) cannot find it; a key entry it can (chaos run).
      await recordRevocations(deps, stored.map((s) => revocation(s, now, "org")));
      for (let i = 0; i < stored.length; i += BULK_CONCURRENCY) {
        await Promise.all(stored.slice(i, i + BULK_CONCURRENCY).map((s) => removeKey(deps, s)));
      }
    });
    deleted += stored.length;
  } while (cursor);
  return { org_id: orgId, revoked_before: iso(now), keys_deleted: deleted };
}
