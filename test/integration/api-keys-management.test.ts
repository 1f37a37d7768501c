// The key management API (/v1/chat/api-keys) through the gateway, with API keys and (through a
// stand-in for authentication) an organisation admin's session. The last test scans all of this
// file's KV for any plaintext key issued here.
import { env, exports } from "cloudflare:workers";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { resetKeyCaches } from "../../src/keys/cache";
import { KEY_RANDOM_LENGTH } from "../../src/keys/format";
import { listKeys, rotateKeys } from "../../src/keys/service";
import { KeyStore, type KvLike, kvFromBinding } from "../../src/keys/store";
import { bindingsWith, callGateway, countingKv, expectProblem, jsonInit, keysApiAs, operator, seedKey, serviceDeps, sessionPrincipal } from "../helpers/keys";

const API = "/v1/chat/api-keys";
const gw = (path: string, init?: RequestInit) => exports.default.fetch(`https://api.agntix.test${path}`, init);
const as = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, "x-api-key": key } });

/** Every plaintext key this file saw; the final test looks for each in KV. */
const issued: string[] = [];
async function seed(orgId: string, scopes: string[] = ["*"], name?: string) {
  const created = await seedKey(orgId, scopes, name);
  issued.push(created.key);
  return created;
}
async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  const body = (await res.json()) as T & { key?: string; data?: { key?: string }[] };
  if (typeof body.key === "string") issued.push(body.key);
  for (const item of body.data ?? []) if (typeof item.key === "string") issued.push(item.key);
  return body;
}

interface View {
  id: string;
  name: string;
  scopes: string[];
  hint: string;
  created_at: string;
  created_by: { method: string; id: string };
  last_used_at: string | null;
  expires_at: string | null;
  key?: string;
}

beforeEach(() => resetKeyCaches());

describe("create", () => {
  it("201 with the key shown once, a Location, no-store, and a record that names its creator", async () => {
    const admin = await seed("org_create");
    const res = await gw(API, as(admin.key, jsonInit("POST", { name: "CI/CD bot", scopes: ["chat:write", "agents:read"] })));
    expect(res.status).toBe(201);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const created = await json<View>(res);
    expect(res.headers.get("location")).toBe(`${API}/${created.id}`);
    expect(created).toMatchObject({
      name: "CI/CD bot",
      scopes: ["chat:write", "agents:read"],
      created_by: { method: "api_key", id: admin.id },
      last_used_at: null,
      expires_at: null,
    });
    expect(created.id).toMatch(/^key_[0-9A-Za-z]{24}$/);
    expect(created.key).toMatch(/^pk_test_[0-9A-Za-z]{36}$/);
    expect(created.hint).toBe(`pk_test_...${created.key!.slice(-4)}`);
    expect((await gw("/v1/chat/agents", as(created.key!))).status).toBe(200);
    expect((await gw("/v1/chat/agents", as(created.key!, { method: "POST" }))).status).toBe(403);

    const got = await json<View>(await gw(`${API}/${created.id}`, as(admin.key)));
    expect(got).not.toHaveProperty("key");
    expect(got.name).toBe("CI/CD bot");
  });

  it("an organisation admin's session creates keys (the dashboard's path), recorded as its user", async () => {
    const api = keysApiAs(sessionPrincipal("org_session", ["*"], "user_2abc"));
    const res = await api(API, jsonInit("POST", { name: "from dashboard", scopes: ["*"] }));
    expect(res.status).toBe(201);
    const created = await json<View>(res);
    expect(created.created_by).toEqual({ method: "jwt", id: "user_2abc" });
    const listed = await json<{ data: View[] }>(await api(API));
    expect(listed.data.map((k) => k.id)).toEqual([created.id]);
    const echo = (await (await gw("/v1/chat/agents", as(created.key!))).json()) as { headers: Record<string, string> };
    expect(echo.headers["x-agntix-org-id"]).toBe("org_session");
  });

  it("a session without the scope cannot grant it (403 scope_escalation)", async () => {
    const api = keysApiAs(sessionPrincipal("org_session", ["read-only", "api-keys:write"], "user_member"));
    const res = await api(API, jsonInit("POST", { name: "x", scopes: ["chat:write"] }));
    const body = await expectProblem(res, 403, "scope_escalation");
    expect(body["required_scopes"]).toEqual(["chat:write"]);
  });
});

describe("escalation", () => {
  it.each([
    [["api-keys:write", "chat:read"], ["chat:write"], ["chat:write"]],
    [["api-keys:write", "read-only"], ["*"], ["chat:write", "agents:write", "voice:write"]],
    [["api-keys:write"], ["voice-only"], ["voice:read", "voice:write"]],
  ])("a key holding %j cannot create a key with %j (403 names %j)", async (held, asked, missing) => {
    const limited = await seed("org_esc", held);
    const res = await gw(API, as(limited.key, jsonInit("POST", { name: "more", scopes: asked })));
    const body = await expectProblem(res, 403, "scope_escalation");
    expect(body["required_scopes"]).toEqual(missing);
    expect(res.headers.get("www-authenticate")).toMatch(/error="insufficient_scope"/);
  });

  it("a key can grant a subset of what it holds", async () => {
    const limited = await seed("org_esc", ["api-keys:write", "chat:write"]);
    const res = await gw(API, as(limited.key, jsonInit("POST", { name: "less", scopes: ["chat:read", "api-keys:read"] })));
    expect(res.status).toBe(201);
    await json(res);
  });

  it("rotating a key mints its scopes, so a weaker key cannot rotate a stronger one", async () => {
    const strong = await seed("org_esc", ["*"]);
    const weak = await seed("org_esc", ["api-keys:write"]);
    const res = await gw(`${API}/${strong.id}/rotate`, as(weak.key, { method: "POST" }));
    await expectProblem(res, 403, "scope_escalation");
    expect((await gw("/v1/chat/agents", as(strong.key))).status).toBe(200);
    const bulk = await gw(`${API}/rotate`, as(weak.key, jsonInit("POST", { ids: [strong.id] })));
    await expectProblem(bulk, 403, "scope_escalation");
  });

  it("a read-only key-manager can list but not create (route scope)", async () => {
    const reader = await seed("org_esc", ["api-keys:read"]);
    expect((await gw(API, as(reader.key))).status).toBe(200);
    const res = await gw(API, as(reader.key, jsonInit("POST", { name: "x", scopes: ["api-keys:read"] })));
    const body = await expectProblem(res, 403, "insufficient_scope");
    expect(body["required_scopes"]).toEqual(["api-keys:write"]);
  });
});

describe("list and get", () => {
  it("pages newest first through an organisation's keys, never showing a key", async () => {
    const admin = await seed("org_list", ["*"], "admin");
    for (let i = 0; i < 4; i++) await seed("org_list", ["chat:read"], `k${i}`);
    await seed("org_other_list");
    const seen: View[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: Response = await gw(`${API}?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, as(admin.key));
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      const page = await json<{ data: View[]; next_cursor: string | null }>(res);
      expect(page.data.length).toBeLessThanOrEqual(2);
      for (const item of page.data) expect(item).not.toHaveProperty("key");
      seen.push(...page.data);
      cursor = page.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen.map((k) => k.name)).toEqual(["k3", "k2", "k1", "k0", "admin"]);
    expect(pages).toBe(3);
  });

  it("a cursor is bound to its organisation: another organisation's or a forged one → 400", async () => {
    const a = await seed("org_cur_a");
    await seed("org_cur_a");
    const b = await seed("org_cur_b");
    const page = await json<{ next_cursor: string }>(await gw(`${API}?limit=1`, as(a.key)));
    expect(page.next_cursor).toBeTruthy();
    const stolen = await gw(`${API}?cursor=${encodeURIComponent(page.next_cursor)}`, as(b.key));
    const body = await expectProblem(stolen, 400, "validation_failed");
    expect(body["errors"]).toEqual([{ field: "cursor", message: "is not a cursor returned by this API" }]);
    const forged = page.next_cursor.replace(/\.[0-9a-f]+$/, ".0123456789abcdef0123456789abcdef");
    await expectProblem(await gw(`${API}?cursor=${encodeURIComponent(forged)}`, as(a.key)), 400, "validation_failed");
  });

  it("lists a key whose name does not fit KV metadata (non-ASCII) from its record, in order", async () => {
    const admin = await seed("org_unicode", ["*"], "admin");
    const name = "Déploiement 🚀 ".repeat(7).trim();
    const created = await json<View>(await gw(API, as(admin.key, jsonInit("POST", { name, scopes: ["chat:read"] }))));
    await seed("org_unicode", ["chat:read"], "plain");
    const listed = await json<{ data: View[] }>(await gw(API, as(admin.key)));
    expect(listed.data.map((k) => k.name)).toEqual(["plain", name, "admin"]);
    expect(listed.data[1]).toMatchObject({ id: created.id, scopes: ["chat:read"], created_by: { method: "api_key", id: admin.id } });
    const index = await env.API_KEYS.list({ prefix: "o:org_unicode:" });
    expect(index.keys.find((k) => k.name.endsWith(created.id))?.metadata).toEqual({ id: created.id });
  });

  it.each(["0", "101", "x"])("limit=%s → 400 naming limit", async (limit) => {
    const admin = await seed("org_list2");
    const body = await expectProblem(await gw(`${API}?limit=${limit}`, as(admin.key)), 400, "validation_failed");
    expect(body["errors"]).toEqual([{ field: "limit", message: "must be an integer from 1 to 100" }]);
  });

  it("HEAD answers like GET without a body", async () => {
    const admin = await seed("org_head");
    const res = await gw(API, as(admin.key, { method: "HEAD" }));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
  });
});

describe("organisation isolation", () => {
  it("another organisation's key id is 404 exactly like an unknown id, for get, delete and rotate", async () => {
    const mine = await seed("org_iso_a");
    const theirs = await seed("org_iso_b");
    const unknown = "key_" + "0".repeat(24);
    for (const [method, suffix] of [
      ["GET", ""],
      ["DELETE", ""],
      ["POST", "/rotate"],
    ] as const) {
      const foreign = await expectProblem(await gw(`${API}/${theirs.id}${suffix}`, as(mine.key, { method })), 404, "key_not_found");
      const missing = await expectProblem(await gw(`${API}/${unknown}${suffix}`, as(mine.key, { method })), 404, "key_not_found");
      expect({ ...foreign, request_id: null }).toEqual({ ...missing, request_id: null });
    }
    await expectProblem(await gw(`${API}/not-a-key-id`, as(mine.key)), 404, "key_not_found");
    expect((await gw("/v1/chat/agents", as(theirs.key))).status).toBe(200);
    const listed = await json<{ data: View[] }>(await gw(API, as(mine.key)));
    expect(listed.data.map((k) => k.id)).toEqual([mine.id]);
  });

  it("an organisation whose id is another's prefix sees only its own keys", async () => {
    const short = await seed("org_pre");
    await seed("org_pre:x");
    await seed("org_pref");
    const listed = await json<{ data: View[] }>(await gw(API, as(short.key)));
    expect(listed.data.map((k) => k.id)).toEqual([short.id]);
  });
});

describe("delete", () => {
  it("204, then the key is gone from get and list and refused", async () => {
    const admin = await seed("org_delete");
    const victim = await seed("org_delete");
    const res = await gw(`${API}/${victim.id}`, as(admin.key, { method: "DELETE" }));
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    await expectProblem(await gw(`${API}/${victim.id}`, as(admin.key)), 404, "key_not_found");
    const listed = await json<{ data: View[] }>(await gw(API, as(admin.key)));
    expect(listed.data.map((k) => k.id)).toEqual([admin.id]);
    await expectProblem(await gw("/v1/chat/agents", as(victim.key)), 401, "invalid_api_key");
    await expectProblem(await gw(`${API}/${victim.id}`, as(admin.key, { method: "DELETE" })), 404, "key_not_found");
  });
});

describe("rotate", () => {
  it("one key: 201, same name and scopes, linked to the old one, which is refused at once", async () => {
    const admin = await seed("org_rotate");
    const old = await seed("org_rotate", ["voice-only"], "voice worker");
    const res = await gw(`${API}/${old.id}/rotate`, as(admin.key, { method: "POST" }));
    expect(res.status).toBe(201);
    const rotated = await json<View & { old_id: string; old_key_expires_at: string; rotated_from: string }>(res);
    expect(rotated).toMatchObject({ name: "voice worker", scopes: ["voice-only"], old_id: old.id, rotated_from: old.id });
    expect(rotated.id).not.toBe(old.id);
    expect(Date.parse(rotated.old_key_expires_at)).toBeLessThanOrEqual(Date.now());
    expect(res.headers.get("location")).toBe(`${API}/${rotated.id}`);
    await expectProblem(await gw("/v1/voice/calls", as(old.key)), 401, "invalid_api_key");
    expect((await gw("/v1/voice/calls", as(rotated.key!))).status).toBe(200);
  });

  it("bulk: 200 with one new key per id, in order; every old key refused", async () => {
    const admin = await seed("org_bulk");
    const olds = [await seed("org_bulk", ["chat:read"], "a"), await seed("org_bulk", ["voice:read"], "b"), await seed("org_bulk", ["agents:read"], "c")];
    const res = await gw(`${API}/rotate`, as(admin.key, jsonInit("POST", { ids: olds.map((k) => k.id) })));
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const { data } = await json<{ data: (View & { old_id: string; old_key_expires_at: string | null })[] }>(res);
    expect(data.map((r) => [r.old_id, r.name, r.scopes])).toEqual(olds.map((k) => [k.id, k.name, k.scopes]));
    for (const [i, rotated] of data.entries()) {
      expect(rotated.old_key_expires_at).not.toBeNull();
      await expectProblem(await gw("/v1/chat/agents", as(olds[i]!.key)), 401, "invalid_api_key");
      expect((await gw(`${API}/${rotated.id}`, as(admin.key))).status).toBe(200);
    }
  });

  it("bulk with a grace period keeps every old key working until its end", async () => {
    const admin = await seed("org_bulk_grace");
    const old = await seed("org_bulk_grace", ["chat:read"]);
    const res = await gw(`${API}/rotate`, as(admin.key, jsonInit("POST", { ids: [old.id], grace_period_seconds: 600 })));
    const { data } = await json<{ data: { old_key_expires_at: string }[] }>(res);
    expect(Date.parse(data[0]!.old_key_expires_at) - Date.now()).toBeGreaterThan(590_000);
    expect((await gw("/v1/chat", as(old.key))).status).toBe(200);
  });

  it("bulk is all or nothing: one id of another organisation → 404 naming it, and nothing is rotated", async () => {
    const admin = await seed("org_bulk2");
    const mine = [await seed("org_bulk2"), await seed("org_bulk2")];
    const theirs = await seed("org_bulk_other");
    const ids = [mine[0]!.id, theirs.id, mine[1]!.id];
    const res = await gw(`${API}/rotate`, as(admin.key, jsonInit("POST", { ids })));
    const body = await expectProblem(res, 404, "key_not_found");
    expect(body["errors"]).toEqual([{ field: "ids[1]", message: "names no API key in your organization" }]);
    for (const key of [...mine, theirs]) expect((await gw("/v1/chat/agents", as(key.key))).status).toBe(200);
    const listed = await json<{ data: View[] }>(await gw(API, as(admin.key)));
    expect(listed.data).toHaveLength(3);
  });
});

describe("bulk rotation when KV fails midway", () => {
  it("creating the new keys fails → 503, the new keys are removed, the old keys keep working", async () => {
    const olds = [await seed("org_bulk_fail"), await seed("org_bulk_fail"), await seed("org_bulk_fail")];
    const kv = kvFromBinding(env.API_KEYS);
    let puts = 0;
    const flaky: KvLike = { ...kv, put: (key, value, options) => (++puts > 7 ? Promise.reject(new Error("KV write failed (test)")) : kv.put(key, value, options)) };
    const deps = { ...serviceDeps(), store: new KeyStore(flaky) };
    await expect(rotateKeys(deps, operator("org_bulk_fail"), olds.map((k) => k.id), 0)).rejects.toMatchObject({ code: "key_store_unavailable" });
    const listed = await listKeys(serviceDeps(), "org_bulk_fail", { limit: 100, cursor: undefined });
    expect(listed.data.map((k) => k.id).sort()).toEqual(olds.map((k) => k.id).sort());
    const keys = await env.API_KEYS.list({ prefix: "k:" });
    const records = await Promise.all(keys.keys.map(async (k) => JSON.parse((await env.API_KEYS.get(k.name))!) as { org_id: string }));
    expect(records.filter((r) => r.org_id === "org_bulk_fail")).toHaveLength(3);
    for (const old of olds) expect((await gw("/v1/chat/agents", as(old.key))).status).toBe(200);
  });
});

describe("bad input → 400 naming the field", () => {
  let admin: { key: string; id: string };
  beforeEach(async () => {
    admin = await seed("org_input");
  });

  it.each([
    ["an empty name", { name: "", scopes: ["*"] }, "name", "must not be empty"],
    ["a 101-character name", { name: "n".repeat(101), scopes: ["*"] }, "name", "must be at most 100 characters"],
    ["a numeric name", { name: 42, scopes: ["*"] }, "name", "must be a string"],
    ["a missing name", { scopes: ["*"] }, "name", "is required"],
    ["scopes as a string", { name: "x", scopes: "chat:read" }, "scopes", "must be an array of scopes"],
    ["an empty scope list", { name: "x", scopes: [] }, "scopes", "must list at least one scope"],
    ["an unknown scope", { name: "x", scopes: ["chat:read", "billing:write"] }, "scopes[1]", "is not a known scope or preset"],
    ["an array body", [], "body", "must be a JSON object"],
  ])("create with %s", async (_label, body, field, message) => {
    const res = await gw(API, as(admin.key, jsonInit("POST", body)));
    const problem = await expectProblem(res, 400, "validation_failed");
    expect(problem["errors"]).toEqual([{ field, message }]);
    expect(problem["detail"]).toContain(field);
  });

  it.each([
    ["too many ids", { ids: Array.from({ length: 101 }, (_, i) => `key_${i}`) }, "ids", "must list at most 100 key ids"],
    ["no ids", { ids: [] }, "ids", "must list at least one key id"],
    ["a bad grace period", { ids: ["key_x"], grace_period_seconds: -5 }, "grace_period_seconds", "must be between 0 and 2592000"],
  ])("bulk rotate with %s", async (_label, body, field, message) => {
    const problem = await expectProblem(await gw(`${API}/rotate`, as(admin.key, jsonInit("POST", body))), 400, "validation_failed");
    expect(problem["errors"]).toEqual([{ field, message }]);
  });

  it("rotate with a grace period of the wrong type", async () => {
    const res = await gw(`${API}/${admin.id}/rotate`, as(admin.key, jsonInit("POST", { grace_period_seconds: "1h" })));
    const problem = await expectProblem(res, 400, "validation_failed");
    expect(problem["errors"]).toEqual([{ field: "grace_period_seconds", message: "must be an integer number of seconds" }]);
  });

  it("a body that is not JSON → 400 invalid_json", async () => {
    const res = await gw(API, as(admin.key, { method: "POST", headers: { "content-type": "application/json" }, body: "{name:" }));
    await expectProblem(res, 400, "invalid_json");
  });

  it("a body that is not application/json → 415", async () => {
    const res = await gw(API, as(admin.key, { method: "POST", headers: { "content-type": "text/plain" }, body: '{"name":"x","scopes":["*"]}' }));
    await expectProblem(res, 415, "unsupported_media_type");
    expect(res.headers.get("accept-post")).toBe("application/json");
  });

  it("a body over 64 KiB → 413", async () => {
    const res = await gw(API, as(admin.key, jsonInit("POST", { name: "x", scopes: ["*"], pad: "p".repeat(65 * 1024) })));
    await expectProblem(res, 413, "payload_too_large");
  });

  it("an unknown method → 405 with Allow; an unknown subpath → 404", async () => {
    const put = await gw(API, as(admin.key, { method: "PUT" }));
    await expectProblem(put, 405, "method_not_allowed");
    expect(put.headers.get("allow")).toBe("GET, HEAD, POST");
    const put2 = await gw(`${API}/${admin.id}`, as(admin.key, { method: "PUT" }));
    await expectProblem(put2, 405, "method_not_allowed");
    expect(put2.headers.get("allow")).toBe("GET, HEAD, PATCH, DELETE");
    await expectProblem(await gw(`${API}/rotate`, as(admin.key)), 405, "method_not_allowed");
    await expectProblem(await gw(`${API}/${admin.id}/rename`, as(admin.key, { method: "POST" })), 404, "not_found");
  });
});

describe("a failing key store", () => {
  it("answers 503 key_store_unavailable on every management call", async () => {
    const admin = await seed("org_kv_down");
    const { kv, fail } = countingKv();
    const bindings = bindingsWith(kv);
    expect((await callGateway(bindings, API, as(admin.key))).status).toBe(200); // warm: authenticated from cache
    fail(true);
    for (const [path, init] of [
      [API, {}],
      [API, jsonInit("POST", { name: "x", scopes: ["chat:read"] })],
      [`${API}/${admin.id}`, {}],
      [`${API}/${admin.id}`, { method: "DELETE" }],
      [`${API}/rotate`, jsonInit("POST", { ids: [admin.id] })],
    ] as const) {
      await expectProblem(await callGateway(bindings, path, as(admin.key, init)), 503, "key_store_unavailable");
    }
  });
});

describe("storage", () => {
  afterAll(() => expect(issued.length).toBeGreaterThan(40));

  it("no plaintext key, nor its random part, appears in any KV key, value or metadata", async () => {
    const names: { name: string; metadata?: unknown }[] = [];
    let cursor: string | undefined;
    do {
      const page = await env.API_KEYS.list(cursor ? { cursor } : {});
      names.push(...page.keys);
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
    expect(names.length).toBeGreaterThan(100);
    const haystack: string[] = [];
    for (const { name, metadata } of names) {
      haystack.push(name, JSON.stringify(metadata ?? null), (await env.API_KEYS.get(name)) ?? "");
    }
    const all = haystack.join("\n");
    for (const key of issued) {
      expect(all).not.toContain(key);
      expect(all).not.toContain(key.slice(8, 8 + KEY_RANDOM_LENGTH));
    }
  });
});
