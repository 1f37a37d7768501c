// Regression tests for what the chaos run (test/chaos, docs/reliability.md) found in the key store:
// a KV binding that fails chosen calls, by KV key prefix, through the real gateway.
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { resetKeyCaches } from "../../src/keys/cache";
import { bindingsWith, callGateway, expectProblem, jsonInit, seedKey } from "../helpers/keys";

const API = "/v1/chat/api-keys";

/** Fail (or delay) `times` calls of `method` on keys starting with `prefix`, after letting `skip` through. */
type Rule = { method: "put" | "delete"; prefix: string; times: number; mode: "throw" | "slow" | "applied-then-throw"; skip?: number };

/** KV whose put/delete on a prefix fail (or land late) the given number of times. */
function scriptedKv(rules: Rule[]): KVNamespace {
  const inner = env.API_KEYS;
  const wrap = (method: "put" | "delete") =>
    async (...args: unknown[]) => {
      const key = String(args[0]);
      const run = () => (inner[method] as (...a: unknown[]) => Promise<void>).apply(inner, args);
      const rule = rules.find((r) => r.method === method && key.startsWith(r.prefix) && r.times > 0);
      if (!rule) return run();
      if (rule.skip) {
        rule.skip--;
        return run();
      }
      rule.times--;
      if (rule.mode === "throw") throw new Error("KV failed (test)");
      if (rule.mode === "slow") {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return run();
      }
      await run();
      throw new Error("KV timed out after writing (test)");
    };
  return {
    get: inner.get.bind(inner),
    getWithMetadata: inner.getWithMetadata.bind(inner),
    list: inner.list.bind(inner),
    put: wrap("put"),
    delete: wrap("delete"),
  } as unknown as KVNamespace;
}

const as = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, "x-api-key": key } });
const listIds = async (adminKey: string) => {
  const res = await callGateway(bindingsWith(env.API_KEYS), `${API}?limit=100`, as(adminKey));
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { id: string; name: string; expires_at: string | null }[] }).data;
};

beforeEach(() => resetKeyCaches());

describe("a refused create leaves nothing listed", () => {
  it("even when a sibling write lands after the failure that refused it", async () => {
    const admin = await seedKey("org_fault_create");
    // The id entry fails at once while the index entry is still in flight: the rollback must wait for it.
    const kv = scriptedKv([
      { method: "put", prefix: "k:", times: 1, mode: "throw" },
      { method: "put", prefix: "o:", times: 1, mode: "slow" },
    ]);
    const res = await callGateway(bindingsWith(kv), API, as(admin.key, jsonInit("POST", { name: "late index", scopes: ["chat:read"] })));
    await expectProblem(res, 503, "key_store_unavailable");
    await new Promise((resolve) => setTimeout(resolve, 200)); // longer than the late write takes to land
    expect((await listIds(admin.key)).map((k) => k.name)).not.toContain("late index");
  });
});

describe("a delete that fails part-way", () => {
  it("retries its idempotent deletes: one failed index delete still ends in 204 and an unlisted key", async () => {
    const admin = await seedKey("org_fault_delete");
    const victim = await seedKey("org_fault_delete", ["chat:read"], "victim");
    const kv = scriptedKv([{ method: "delete", prefix: "o:", times: 1, mode: "throw" }]);
    const res = await callGateway(bindingsWith(kv), `${API}/${victim.id}`, as(admin.key, { method: "DELETE" }));
    expect(res.status).toBe(204);
    expect((await listIds(admin.key)).map((k) => k.id)).not.toContain(victim.id);
    const use = await callGateway(bindingsWith(env.API_KEYS), "/v1/chat/x", as(victim.key));
    await expectProblem(use, 401, "invalid_api_key");
  });

  it("that still fails answers 503 and can be retried: the id entry goes last", async () => {
    const admin = await seedKey("org_fault_delete2");
    const victim = await seedKey("org_fault_delete2", ["chat:read"], "victim");
    const kv = scriptedKv([{ method: "delete", prefix: "o:", times: 3, mode: "throw" }]);
    await expectProblem(await callGateway(bindingsWith(kv), `${API}/${victim.id}`, as(admin.key, { method: "DELETE" })), 503, "key_store_unavailable");
    const retry = await callGateway(bindingsWith(env.API_KEYS), `${API}/${victim.id}`, as(admin.key, { method: "DELETE" }));
    expect(retry.status).toBe(204);
    expect((await listIds(admin.key)).map((k) => k.id)).not.toContain(victim.id);
  });
});

describe("a rotation with grace whose old-key write times out after landing", () => {
  it("retries it: the old key is reported and listed with its end", async () => {
    const admin = await seedKey("org_fault_rotate");
    const old = await seedKey("org_fault_rotate", ["chat:read"], "rotated");
    // The new key's hash entry goes through; the old key's is written twice but reported as timed out.
    const kv = scriptedKv([{ method: "put", prefix: "h:", times: 2, mode: "applied-then-throw", skip: 1 }]);
    const res = await callGateway(bindingsWith(kv), `${API}/${old.id}/rotate`, as(admin.key, jsonInit("POST", { grace_period_seconds: 60 })));
    expect(res.status).toBe(201);
    const body = (await res.json()) as { old_key_expires_at: string | null };
    expect(body.old_key_expires_at).not.toBeNull();
    const listed = (await listIds(admin.key)).find((k) => k.id === old.id);
    expect(listed?.expires_at).toBe(body.old_key_expires_at);
  });
});

describe("an audit write that times out after it landed", () => {
  it("leaves no row behind: the change was refused (503 audit_unavailable), so no record may claim it", async () => {
    const admin = await seedKey("org_fault_audit");
    const inner = env.AUDIT_DB;
    let failNextBatch = true;
    const db = {
      prepare: (sql: string) => inner.prepare(sql),
      batch: async (statements: D1PreparedStatement[]) => {
        const result = await inner.batch(statements);
        if (failNextBatch) {
          failNextBatch = false;
          throw new Error("D1 timed out after committing (test)");
        }
        return result;
      },
    } as unknown as D1Database;
    const res = await callGateway({ ...bindingsWith(env.API_KEYS), AUDIT_DB: db }, API, as(admin.key, jsonInit("POST", { name: "unaudited", scopes: ["chat:read"] })));
    await expectProblem(res, 503, "audit_unavailable");
    const audit = await callGateway(bindingsWith(env.API_KEYS), `${API}/audit?limit=200`, as(admin.key));
    expect(audit.status).toBe(200);
    const rows = ((await audit.json()) as { data: { action: string; after: { name?: string } | null }[] }).data;
    expect(rows.filter((r) => r.after?.name === "unaudited")).toEqual([]);
    expect((await listIds(admin.key)).map((k) => k.name)).not.toContain("unaudited");
  });
});
