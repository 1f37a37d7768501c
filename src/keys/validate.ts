/**
 * Input checks of the key management API: pure functions from parsed JSON (or query strings) to
 * a typed value or the list of `{field, message}` errors a 400 `validation_failed` carries.
 */
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

/** A request to create a key. */
export interface CreateInput {
  readonly name: string;
  readonly scopes: string[];
  /** Opt-in: the key may be sent by a browser (default false). */
  readonly allowBrowser?: boolean;
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

// Control characters (C0, DEL, C1) and line/paragraph separators have no place in a display name.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

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
  else if (CONTROL.test(name)) errors.push({ field: "name", message: "must not contain control characters" });
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

const notObject: FieldError = { field: "body", message: "must be a JSON object" };

/** Check a create request: `{name, scopes, allow_browser?}`. Scopes are de-duplicated, in the order given. */
export function checkCreateInput(body: unknown): Checked<CreateInput> {
  if (!isObject(body)) return { ok: false, errors: [notObject] };
  const errors = unknownFields(body, ["name", "scopes", "allow_browser"]);
  const name = checkName(body["name"], errors);
  const scopes = checkScopes(body["scopes"], errors);
  const allowBrowser = body["allow_browser"] ?? false;
  if (typeof allowBrowser !== "boolean") errors.push({ field: "allow_browser", message: "must be true or false" });
  return errors.length ? { ok: false, errors } : { ok: true, value: { name, scopes, ...(allowBrowser === true ? { allowBrowser } : {}) } };
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
