// Key lifecycle through the gateway: edit (PATCH: name, narrowing scopes, metadata), expiry set at
// creation, metadata limits. Time moves with vi.setSystemTime; another isolate's cached copy is
// simulated by putting its verified entry back into the cache.
import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { keyCaches, resetKeyCaches } from "../../src/keys/cache";
import { hashKey } from "../../src/keys/hash";
import { updateKey } from "../../src/keys/service";
import { KeyStore, kvFromBinding } from "../../src/keys/store";
import { bindingsWith, callGateway, countingKv, expectProblem, jsonInit, kvReads, operator, seedKey, serviceDeps } from "../helpers/keys";

const API = "/v1/chat/api-keys";
const gw = (path: string, init?: RequestInit) => exports.default.fetch(`https://api.agntix.test${path}`, init);
const as = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, "x-api-key": key } });
const store = () => new KeyStore(kvFromBinding(env.API_KEYS));

interface View {
  id: string;
  name: string;
  scopes: string[];
  expires_at: string | null;
  metadata: Record<string, unknown> | null;
  updated_at: string | null;
  key?: string;
}

beforeEach(() => resetKeyCaches());
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("PATCH /v1/chat/api-keys/{id}", () => {
  it("renames and sets metadata; get and list return them; the key keeps working", async () => {
    const admin = await seedKey("org_edit");
    const target = await seedKey("org_edit", ["chat:read"], "old name");
    const res = await gw(`${API}/${target.id}`, as(admin.key, jsonInit("PATCH", { name: "  billing worker ", metadata: { team: "billing", tier: 2 } })));
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const edited = (await res.json()) as View;
    expect(edited).toMatchObject({ id: target.id, name: "billing worker", scopes: ["chat:read"], metadata: { team: "billing", tier: 2 } });
    expect(edited).not.toHaveProperty("key");
    expect(Date.parse(edited.updated_at!)).toBeGreaterThan(0);

    const got = (await (await gw(`${API}/${target.id}`, as(admin.key))).json()) as View;
    expect(got).toMatchObject({ name: "billing worker", metadata: { team: "billing", tier: 2 } });
    const listed = (await (await gw(API, as(admin.key))).json()) as { data: View[] };
    expect(listed.data.find((k) => k.id === target.id)).toMatchObject({ name: "billing worker", metadata: { team: "billing", tier: 2 } });
    expect((await gw("/v1/chat", as(target.key))).status).toBe(200);

    const cleared = (await (await gw(`${API}/${target.id}`, as(admin.key, jsonInit("PATCH", { metadata: null })))).json()) as View;
    expect(cleared.metadata).toBeNull();
    expect(cleared.name).toBe("billing worker");
  });

  it("a narrowed scope is refused at once in the isolate that served the edit", async () => {
    const admin = await seedKey("org_narrow");
    const target = await seedKey("org_narrow", ["chat:*", "agents:read"]);
    expect((await gw("/v1/chat", as(target.key, { method: "POST" }))).status).toBe(200);
    expect((await gw("/v1/chat/agents", as(target.key))).status).toBe(200);

    const res = await gw(`${API}/${target.id}`, as(admin.key, jsonInit("PATCH", { scopes: ["chat:read"] })));
    expect(res.status).toBe(200);
    expect(((await res.json()) as View).scopes).toEqual(["chat:read"]);

    const post = await gw("/v1/chat", as(target.key, { method: "POST" }));
    expect((await expectProblem(post, 403, "insufficient_scope"))["required_scopes"]).toEqual(["chat:write"]);
    await expectProblem(await gw("/v1/chat/agents", as(target.key)), 403, "insufficient_scope");
    const echo = (await (await gw("/v1/chat", as(target.key))).json()) as { headers: Record<string, string> };
    expect(echo.headers["x-agntix-scopes"]).toBe("chat:read");
  });

  it("another isolate holding the old record follows the edit through the revocation feed within poll + 2 × check, with no KV read", async () => {
    const target = await seedKey("org_narrow2", ["chat:*"]);
    const { kv, counts } = countingKv();
    const bindings = bindingsWith(kv);
    vi.useFakeTimers({ toFake: ["Date"] });
    const checkedAt = Date.now();
    expect((await callGateway(bindings, "/v1/chat", as(target.key, { method: "POST" }))).status).toBe(200);
    const hash = await hashKey(target.key, serviceDeps().pepper);
    const elsewhere = keyCaches.verified.get(hash)!;

    await updateKey(serviceDeps(), operator("org_narrow2"), target.id, { scopes: ["chat:read"] });
    keyCaches.verified.set(hash, elsewhere); // as another isolate still holds it
    const reads = kvReads(counts);
    vi.setSystemTime(checkedAt + 999);
    expect((await callGateway(bindings, "/v1/chat", as(target.key, { method: "POST" }))).status).toBe(200);
    let narrowedAt: number | undefined;
    for (let t = checkedAt + 1000; t <= checkedAt + 10_000 && narrowedAt === undefined; t += 250) {
      vi.setSystemTime(t);
      const res = await callGateway(bindings, "/v1/chat", as(target.key, { method: "POST" }));
      if (res.status === 403) {
        await expectProblem(res, 403, "insufficient_scope");
        narrowedAt = t;
      } else expect(res.status).toBe(200);
    }
    expect(narrowedAt! - checkedAt).toBeLessThanOrEqual(2000 + 2 * 1000);
    expect((await callGateway(bindings, "/v1/chat", as(target.key))).status).toBe(200);
    expect(kvReads(counts)).toBe(reads);
  });

  it("a record newer than the feed's edit wins over it (a later edit read from KV)", async () => {
    const target = await seedKey("org_newer", ["chat:*"]);
    await updateKey(serviceDeps(), operator("org_newer"), target.id, { scopes: ["chat:read"] });
    // A later widening made at another location: KV has it, this location's marker is older.
    const stored = (await store().findById(target.id))!;
    await store().update({ ...stored, scopes: ["chat:*"], updated_at: new Date(Date.now() + 5).toISOString() });
    resetKeyCaches();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 10);
    expect((await gw("/v1/chat", as(target.key, { method: "POST" }))).status).toBe(200);
  });

  it("widening is refused unless the caller holds the added scopes (403 names them); narrowing needs no such scope", async () => {
    const target = await seedKey("org_widen", ["chat:read"]);
    const weak = await seedKey("org_widen", ["api-keys:write", "chat:read"]);
    const res = await gw(`${API}/${target.id}`, as(weak.key, jsonInit("PATCH", { scopes: ["chat:write", "agents:read"] })));
    const body = await expectProblem(res, 403, "scope_escalation");
    expect(body["required_scopes"]).toEqual(["chat:write", "agents:read"]);
    expect(res.headers.get("www-authenticate")).toMatch(/error="insufficient_scope"/);
    expect(((await (await gw(`${API}/${target.id}`, as(weak.key))).json()) as View).scopes).toEqual(["chat:read"]);

    const strong = await seedKey("org_widen", ["api-keys:write", "chat:write"]);
    const widened = await gw(`${API}/${target.id}`, as(strong.key, jsonInit("PATCH", { scopes: ["chat:write"] })));
    expect(widened.status).toBe(200);
    expect((await gw("/v1/chat", as(target.key, { method: "POST" }))).status).toBe(200);

    // A manager holding only api-keys:write may still narrow an all-scopes key.
    const all = await seedKey("org_widen", ["*"]);
    const narrowed = await gw(`${API}/${all.id}`, as(weak.key, jsonInit("PATCH", { scopes: ["voice:read"] })));
    expect(narrowed.status).toBe(200);
    expect((await gw("/v1/voice", as(all.key))).status).toBe(200);
    await expectProblem(await gw("/v1/chat", as(all.key)), 403, "insufficient_scope");
  });

  it("another organisation's key, an unknown id or a malformed one → 404", async () => {
    const admin = await seedKey("org_edit_a");
    const other = await seedKey("org_edit_b");
    for (const id of [other.id, "key_000000000000000000000000", "nope"]) {
      await expectProblem(await gw(`${API}/${id}`, as(admin.key, jsonInit("PATCH", { name: "x" }))), 404, "key_not_found");
    }
    expect(((await store().findById(other.id))!).name).toBe("test key");
  });

  it.each([
    [{}, "body"],
    [{ nmae: "x" }, "nmae"],
    [{ name: "" }, "name"],
    [{ scopes: [] }, "scopes"],
    [{ scopes: ["chat:exec"] }, "scopes[0]"],
    [{ metadata: ["a"] }, "metadata"],
    [{ metadata: "text" }, "metadata"],
    [{ metadata: { note: "x".repeat(1014) } }, "metadata"],
    [{ expires_at: "2030-01-01T00:00:00Z" }, "expires_at"],
  ])("PATCH %j → 400 naming %s", async (body, field) => {
    const admin = await seedKey("org_edit_bad");
    const res = await gw(`${API}/${admin.id}`, as(admin.key, jsonInit("PATCH", body)));
    const problem = await expectProblem(res, 400, "validation_failed");
    expect((problem["errors"] as { field: string }[]).map((e) => e.field)).toContain(field);
  });
});

describe("metadata", () => {
  it("accepts exactly 1 KiB of JSON (UTF-8 bytes) and refuses one byte more", async () => {
    const admin = await seedKey("org_meta");
    const fits = { note: "x".repeat(1024 - '{"note":""}'.length) };
    expect(JSON.stringify(fits).length).toBe(1024);
    const created = await gw(API, as(admin.key, jsonInit("POST", { name: "m", scopes: ["chat:read"], metadata: fits })));
    expect(created.status).toBe(201);
    const view = (await created.json()) as View;
    expect(view.metadata).toEqual(fits);
    // Two bytes in UTF-8, one character: counted in bytes.
    const over = { note: `é${"x".repeat(1024 - '{"note":""}'.length - 1)}` };
    const res = await gw(API, as(admin.key, jsonInit("POST", { name: "m", scopes: ["chat:read"], metadata: over })));
    expect(((await expectProblem(res, 400, "validation_failed"))["errors"] as { field: string }[])[0]!.field).toBe("metadata");

    // Listed (a record this size is read from its id entry), and never in the verification entry.
    const listed = (await (await gw(API, as(admin.key))).json()) as { data: View[] };
    expect(listed.data.find((k) => k.id === view.id)?.metadata).toEqual(fits);
    const hash = await hashKey(view.key!, serviceDeps().pepper);
    expect(await env.API_KEYS.get(`h:${hash}`)).not.toContain("note");
  });

  it("is carried to the successor by a rotation", async () => {
    const admin = await seedKey("org_meta_rot");
    const created = (await (await gw(API, as(admin.key, jsonInit("POST", { name: "m", scopes: ["chat:read"], metadata: { owner: "ops" } })))).json()) as View;
    const rotated = (await (await gw(`${API}/${created.id}/rotate`, as(admin.key, { method: "POST" }))).json()) as View;
    expect(rotated.metadata).toEqual({ owner: "ops" });
  });
});

describe("expires_at at creation", () => {
  it("defaults to never; a key given an end works until then and is then refused with a detail saying it expired", async () => {
    const admin = await seedKey("org_expiry");
    const never = (await (await gw(API, as(admin.key, jsonInit("POST", { name: "n", scopes: ["chat:read"] })))).json()) as View;
    expect(never.expires_at).toBeNull();

    const end = new Date(Date.now() + 3600_000);
    const res = await gw(API, as(admin.key, jsonInit("POST", { name: "e", scopes: ["chat:read"], expires_at: end.toISOString().replace("Z", "+00:00") })));
    expect(res.status).toBe(201);
    const created = (await res.json()) as View;
    expect(created.expires_at).toBe(end.toISOString());
    expect((await gw("/v1/chat", as(created.key!))).status).toBe(200);

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(end.getTime() + 1);
    const refused = await gw("/v1/chat", as(created.key!));
    const body = await expectProblem(refused, 401, "invalid_api_key");
    expect(body["detail"]).toBe(`The API key expired at ${end.toISOString()}; create a new one.`);
    expect(refused.headers.get("www-authenticate")).toContain('error="invalid_token"');
    // Still refused as expired by an isolate that never saw it: KV keeps the entry a week.
    resetKeyCaches();
    expect((await expectProblem(await gw("/v1/chat", as(created.key!)), 401, "invalid_api_key"))["detail"]).toMatch(/expired at/);
    await expectProblem(await gw(`${API}/${created.id}`, as(admin.key)), 404, "key_not_found");
    expect((await gw("/v1/chat", as(never.key!))).status).toBe(200);
  });

  it("a rotation's successor keeps the end chosen at creation", async () => {
    const admin = await seedKey("org_expiry_rot");
    const end = new Date(Date.now() + 86_400_000).toISOString();
    const created = (await (await gw(API, as(admin.key, jsonInit("POST", { name: "e", scopes: ["chat:read"], expires_at: end })))).json()) as View;
    const rotated = (await (await gw(`${API}/${created.id}/rotate`, as(admin.key, { method: "POST" }))).json()) as View;
    expect(rotated.expires_at).toBe(end);
  });

  it.each([
    ["tomorrow"],
    ["2030-01-01"],
    ["2030-01-01T00:00:00"],
    [1893456000],
    [new Date(Date.now() - 1000).toISOString()],
    [new Date(Date.now() + 30_000).toISOString()],
    [new Date(Date.now() + 11 * 365 * 86_400_000).toISOString()],
  ])("expires_at %j → 400 validation_failed naming expires_at", async (expiresAt) => {
    const admin = await seedKey("org_expiry_bad");
    const res = await gw(API, as(admin.key, jsonInit("POST", { name: "e", scopes: ["chat:read"], expires_at: expiresAt })));
    const body = await expectProblem(res, 400, "validation_failed");
    expect(body["errors"]).toEqual([expect.objectContaining({ field: "expires_at" })]);
  });
});
