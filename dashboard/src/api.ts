/**
 * The one module that talks to the gateway: the same management API as curl
 * (docs/api-keys.md), with `Authorization: Bearer <session token>`. Shapes come from the worker's
 * own types (src/keys/service.ts).
 */
import type { AuditPage, CreatedKey, KeyDetail, KeyList, KeyView, RotatedKey, UsageSeries } from "./types";
import type { Problem } from "./problems";
import { type OneTimeSecret, takeSecret } from "./secret";

const BASE = "/v1/chat/api-keys";
/** The API's page size limit; the page loads 50 at a time. */
export const PAGE_SIZE = 50;
/** Ids per bulk rotation call (the API's limit). */
export const BULK_LIMIT = 100;

/** A call that failed: the problem the gateway answered (status 0 when it could not be reached). */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly problem: Problem,
    readonly retryAfter?: number,
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`);
  }
}

export interface KeysApi {
  list(cursor: string | null): Promise<KeyList>;
  create(name: string, scopes: string[]): Promise<CreatedKey>;
  rotate(id: string, graceSeconds: number): Promise<RotatedKey>;
  rotateMany(ids: string[], graceSeconds: number): Promise<RotatedKey[]>;
  remove(id: string): Promise<void>;
  get(id: string): Promise<KeyDetail>;
  /** Hourly usage in [from, to) (ISO instants). */
  usage(id: string, from: string, to: string): Promise<UsageSeries>;
  /** Replace a key's grants (the page only ever narrows). */
  setScopes(id: string, scopes: readonly string[]): Promise<KeyView>;
  /** A page of the organisation's audit log, newest first. */
  audit(cursor: string | null): Promise<AuditPage>;
}

/** The key API, authenticated with whatever `getToken` returns at the time of each call. */
export function keysApi(getToken: () => Promise<string>): KeysApi {
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${await getToken()}`, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      // No cookies: the session token in Authorization is the only credential sent.
      const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store", credentials: "omit" };
      response = await fetch(BASE + path, init as RequestInit);
    } catch {
      throw new ApiError({ status: 0, code: "network_error", request_id: null });
    }
    if (response.ok) return (response.status === 204 ? undefined : await response.json()) as T;
    let problem: Problem = { status: response.status };
    try {
      const parsed = (await response.json()) as Problem;
      if (parsed && typeof parsed === "object") problem = { ...parsed, status: response.status };
    } catch {
      // not problem+json (a proxy's error page): the status says enough
    }
    problem = { ...problem, request_id: problem.request_id ?? response.headers.get("x-request-id") };
    const retryAfter = Number(response.headers.get("retry-after")) || undefined;
    throw new ApiError(problem, retryAfter);
  }
  return {
    list: (cursor) => call("GET", `?limit=${PAGE_SIZE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
    create: (name, scopes) => call("POST", "", { name, scopes }),
    rotate: (id, graceSeconds) => call("POST", `/${encodeURIComponent(id)}/rotate`, { grace_period_seconds: graceSeconds }),
    rotateMany: async (ids, graceSeconds) =>
      (await call<{ data: RotatedKey[] }>("POST", "/rotate", { ids, grace_period_seconds: graceSeconds })).data,
    remove: (id) => call("DELETE", `/${encodeURIComponent(id)}`),
    get: (id) => call("GET", `/${encodeURIComponent(id)}`),
    usage: (id, from, to) => call("GET", `/${encodeURIComponent(id)}/usage?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`),
    setScopes: (id, scopes) => call("PATCH", `/${encodeURIComponent(id)}`, { scopes }),
    audit: (cursor) => call("GET", `/audit?limit=${PAGE_SIZE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
  };
}

/** One key's outcome in a bulk rotation. */
export type BulkOutcome =
  | { readonly ok: true; readonly oldId: string; readonly name: string; readonly rotated: Omit<RotatedKey, "key">; readonly secret: OneTimeSecret }
  | { readonly ok: false; readonly oldId: string; readonly name: string; readonly error: ApiError };

/**
 * Rotate many keys, in calls of at most `BULK_LIMIT`, and say what happened to each. The API is
 * all-or-nothing per call: a call refused because some ids are gone (404 naming `ids[i]`) is
 * retried without them, so one deleted key does not stop the others.
 */
export async function rotateInBatches(
  api: KeysApi,
  keys: readonly { id: string; name: string }[],
  graceSeconds: number,
): Promise<BulkOutcome[]> {
  const outcomes: BulkOutcome[] = [];
  for (let i = 0; i < keys.length; i += BULK_LIMIT) {
    let batch = keys.slice(i, i + BULK_LIMIT);
    while (batch.length > 0) {
      try {
        const rotated = await api.rotateMany(batch.map((k) => k.id), graceSeconds);
        const byOld = new Map(rotated.map((r) => [r.old_id, r]));
        for (const k of batch) {
          const r = byOld.get(k.id);
          if (!r) continue;
          const [rotated, secret] = takeSecret(r);
          outcomes.push({ ok: true, oldId: k.id, name: k.name, rotated, secret });
        }
        break;
      } catch (error) {
        const apiError = error instanceof ApiError ? error : new ApiError({ status: 0, request_id: null });
        const gone = new Set(
          apiError.problem.code === "key_not_found"
            ? (apiError.problem.errors ?? []).map((e) => Number(/^ids\[(\d+)\]$/.exec(e.field)?.[1] ?? -1)).filter((n) => n >= 0)
            : [],
        );
        if (gone.size === 0) {
          for (const k of batch) outcomes.push({ ok: false, oldId: k.id, name: k.name, error: apiError });
          break;
        }
        batch.forEach((k, index) => {
          if (gone.has(index)) outcomes.push({ ok: false, oldId: k.id, name: k.name, error: apiError });
        });
        batch = batch.filter((_, index) => !gone.has(index));
      }
    }
  }
  return outcomes;
}
