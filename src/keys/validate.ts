/**
 * Input checks of the key management API: pure functions from parsed JSON (or query strings) to
 * a typed value or the list of `{field, message}` errors a 400 `validation_failed` carries.
 */
import { isTierName } from "../ratelimit/policy";
import { isValidGrant } from "../scopes";

/** One problem with one field of the input. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** The outcome of a check: the value, or every error found. */
export type Checked<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Longest key name, in characters. */
export const MAX_NAME_LENGTH = 100;
/** Most grants a key may list (the grammar has fewer distinct grants than this). */
export const MAX_SCOPES = 32;
/** Most ids in one bulk rotation. */
export const MAX_BULK_ROTATE = 100;
/** Longest rotation grace period: 30 days, in seconds. */
export const MAX_GRACE_PERIOD_SECONDS = 30 * 24 * 3600;
/** Default and largest page size of the list call. */
export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST_LIMIT = 100;

/** Largest `metadata`, serialised as JSON, in UTF-8 bytes. */
export const MAX_METADATA_BYTES = 1024;
/** Latest `expires_at` a key may be given, from now: 10 years, in ms. */
export const MAX_EXPIRY_MS = 3650 * 24 * 3600 * 1000;
/** Earliest `expires_at`, from now: a minute (KV cannot expire entries sooner), in ms. */
export const MIN_EXPIRY_MS = 60_000;

/** Free-form key metadata: a JSON object of at most `MAX_METADATA_BYTES`. */
export type KeyMetadata = Record<string, unknown>;

/** A request to create a key. */
export interface CreateInput {
  readonly name: string;
  readonly scopes: string[];
  /** Opt-in: the key may be sent by a browser (default false). */
  readonly allowBrowser?: boolean;
  /** When the key stops working (ISO 8601, normalised to UTC), or undefined for never. */
  readonly expiresAt?: string;
  readonly metadata?: KeyMetadata;
  /** Rate-limit tier asked for (`rate_limit`); the service checks it is configured and grantable. */
  readonly rateLimit?: string;
}

/** A request to edit a key: at least one field. `metadata: null` removes it. */
export interface UpdateInput {
  readonly name?: string;
  readonly scopes?: string[];
  readonly metadata?: KeyMetadata | null;
}

/** A request to rotate one key. */
export interface RotateInput {
  /** Seconds the old key keeps working; 0 ends it at once. */
  readonly gracePeriodSeconds: number;
}

/** A request to rotate several keys. */
export interface BulkRotateInput extends RotateInput {
  readonly ids: string[];
}

/** A list request. */
export interface ListInput {
  readonly limit: number;
  readonly cursor: string | undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

// What has no place in a display name read by people deciding which key to delete: control
// characters (Cc), format characters (Cf: right-to-left override, zero-width space and joiners,
// BOM…), lone surrogates (Cs), unassigned code points (Cn), and line/paragraph separators.
const SPOOFING = /[\p{Cc}\p{Cf}\p{Cs}\p{Cn}\u2028\u2029]/u;
// The format characters that emoji are made of, removed before that check: a zero-width joiner
// between two pictographs (👩‍💻, 👨‍👩‍👧, optionally after a skin tone or VS16), and the tag
// sequence of a subdivision flag (🏴 + tags + cancel tag).
const EMOJI_JOINER = /(?<=\p{Extended_Pictographic}[\u{1F3FB}-\u{1F3FF}\uFE0F]?)\u200D(?=\p{Extended_Pictographic})/gu;
const FLAG_TAGS = /\u{1F3F4}[\u{E0020}-\u{E007E}]+\u{E007F}/gu;

/** The first code point of `name` that could spoof what a reader sees, as `U+XXXX`, or undefined. */
export function spoofingCharacter(name: string): string | undefined {
  const found = SPOOFING.exec(name.replace(FLAG_TAGS, "\u{1F3F4}").replace(EMOJI_JOINER, ""));
  return found ? `U+${found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}` : undefined;
}

function unknownFields(body: Record<string, unknown>, allowed: readonly string[]): FieldError[] {
  return Object.keys(body)
    .filter((field) => !allowed.includes(field))
    .map((field) => ({ field, message: "is not a known field" }));
}

function checkName(value: unknown, errors: FieldError[]): string {
  if (value === undefined) {
    errors.push({ field: "name", message: "is required" });
    return "";
  }
  if (typeof value !== "string") {
    errors.push({ field: "name", message: "must be a string" });
    return "";
  }
  const name = value.trim();
  if (name === "") errors.push({ field: "name", message: "must not be empty" });
  else if ([...name].length > MAX_NAME_LENGTH) errors.push({ field: "name", message: `must be at most ${MAX_NAME_LENGTH} characters` });
  else {
    const found = spoofingCharacter(name);
    if (found) errors.push({ field: "name", message: `must not contain control, format, surrogate or unassigned characters (found ${found})` });
  }
  return name;
}

function checkScopes(value: unknown, errors: FieldError[]): string[] {
  if (value === undefined) {
    errors.push({ field: "scopes", message: "is required" });
    return [];
  }
  if (!Array.isArray(value)) {
    errors.push({ field: "scopes", message: "must be an array of scopes" });
    return [];
  }
  if (value.length === 0) {
    errors.push({ field: "scopes", message: "must list at least one scope" });
    return [];
  }
  if (value.length > MAX_SCOPES) {
    errors.push({ field: "scopes", message: `must list at most ${MAX_SCOPES} scopes` });
    return [];
  }
  const scopes: string[] = [];
  value.forEach((grant, i) => {
    if (typeof grant !== "string") errors.push({ field: `scopes[${i}]`, message: "must be a string" });
    else if (!isValidGrant(grant)) errors.push({ field: `scopes[${i}]`, message: "is not a known scope or preset" });
    else if (!scopes.includes(grant)) scopes.push(grant);
  });
  return scopes;
}

function checkGrace(value: unknown, errors: FieldError[]): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    errors.push({ field: "grace_period_seconds", message: "must be an integer number of seconds" });
    return 0;
  }
  if (value < 0 || value > MAX_GRACE_PERIOD_SECONDS) {
    errors.push({ field: "grace_period_seconds", message: `must be between 0 and ${MAX_GRACE_PERIOD_SECONDS}` });
    return 0;
  }
  return value;
}

// RFC 3339 date-time with an explicit offset (no local times: a key must end at one instant).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))$/i;

const daysInMonth = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

/**
 * Epoch ms of an RFC 3339 date-time with a time zone, or NaN when it is not one or names an
 * impossible date or time: `Date.parse` would shift "2027-02-31T24:00:00Z" to March 4 instead of
 * refusing it. Refused: month 0 or 13+, a day past its month's end (February 29 outside leap
 * years), hour 24, minute or second 60 — leap seconds too (RFC 3339 allows :60, but no clock here
 * can name that instant, and a key's end never needs it) — and offsets beyond ±23:59.
 */
export function parseRfc3339(value: string): number {
  const m = RFC3339.exec(value);
  if (!m) return NaN;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const [offsetHours, offsetMinutes] = [m[8] === undefined ? 0 : Number(m[8]), m[9] === undefined ? 0 : Number(m[9])];
  const real =
    month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) && hour <= 23 && minute <= 59 && second <= 59 && offsetHours <= 23 && offsetMinutes <= 59;
  return real ? Date.parse(value) : NaN;
}

/** RFC 3339's shape without a real date or time behind it (e.g. February 30, hour 24). */
const isImpossible = (value: string) => RFC3339.test(value) && Number.isNaN(parseRfc3339(value));

function checkExpiresAt(value: unknown, now: number, errors: FieldError[]): string | undefined {
  if (value === undefined || value === null) return undefined;
  const at = typeof value === "string" ? parseRfc3339(value) : NaN;
  if (!Number.isFinite(at)) {
    errors.push({
      field: "expires_at",
      message:
        typeof value === "string" && isImpossible(value)
          ? "is not a real date and time (a day past the end of its month, hour 24, minute or second 60)"
          : "must be an RFC 3339 date-time with a time zone, e.g. 2027-01-31T00:00:00Z",
    });
    return undefined;
  }
  if (at < now + MIN_EXPIRY_MS) errors.push({ field: "expires_at", message: "must be at least a minute in the future" });
  else if (at > now + MAX_EXPIRY_MS) errors.push({ field: "expires_at", message: "must be at most 10 years in the future" });
  return new Date(at).toISOString();
}

/** UTF-8 length of a string. */
const utf8Bytes = (text: string) => new TextEncoder().encode(text).byteLength;

function checkMetadata(value: unknown, errors: FieldError[]): KeyMetadata | undefined {
  if (!isObject(value)) {
    errors.push({ field: "metadata", message: "must be a JSON object" });
    return undefined;
  }
  if (utf8Bytes(JSON.stringify(value)) > MAX_METADATA_BYTES) {
    errors.push({ field: "metadata", message: `must be at most ${MAX_METADATA_BYTES} bytes as JSON` });
    return undefined;
  }
  return value;
}

const notObject: FieldError = { field: "body", message: "must be a JSON object" };

/**
 * Check a create request: `{name, scopes, allow_browser?, expires_at?, metadata?}`. Scopes are de-duplicated, in
 * the order given; `expires_at` must lie between a minute and 10 years after `now`.
 */
export function checkCreateInput(body: unknown, now = Date.now()): Checked<CreateInput> {
  if (!isObject(body)) return { ok: false, errors: [notObject] };
  const errors = unknownFields(body, ["name", "scopes", "allow_browser", "expires_at", "metadata", "rate_limit"]);
  const name = checkName(body["name"], errors);
  const scopes = checkScopes(body["scopes"], errors);
  const allowBrowser = body["allow_browser"] ?? false;
  if (typeof allowBrowser !== "boolean") errors.push({ field: "allow_browser", message: "must be true or false" });
  const expiresAt = checkExpiresAt(body["expires_at"], now, errors);
  const metadata = body["metadata"] === undefined || body["metadata"] === null ? undefined : checkMetadata(body["metadata"], errors);
  const rateLimit = body["rate_limit"];
  if (rateLimit !== undefined && (typeof rateLimit !== "string" || !isTierName(rateLimit))) {
    errors.push({ field: "rate_limit", message: "must be the name of a rate-limit tier" });
  }
  if (errors.length) return { ok: false, errors };
  return {
    ok: true,
    value: {
      name,
      scopes,
      ...(allowBrowser === true ? { allowBrowser } : {}),
      ...(expiresAt ? { expiresAt } : {}),
      ...(metadata ? { metadata } : {}),
      ...(typeof rateLimit === "string" ? { rateLimit } : {}),
    },
  };
}

/** Check an edit: `{name?, scopes?, metadata?}` with at least one of them (`metadata: null` removes it). */
export function checkUpdateInput(body: unknown): Checked<UpdateInput> {
  if (!isObject(body)) return { ok: false, errors: [notObject] };
  const errors = unknownFields(body, ["name", "scopes", "metadata"]);
  if (!("name" in body) && !("scopes" in body) && !("metadata" in body)) {
    errors.push({ field: "body", message: "must change at least one of name, scopes, metadata" });
  }
  const name = "name" in body ? checkName(body["name"], errors) : undefined;
  const scopes = "scopes" in body ? checkScopes(body["scopes"], errors) : undefined;
  const metadata = !("metadata" in body) ? undefined : body["metadata"] === null ? null : checkMetadata(body["metadata"], errors);
  if (errors.length) return { ok: false, errors };
  return {
    ok: true,
    value: { ...(name !== undefined ? { name } : {}), ...(scopes !== undefined ? { scopes } : {}), ...(metadata !== undefined ? { metadata } : {}) },
  };
}

/** Check a rotate request: `{grace_period_seconds?}` (an absent body is `{}`). */
export function checkRotateInput(body: unknown): Checked<RotateInput> {
  if (!isObject(body)) return { ok: false, errors: [notObject] };
  const errors = unknownFields(body, ["grace_period_seconds"]);
  const gracePeriodSeconds = checkGrace(body["grace_period_seconds"], errors);
  return errors.length ? { ok: false, errors } : { ok: true, value: { gracePeriodSeconds } };
}

/** Check a bulk rotate request: `{ids, grace_period_seconds?}` with 1 to 100 distinct ids. */
export function checkBulkRotateInput(body: unknown): Checked<BulkRotateInput> {
  if (!isObject(body)) return { ok: false, errors: [notObject] };
  const errors = unknownFields(body, ["ids", "grace_period_seconds"]);
  const gracePeriodSeconds = checkGrace(body["grace_period_seconds"], errors);
  const ids: string[] = [];
  const value = body["ids"];
  if (value === undefined) errors.push({ field: "ids", message: "is required" });
  else if (!Array.isArray(value)) errors.push({ field: "ids", message: "must be an array of key ids" });
  else if (value.length === 0) errors.push({ field: "ids", message: "must list at least one key id" });
  else if (value.length > MAX_BULK_ROTATE) errors.push({ field: "ids", message: `must list at most ${MAX_BULK_ROTATE} key ids` });
  else
    value.forEach((id, i) => {
      if (typeof id !== "string" || id === "") errors.push({ field: `ids[${i}]`, message: "must be a key id" });
      else if (ids.includes(id)) errors.push({ field: `ids[${i}]`, message: "is listed twice" });
      else ids.push(id);
    });
  return errors.length ? { ok: false, errors } : { ok: true, value: { ids, gracePeriodSeconds } };
}

/** Check list query parameters: `limit` (1–100, default 20) and an opaque `cursor`. */
export function checkListInput(query: { limit?: string | undefined; cursor?: string | undefined }): Checked<ListInput> {
  const errors: FieldError[] = [];
  let limit = DEFAULT_LIST_LIMIT;
  if (query.limit !== undefined) {
    limit = /^\d{1,3}$/.test(query.limit) ? Number(query.limit) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIST_LIMIT)) errors.push({ field: "limit", message: `must be an integer from 1 to ${MAX_LIST_LIMIT}` });
  }
  const cursor = query.cursor === "" ? undefined : query.cursor;
  if (cursor !== undefined && (cursor.length > 2048 || !/^[A-Za-z0-9_-]+\.[0-9a-f]{32}$/.test(cursor))) {
    errors.push({ field: "cursor", message: "is not a cursor returned by this API" });
  }
  return errors.length ? { ok: false, errors } : { ok: true, value: { limit, cursor } };
}

/** Default and largest page size of the audit log. */
export const DEFAULT_AUDIT_LIMIT = 50;
export const MAX_AUDIT_LIMIT = 200;

/** An audit log request. */
export interface AuditInput {
  readonly keyId: string | undefined;
  readonly cursor: string | undefined;
  readonly limit: number;
}

/** Check audit query parameters: `key_id` (a key id), `cursor` (opaque), `limit` (1–200, default 50). */
export function checkAuditInput(query: { key_id?: string | undefined; cursor?: string | undefined; limit?: string | undefined }): Checked<AuditInput> {
  const errors: FieldError[] = [];
  const keyId = query.key_id === "" ? undefined : query.key_id;
  if (keyId !== undefined && !/^key_[0-9A-Za-z]{24}$/.test(keyId)) errors.push({ field: "key_id", message: "is not a key id" });
  const cursor = query.cursor === "" ? undefined : query.cursor;
  if (cursor !== undefined && (cursor.length > 256 || !/^[A-Za-z0-9_-]+$/.test(cursor))) {
    errors.push({ field: "cursor", message: "is not a cursor returned by this API" });
  }
  let limit = DEFAULT_AUDIT_LIMIT;
  if (query.limit !== undefined) {
    limit = /^\d{1,3}$/.test(query.limit) ? Number(query.limit) : NaN;
    if (!(limit >= 1 && limit <= MAX_AUDIT_LIMIT)) errors.push({ field: "limit", message: `must be an integer from 1 to ${MAX_AUDIT_LIMIT}` });
  }
  return errors.length ? { ok: false, errors } : { ok: true, value: { keyId, cursor, limit } };
}

/** Longest usage series one call returns: 31 days. */
export const MAX_USAGE_RANGE_MS = 31 * 24 * 3_600_000;
/** Default usage series: the last 24 hours. */
export const DEFAULT_USAGE_RANGE_MS = 24 * 3_600_000;

/** A usage series request, in whole hours: [from, to). */
export interface UsageInput {
  readonly from: number;
  readonly to: number;
}

const HOUR = 3_600_000;

function checkInstant(field: string, value: string | undefined, errors: FieldError[]): number | undefined {
  if (value === undefined || value === "") return undefined;
  const at = parseRfc3339(value);
  if (!Number.isFinite(at)) errors.push({ field, message: isImpossible(value) ? "is not a real date and time" : "must be an RFC 3339 date-time with a time zone" });
  return Number.isFinite(at) ? at : undefined;
}

/**
 * Check `from` and `to` (RFC 3339; default: the 24 hours before now). Both widen to whole hours
 * (`from` down, `to` up); `to` must be after `from`, at most 31 days later.
 */
export function checkUsageInput(query: { from?: string | undefined; to?: string | undefined }, now = Date.now()): Checked<UsageInput> {
  const errors: FieldError[] = [];
  const toGiven = checkInstant("to", query.to, errors);
  const fromGiven = checkInstant("from", query.from, errors);
  if (errors.length) return { ok: false, errors };
  const to = toGiven ?? now;
  const from = fromGiven ?? to - DEFAULT_USAGE_RANGE_MS;
  if (to <= from) return { ok: false, errors: [{ field: "to", message: "must be after from" }] };
  if (to - from > MAX_USAGE_RANGE_MS) return { ok: false, errors: [{ field: "from", message: "must be at most 31 days before to" }] };
  return { ok: true, value: { from: from - (from % HOUR), to: Math.ceil(to / HOUR) * HOUR } };
}
