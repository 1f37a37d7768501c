/**
 * API key verification at the edge. In order, cheapest first:
 * format and checksum (no I/O) → HMAC → the revocation feed's timestamp check (a look at the
 * location's copy behind the response, at most once per `API_KEY_REVOCATION_CHECK_MS`) → this
 * isolate's caches (verified LRU, unknown LRU) → one KV read on a miss → expiry → the feed's
 * verdict (Map lookups: a delete, a rotation's end, an organisation's kill switch, an edit's new
 * grants).
 * A warm key costs no I/O at all; an unknown key at most one KV read per 30 s per isolate; a key
 * with a bad checksum none at all. KV failing is 503 `key_store_unavailable`, never a pass.
 */
import { GatewayError } from "../errors";
import { forgetKey, type KeyCaches, type VerifiedKey } from "../keys/cache";
import { checkKeyFormat, type KeyFormatError } from "../keys/format";
import { hashKey } from "../keys/hash";
import { type KeyRecord, KeyStore, kvFromBinding } from "../keys/store";
import { feedDue, feedFor, type RevocationFeed } from "../revocation/feed";
import { bindStreams } from "../proxy/streams";
import { expandScopes } from "../scopes";
import type { VerifierDeps } from "./deps";
import type { Principal } from "./principal";

const FORMAT_DETAILS: Readonly<Record<KeyFormatError, string>> = {
  malformed: "The API key is malformed.",
  wrong_environment: "The API key belongs to another environment.",
  bad_checksum: "The API key's checksum does not match; check that it was copied whole.",
};

const UNKNOWN = "The API key is not valid; it may have been deleted or rotated.";
const EXPIRED_BY_ROTATION = "The API key has expired: it was rotated and its grace period is over.";
const expired = (record: KeyRecord) =>
  record.expired_by === "rotation" ? EXPIRED_BY_ROTATION : `The API key expired at ${record.expires_at}; create a new one.`;

const invalid = (detail: string) => new GatewayError("invalid_api_key", { detail });

/** Verify an `x-api-key` value and return its principal; 401 `invalid_api_key` for anything not valid. */
export async function verifyApiKey(key: string, deps: VerifierDeps): Promise<Principal> {
  const { issuePrefix, pepper } = deps.config.apiKeys;
  const format = checkKeyFormat(key, issuePrefix);
  if (!format.ok) throw invalid(FORMAT_DETAILS[format.error]);

  const hash = await hashKey(key, pepper);
  const feed = feedFor(deps.env, deps.config);
  const { keyCaches } = feed;
  const now = feed.now();
  // Warm: a comparison. An idle or new isolate waits for one look at its location's copy.
  const look = feed.beforeVerify(now, deps.ctx);
  if (look) await look;
  let verified = keyCaches.verified.get(hash, now);
  if (!verified) {
    if (keyCaches.unknown.get(hash, now)) throw invalid(UNKNOWN);
    const record = await findRecord(hash, deps);
    if (!record) {
      keyCaches.unknown.set(hash, true, now);
      throw invalid(UNKNOWN);
    }
    verified = toVerified(record);
    keyCaches.verified.set(hash, verified, now);
    bindKeyStreams(verified.principal, hash, record, feed);
  }

  const { record } = verified;
  if (record.expires_at !== undefined && now >= Date.parse(record.expires_at)) throw invalid(expired(record));
  // A revocation the feed brought wins over any copy of the record in this isolate or in KV's
  // edge cache (which may serve a deleted record for a minute or more).
  if (feed.isRevoked(hash, record, now)) {
    forgetKey(hash, keyCaches);
    keyCaches.unknown.set(hash, true, now);
    throw invalid(UNKNOWN);
  }
  // An edit's new grants replace those of any older copy of the record.
  const regrant = feed.grantsOf(hash);
  if (regrant && regrant.changedAt > editedAt(record) && regrant.changedAt !== verified.grantsChangedAt) {
    verified.principal = { ...verified.principal, scopes: expandScopes(regrant.grants) };
    verified.grantsChangedAt = regrant.changedAt;
    bindKeyStreams(verified.principal, hash, record, feed);
  }

  recordUse(record, deps, keyCaches, now);
  return verified.principal;
}

// KV lookups in flight, by hash: concurrent requests with the same uncached key share one read,
// so a burst of one unknown key costs one KV read, not one per request. Entries live only while
// the read is pending, so the map is bounded by the isolate's concurrent requests.
const lookups = new Map<string, Promise<KeyRecord | null>>();

function findRecord(hash: string, deps: VerifierDeps): Promise<KeyRecord | null> {
  let pending = lookups.get(hash);
  if (!pending) {
    pending = new KeyStore(kvFromBinding(deps.env.API_KEYS)).findByHash(hash).finally(() => lookups.delete(hash));
    lookups.set(hash, pending);
    // Keep the starting request's context alive until the read settles, so requests that share
    // it are never left waiting on I/O cancelled with a request that finished or went away.
    deps.ctx.waitUntil(pending.then(noop, noop));
  }
  return pending;
}

const noop = () => undefined;

function toVerified(record: KeyRecord): VerifiedKey {
  return {
    record,
    principal: {
      orgId: record.org_id,
      subject: record.id,
      method: "api_key",
      scopes: expandScopes(record.scopes),
      ...(record.allow_browser === true ? { allowBrowser: true as const } : {}),
      ...(record.rate_limit !== undefined ? { rateLimitTier: record.rate_limit } : {}),
    },
  };
}

/** A stream carried for this key ends when the feed revokes it (src/proxy/streams.ts). */
function bindKeyStreams(principal: Principal, hash: string, record: KeyRecord, feed: RevocationFeed): void {
  bindStreams(principal, {
    revoked: () => feed.isRevoked(hash, record, feed.now()),
    // An edit the feed brought after this record was read: the key's scopes now.
    scopes: () => {
      const regrant = feed.grantsOf(hash);
      return regrant && regrant.changedAt > editedAt(record) ? expandScopes(regrant.grants) : undefined;
    },
    refresh: () => (feedDue(feed.now(), feed.checkedAt, feed.config.checkMs) === "fresh" || !feed.config.feed ? Promise.resolve() : feed.refresh()),
  });
}

const editedAt = (record: KeyRecord) => (record.updated_at === undefined ? Number.NEGATIVE_INFINITY : Date.parse(record.updated_at));

/** Write `last_used_at` behind the response, at most once per key per minute from this isolate. */
function recordUse(record: KeyRecord, deps: VerifierDeps, keyCaches: KeyCaches, now: number): void {
  if (keyCaches.lastUsedWritten.get(record.id, now) !== undefined) return;
  keyCaches.lastUsedWritten.set(record.id, now, now);
  const write = new KeyStore(kvFromBinding(deps.env.API_KEYS)).touch(record, new Date(now).toISOString()).catch((cause: unknown) => {
    // Losing one write only delays `last_used_at`; let the next minute's use try again.
    keyCaches.lastUsedWritten.delete(record.id);
    const kind = cause instanceof GatewayError ? cause.code : "unknown";
    console.warn(JSON.stringify({ level: "warn", event: "last_used_write_failed", key_id: record.id, cause: kind }));
  });
  deps.ctx.waitUntil(write);
}
