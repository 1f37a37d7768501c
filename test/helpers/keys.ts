// Helpers for API key tests: a KV binding that counts (or fails) its calls, the gateway called
// with such a binding, keys seeded straight into KV, and a problem+json assertion.
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { Hono } from "hono";
import { expect } from "vitest";
import type { Principal } from "../../src/auth/principal";
import type { AppEnv, Bindings } from "../../src/env";
import { getConfig } from "../../src/env";
import { GatewayError, problemResponse } from "../../src/errors";
import app from "../../src/index";
import { keysApi } from "../../src/keys/api";
import { type Actor, type CreatedKey, createKey, type KeyServiceDeps } from "../../src/keys/service";
import { KeyStore, kvFromBinding } from "../../src/keys/store";
import { revocationLog } from "../../src/revocation/log";
import { ALL_SCOPES, expandScopes } from "../../src/scopes";

export const BASE = "https://api.agntix.test";

/** Calls made to a wrapped KV binding, by method. */
export type KvCounts = Record<"get" | "put" | "delete" | "list" | "getWithMetadata", number>;

/** A KV binding that counts every call, and throws instead when `failing` says so. */
export function countingKv(inner: KVNamespace = env.API_KEYS): { kv: KVNamespace; counts: KvCounts; fail: (on: boolean) => void } {
  const counts: KvCounts = { get: 0, put: 0, delete: 0, list: 0, getWithMetadata: 0 };
  let failing = false;
  const wrap =
    (name: keyof KvCounts) =>
    (...args: unknown[]) => {
      counts[name]++;
      if (failing) return Promise.reject(new Error("KV is down (test)"));
      return (inner[name] as (...a: unknown[]) => Promise<unknown>).apply(inner, args);
    };
  const kv = {
    get: wrap("get"),
    put: wrap("put"),
    delete: wrap("delete"),
    list: wrap("list"),
    getWithMetadata: wrap("getWithMetadata"),
  } as unknown as KVNamespace;
  return { kv, counts, fail: (on) => void (failing = on) };
}

/** Total KV reads in `counts`. */
export const kvReads = (counts: KvCounts) => counts.get + counts.getWithMetadata + counts.list;

/** Bindings with API_KEYS replaced; a fresh object, so the app parses its config again (that is fine). */
export function bindingsWith(kv: KVNamespace): Bindings {
  return { ...(env as unknown as Bindings), API_KEYS: kv };
}

/** Call the gateway with these bindings and wait for its `waitUntil` work (the `last_used_at` write). */
export async function callGateway(bindings: Bindings, path: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${BASE}${path}`, init), bindings, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/**
 * Service dependencies over the test KV (or another binding), writing revocations to the real
 * revocation log: what another isolate (or location) does, without this isolate's feed hearing of
 * it before its next look.
 */
export function serviceDeps(kv: KVNamespace = env.API_KEYS): KeyServiceDeps {
  const config = getConfig(env as unknown as Bindings);
  const log = revocationLog(env.REVOCATION_LOG, config.revocation);
  return {
    store: new KeyStore(kvFromBinding(kv)),
    pepper: config.apiKeys.pepper,
    prefix: config.apiKeys.issuePrefix,
    revocations: {
      append: async (entries) => void (await log.append(entries)),
      refusedFrom: (stored) => log.refusedFrom(stored.hash, stored.org_id, Date.parse(stored.created_at)),
    },
  };
}

/** An operator acting for `orgId` with every scope. */
export const operator = (orgId: string): Actor => ({ orgId, scopes: new Set(ALL_SCOPES), createdBy: { method: "operator", id: "test" } });

/** Create a key straight through the service (no HTTP), for tests that need one to exist. */
export function seedKey(orgId: string, scopes: string[] = ["*"], name = "test key"): Promise<CreatedKey> {
  return createKey(serviceDeps(), operator(orgId), { name, scopes });
}

/** A Clerk-like session principal (what the session-token verifier produces). */
export function sessionPrincipal(orgId: string, grants: string[] = ["*"], userId = "user_admin"): Principal {
  return { orgId, subject: userId, method: "jwt", scopes: expandScopes(grants) };
}

/**
 * The key API behind a stand-in for authentication that installs `principal`: exercises the
 * session-token path of key management without depending on the Clerk verifier.
 */
export function keysApiAs(principal: Principal): (path: string, init?: RequestInit) => Promise<Response> {
  const harness = new Hono<AppEnv>();
  harness.onError((error, c) =>
    problemResponse(error instanceof GatewayError ? error : new GatewayError("internal_error"), c.req.header("x-request-id") ?? "test"),
  );
  harness.use(async (c, next) => {
    c.set("config", getConfig(c.env));
    c.set("principal", principal);
    await next();
  });
  harness.route("/v1/chat/api-keys", keysApi);
  return async (path, init) => {
    const ctx = createExecutionContext();
    const res = await harness.fetch(new Request(`${BASE}${path}`, init), env, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };
}

/** Assert a problem+json response with this status and code; returns the body. */
export async function expectProblem(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json; charset=utf-8");
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: `https://docs.agntix.ai/errors#${code}` });
  return body;
}

/** JSON request init for the key API. */
export function jsonInit(method: string, body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}
