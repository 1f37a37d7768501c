/**
 * The key management API, mounted at `/v1/chat/api-keys`. When a handler runs, the caller is
 * authenticated and holds the route's scope (`api-keys:read` for GET/HEAD, `api-keys:write`
 * otherwise); the services confine it to its own organisation and to scopes it holds, and record
 * every change in the audit log before making it.
 *
 * | call                          | answer                                   |
 * |-------------------------------|------------------------------------------|
 * | `POST /`   `{name, scopes, rate_limit?}` | 201 the key, shown once      |
 * | `GET /`         `?limit&cursor`  | 200 `{data, next_cursor}`             |
 * | `GET /audit`    `?key_id&cursor&limit` | 200 `{data, next_cursor}`, newest first |
 * | `GET /:id`                       | 200 the key's record                  |
 * | `PATCH /:id`    `{name?, scopes?, metadata?}` | 200 the edited record    |
 * | `GET /:id/usage` `?from&to`      | 200 the key's hourly usage            |
 * | `DELETE /:id`                    | 204                                   |
 * | `POST /:id/rotate` `{grace_period_seconds?}` | 201 the new key           |
 * | `POST /rotate`  `{ids, grace_period_seconds?}` | 200 `{data: [...]}`     |
 * | `POST /revoke-all` `{org_id}`    | 200 the organisation kill switch       |
 */
import { type Context, Hono } from "hono";
import type { AppEnv } from "../env";
import { GatewayError } from "../errors";
import { auditLog } from "../audit/log";
import { listAudit } from "../audit/query";
import { AuditStore } from "../audit/store";
import { edgeRevocationSink } from "../revocation/feed";
import { callerTier } from "../ratelimit/policy";
import { readCapped } from "../body";
import { UsageStore } from "../usage/store";
import {
  type Actor,
  createKey,
  deleteKey,
  getKey,
  type KeyServiceDeps,
  keyUsage,
  listKeys,
  revokeOrganization,
  rotateKey,
  rotateKeys,
  updateKey,
} from "./service";
import { KeyStore, kvFromBinding } from "./store";
import { type Checked, checkAuditInput, checkBulkRotateInput, checkCreateInput, checkListInput, checkRotateInput, checkUpdateInput, checkUsageInput } from "./validate";

/** Largest management request body, in bytes. */
export const MAX_MANAGEMENT_BODY_BYTES = 64 * 1024;

const NO_STORE = { "cache-control": "no-store" } as const;

/** The key management API, mounted at `/v1/chat/api-keys`. */
export const keysApi = new Hono<AppEnv>();

keysApi.get("/", async (c) => {
  const input = checked(checkListInput({ limit: c.req.query("limit"), cursor: c.req.query("cursor") }));
  return c.json(await listKeys(deps(c), c.get("principal").orgId, input), 200, NO_STORE);
});

keysApi.post("/", async (c) => {
  const input = checked(checkCreateInput(await readJson(c.req.raw, true)));
  const created = await createKey(deps(c), actor(c), input);
  return c.json(created, 201, { ...NO_STORE, location: `/v1/chat/api-keys/${created.id}` });
});

keysApi.post("/rotate", async (c) => {
  const input = checked(checkBulkRotateInput(await readJson(c.req.raw, true)));
  return c.json({ data: await rotateKeys(deps(c), actor(c), input.ids, input.gracePeriodSeconds) }, 200, NO_STORE);
});

// Before `/:id`, so that `GET /rotate` is 405 rather than an unknown key id.
keysApi.all("/rotate", methodNotAllowed("POST"));

// The organisation kill switch: every key of the caller's organisation, refused everywhere within
// the revocation bound. The body names the organisation, so that it is never called by accident.
keysApi.post("/revoke-all", async (c) => {
  const body = await readJson(c.req.raw, true);
  const orgId = c.get("principal").orgId;
  const named = typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const extra = Object.keys(named).filter((k) => k !== "org_id");
  if (named["org_id"] !== orgId || extra.length) {
    const errors = [
      ...(named["org_id"] !== orgId ? [{ field: "org_id", message: "must be your organization's id, to confirm" }] : []),
      ...extra.map((field) => ({ field, message: "is not a known field" })),
    ];
    throw new GatewayError("validation_failed", { detail: "Confirm with {\"org_id\": \"<your organization's id>\"}.", extra: { errors } });
  }
  return c.json(await revokeOrganization(deps(c), actor(c)), 200, NO_STORE);
});
keysApi.all("/revoke-all", methodNotAllowed("POST"));

keysApi.get("/audit", async (c) => {
  const input = checked(checkAuditInput({ key_id: c.req.query("key_id"), cursor: c.req.query("cursor"), limit: c.req.query("limit") }));
  return c.json(await listAudit(new AuditStore(c.env.AUDIT_DB), c.get("principal").orgId, input), 200, NO_STORE);
});
keysApi.all("/audit", methodNotAllowed("GET, HEAD"));

keysApi.get("/:id", async (c) => c.json(await getKey(deps(c), c.get("principal").orgId, c.req.param("id")), 200, NO_STORE));

keysApi.patch("/:id", async (c) => {
  const input = checked(checkUpdateInput(await readJson(c.req.raw, true)));
  return c.json(await updateKey(deps(c), actor(c), c.req.param("id"), input), 200, NO_STORE);
});

keysApi.delete("/:id", async (c) => {
  await deleteKey(deps(c), c.get("principal").orgId, c.req.param("id"));
  return c.body(null, 204, NO_STORE);
});

keysApi.get("/:id/usage", async (c) => {
  const input = checked(checkUsageInput({ from: c.req.query("from"), to: c.req.query("to") }));
  return c.json(await keyUsage(deps(c), c.get("principal").orgId, c.req.param("id"), input.from, input.to), 200, NO_STORE);
});

keysApi.post("/:id/rotate", async (c) => {
  const input = checked(checkRotateInput(await readJson(c.req.raw, false)));
  const rotated = await rotateKey(deps(c), actor(c), c.req.param("id"), input.gracePeriodSeconds);
  return c.json(rotated, 201, { ...NO_STORE, location: `/v1/chat/api-keys/${rotated.id}` });
});

// Known paths with another method: 405 with `Allow`; anything else under the API: 404.
keysApi.all("/", methodNotAllowed("GET, HEAD, POST"));
keysApi.all("/:id", methodNotAllowed("GET, HEAD, PATCH, DELETE"));
keysApi.all("/:id/rotate", methodNotAllowed("POST"));
keysApi.all("/:id/usage", methodNotAllowed("GET, HEAD"));

keysApi.all("*", () => {
  throw new GatewayError("not_found", { detail: "No route matches this path." });
});

function methodNotAllowed(allow: string): () => never {
  return () => {
    throw new GatewayError("method_not_allowed", { detail: `This path accepts ${allow}.`, headers: { allow } });
  };
}

function deps(c: Context<AppEnv>): KeyServiceDeps {
  const { pepper, issuePrefix } = c.get("config").apiKeys;
  const { method, subject } = c.get("principal");
  const request = {
    requestId: c.get("requestId") ?? null,
    clientIp: c.req.header("cf-connecting-ip") ?? null,
    userAgent: c.req.header("user-agent") ?? null,
  };
  return {
    store: new KeyStore(kvFromBinding(c.env.API_KEYS)),
    pepper,
    prefix: issuePrefix,
    revocations: edgeRevocationSink(c.env, c.get("config"), c.executionCtx, `${method}:${subject}`),
    audit: auditLog(new AuditStore(c.env.AUDIT_DB), { method, id: subject }, request),
    usage: new UsageStore(c.env.USAGE),
    rateLimitTiers: c.get("config").rateLimits.tiers.map((t) => t.name),
    maxKeysPerOrg: c.get("config").apiKeys.maxKeysPerOrg,
  };
}

function actor(c: Context<AppEnv>): Actor {
  const { orgId, scopes, method, subject } = c.get("principal");
  return { orgId, scopes, createdBy: { method, id: subject }, rateLimitCeiling: callerTier(c.get("config").rateLimits, c.get("principal")) };
}

function checked<T>(result: Checked<T>): T {
  if (result.ok) return result.value;
  const fields = [...new Set(result.errors.map((e) => e.field))].join(", ");
  throw new GatewayError("validation_failed", { detail: `Invalid fields: ${fields}.`, extra: { errors: result.errors } });
}

const isJson = (contentType: string | null) => contentType?.split(";")[0]?.trim().toLowerCase() === "application/json";

/**
 * The `charset` a Content-Type names, lower-cased and unquoted, or undefined. JSON is UTF-8
 * (RFC 8259 §8.1): a body declared in another charset would be read as something else than its
 * sender meant, so it is refused (415) rather than guessed at.
 */
export function declaredCharset(contentType: string | null): string | undefined {
  if (!contentType) return undefined;
  for (const parameter of contentType.split(";").slice(1)) {
    const [name = "", ...rest] = parameter.split("=");
    if (name.trim().toLowerCase() === "charset") return rest.join("=").trim().replace(/^"(.*)"$/, "$1").toLowerCase();
  }
  return undefined;
}

/**
 * The request's JSON body, read up to `MAX_MANAGEMENT_BODY_BYTES`. An empty body is `{}` when the
 * call allows one (`required` false); otherwise the body must be `application/json`.
 */
export async function readJson(request: Request, required: boolean): Promise<unknown> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_MANAGEMENT_BODY_BYTES) throw tooLarge();
  const contentType = request.headers.get("content-type");
  // Before the body is read: bytes in another charset would otherwise fail as invalid UTF-8 (400).
  const charset = declaredCharset(contentType);
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    throw new GatewayError("unsupported_media_type", {
      detail: "JSON bodies must be UTF-8: send no charset, or charset=utf-8.",
      headers: { "accept-post": "application/json; charset=utf-8" },
    });
  }
  const text = await readText(request.body);
  if (!required && text.trim() === "") return {};
  if (!isJson(contentType)) {
    throw new GatewayError("unsupported_media_type", {
      detail: "Send the body as application/json.",
      headers: { "accept-post": "application/json" },
    });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new GatewayError("invalid_json", { detail: "The request body is not valid JSON." });
  }
}

async function readText(body: ReadableStream<Uint8Array> | null): Promise<string> {
  const bytes = await readCapped(body, MAX_MANAGEMENT_BODY_BYTES);
  if (!bytes) throw tooLarge();
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new GatewayError("invalid_json", { detail: "The request body is not valid UTF-8." });
  }
}

function tooLarge(): GatewayError {
  return new GatewayError("payload_too_large", { detail: `Key management requests are limited to ${MAX_MANAGEMENT_BODY_BYTES} bytes.` });
}
