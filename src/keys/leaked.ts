/**
 * `POST /v1/chat/api-keys/revoke` `{"keys": ["pk_live_…", …]}`: anyone who holds a key may kill it,
 * as with GitHub's credential revocation API (a secret scanner, a user who found it in a log).
 * No credential. Always 202 `{"received": n}` for a well-formed body — never whether a key existed
 * (no oracle): the revocation runs behind the response, so neither status nor timing depends on
 * it. At most 1,000 keys a call; 10 calls a minute per client IP (the `leaked_key_reports` limit of
 * `RATE_LIMIT_POLICIES`, src/ratelimit/). Each key that exists is written to the revocation log (reason `leaked`),
 * recorded in its organisation's audit log, and deleted from KV.
 */
import type { Context } from "hono";
import { auditLog } from "../audit/log";
import { AuditStore } from "../audit/store";
import { type AppEnv, getConfig } from "../env";
import { GatewayError } from "../errors";
import { enforceLeakedKeyReportLimit } from "../ratelimit/limiter";
import { edgeRevocationSink } from "../revocation/feed";
import { readJson } from "./api";
import { checkKeyFormat } from "./format";
import { hashKey } from "./hash";
import { MAX_LEAKED_KEYS, revokeLeakedKeys } from "./service";
import { KeyStore, kvFromBinding } from "./store";

/** Longest string accepted as one reported key (a key is 44 characters). */
const MAX_REPORTED_KEY_LENGTH = 200;

/** Pure: the reported keys, or the field errors of a body that is not `{keys: string[1..1000]}`. */
export function checkLeakedKeysInput(body: unknown): { ok: true; keys: string[] } | { ok: false; errors: { field: string; message: string }[] } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return { ok: false, errors: [{ field: "body", message: "must be a JSON object" }] };
  const unknown = Object.keys(body).filter((k) => k !== "keys");
  if (unknown.length) return { ok: false, errors: unknown.map((field) => ({ field, message: "is not a known field" })) };
  const keys = (body as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_LEAKED_KEYS) {
    return { ok: false, errors: [{ field: "keys", message: `must be an array of 1 to ${MAX_LEAKED_KEYS} keys` }] };
  }
  const bad = keys.findIndex((k) => typeof k !== "string" || k.length === 0 || k.length > MAX_REPORTED_KEY_LENGTH);
  if (bad >= 0) return { ok: false, errors: [{ field: `keys[${bad}]`, message: `must be a string of 1 to ${MAX_REPORTED_KEY_LENGTH} characters` }] };
  return { ok: true, keys: keys as string[] };
}

/** The leaked-key report handler, mounted before authentication (it needs no credential). */
export async function leakedKeysHandler(c: Context<AppEnv>): Promise<Response> {
  if (c.req.method !== "POST") {
    throw new GatewayError("method_not_allowed", { detail: "This path accepts POST.", headers: { allow: "POST" } });
  }
  const config = getConfig(c.env);
  const ip = c.req.header("cf-connecting-ip") ?? "unknown";
  const policy = await enforceLeakedKeyReportLimit(c.env, config.rateLimits, ip);
  const input = checkLeakedKeysInput(await readJson(c.req.raw, true));
  if (!input.ok) {
    throw new GatewayError("validation_failed", { detail: "The body must be {\"keys\": [\"pk_…\", …]}.", extra: { errors: input.errors } });
  }
  const { issuePrefix, pepper } = config.apiKeys;
  const wellFormed = input.keys.filter((key) => checkKeyFormat(key, issuePrefix).ok);
  const requestId = c.get("requestId") ?? null;
  const deps = {
    store: new KeyStore(kvFromBinding(c.env.API_KEYS)),
    pepper,
    prefix: issuePrefix,
    revocations: edgeRevocationSink(c.env, config, c.executionCtx, `leaked_key_report:${requestId ?? "-"}`),
    audit: auditLog(new AuditStore(c.env.AUDIT_DB), { method: "system", id: "leaked-key-report" }, {
      requestId,
      clientIp: ip === "unknown" ? null : ip,
      userAgent: c.req.header("user-agent") ?? null,
    }),
  };
  // Behind the response: the answer is the same, and as fast, whether any key existed.
  c.executionCtx.waitUntil(
    (async () => {
      const hashes = await Promise.all(wellFormed.map((key) => hashKey(key, pepper)));
      const revoked = await revokeLeakedKeys(deps, hashes);
      console.log(JSON.stringify({ level: "info", event: "leaked_keys_reported", received: input.keys.length, revoked, request_id: requestId }));
    })().catch((cause: unknown) => {
      const kind = cause instanceof GatewayError ? cause.code : cause instanceof Error ? cause.name : typeof cause;
      console.error(JSON.stringify({ level: "error", event: "leaked_keys_revoke_failed", cause: kind, request_id: requestId }));
    }),
  );
  return c.json({ received: input.keys.length }, 202, { "cache-control": "no-store", ...(policy ? { "ratelimit-policy": policy } : {}) });
}
