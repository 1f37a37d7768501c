// API keys at the edge: format refusal before any lookup, caches, revocation, grace periods,
// failing KV, last_used_at. KV calls are counted through a wrapped binding; time is moved with
// vi.setSystemTime, never waited for.
import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { keyCaches, resetKeyCaches } from "../../src/keys/cache";
import { generateKey, keyChecksum } from "../../src/keys/format";
import { hashKey } from "../../src/keys/hash";
import { deleteKey, rotateKey } from "../../src/keys/service";
import { REVOCATION_LOG_NAME } from "../../src/revocation/durable-object";
import { KeyStore, kvFromBinding } from "../../src/keys/store";
import { bindingsWith, callGateway, countingKv, expectProblem, jsonInit, kvReads, operator, seedKey, serviceDeps } from "../helpers/keys";

const withKey = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, "x-api-key": key } });
const gw = (path: string, init?: RequestInit) => exports.default.fetch(`https://api.agntix.test${path}`, init);
const store = () => new KeyStore(kvFromBinding(env.API_KEYS));
const revocationLog = () => env.REVOCATION_LOG.get(env.REVOCATION_LOG.idFromName(REVOCATION_LOG_NAME));

/** What another isolate's (or location's) delete leaves: the log's entry and KV without the key. */
async function deleteElsewhere(id: string): Promise<string> {
  const stored = (await store().findById(id))!;
  await revocationLog().append([{ kind: "key", subject: stored.hash, not_after: Date.now(), reason: "delete", key_id: id }], 600_000);
  await store().remove(stored);
  return stored.hash;
}

async function expectInvalidKey(res: Response, detail?: RegExp): Promise<void> {
  const body = await expectProblem(res, 401, "invalid_api_key");
  expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="agntix", error="invalid_token", error_description="/);
  if (detail) expect(body["detail"]).toMatch(detail);
}

beforeEach(() => resetKeyCaches());
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("a valid key", () => {
  it("reaches the origin as its organisation, with its id and expanded scopes, and without the key", async () => {
    const { key, id } = await seedKey("org_valid", ["read-only"]);
    const res = await gw("/v1/chat/agents", withKey(key));
    expect(res.status).toBe(200);
    const echo = (await res.json()) as { headers: Record<string, string> };
    expect(echo.headers["x-agntix-org-id"]).toBe("org_valid");
    expect(echo.headers["x-agntix-auth-method"]).toBe("api_key");
    expect(echo.headers["x-agntix-principal-id"]).toBe(id);
    expect(echo.headers["x-agntix-scopes"]).toBe("chat:read agents:read voice:read");
    expect(JSON.stringify(echo)).not.toContain(key);
  });

  it.each([
    [["read-only"], "POST", "/v1/chat/agents", ["agents:write"]],
    [["voice-only"], "GET", "/v1/chat/agents", ["agents:read"]],
    [["chat:read"], "GET", "/v1/chat/api-keys", ["api-keys:read"]],
  ])("with scopes %j is refused %s %s (403, names %j)", async (scopes, method, path, required) => {
    const { key } = await seedKey("org_scoped", scopes);
    const res = await gw(path, withKey(key, { method }));
    const body = await expectProblem(res, 403, "insufficient_scope");
    expect(body["required_scopes"]).toEqual(required);
    expect(res.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
  });

  it("with voice-only passes on /v1/voice", async () => {
    const { key } = await seedKey("org_scoped", ["voice-only"]);
    expect((await gw("/v1/voice/calls", withKey(key, { method: "POST" }))).status).toBe(200);
  });
});

describe("refused before any lookup", () => {
  const body = "pk_test_" + "Q".repeat(30);
  it.each([
    ["a bad checksum", body + (keyChecksum(body) === "000000" ? "000001" : "000000"), /checksum/],
    ["a truncated key", generateKey("pk_test_").slice(0, -1), /malformed/],
    ["a key from production", generateKey("pk_live_"), /another environment/],
    ["a non-key", "hello", /malformed/],
    ["an old-style secret", "sk_test_" + "a".repeat(36), /malformed/],
  ])("%s → 401 with zero KV reads", async (_label, key, detail) => {
    const { kv, counts } = countingKv();
    const res = await callGateway(bindingsWith(kv), "/v1/chat/agents", withKey(key));
    await expectInvalidKey(res, detail);
    expect(counts).toEqual({ get: 0, put: 0, delete: 0, list: 0, getWithMetadata: 0 });
  });
});

describe("caches", () => {
  it("a warm key costs no KV read", async () => {
    const { key } = await seedKey("org_warm");
    const { kv, counts } = countingKv();
    const bindings = bindingsWith(kv);
    expect((await callGateway(bindings, "/v1/chat/agents", withKey(key))).status).toBe(200);
    expect(counts.get).toBe(1);
    for (let i = 0; i < 5; i++) expect((await callGateway(bindings, "/v1/chat/agents", withKey(key))).status).toBe(200);
    expect(counts.get).toBe(1);
    expect(kvReads(counts)).toBe(1);
  });

  it("an unknown key costs one KV read per TTL, then none", async () => {
    const unknown = generateKey("pk_test_");
    const { kv, counts } = countingKv();
    const bindings = bindingsWith(kv);
    for (let i = 0; i < 5; i++) await expectInvalidKey(await callGateway(bindings, "/v1/chat/agents", withKey(unknown)), /not valid/);
    expect(kvReads(counts)).toBe(1);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 31_000);
    await expectInvalidKey(await callGateway(bindings, "/v1/chat/agents", withKey(unknown)));
    expect(kvReads(counts)).toBe(2);
  });

  it("a flood of random well-formed keys is bounded by the caches' caps", async () => {
    const { kv } = countingKv();
    const bindings = bindingsWith(kv);
    for (let i = 0; i < 50; i++) await expectInvalidKey(await callGateway(bindings, "/v1/chat/agents", withKey(generateKey("pk_test_"))));
    expect(keyCaches.unknown.size).toBe(50);
    expect(keyCaches.unknown.maxEntries).toBe(10_000);
    expect(keyCaches.verified.maxEntries).toBe(10_000);
  });
});

describe("revocation", () => {
  it("a deleted key is refused on the very next request", async () => {
    const { key, id } = await seedKey("org_del");
    const admin = await seedKey("org_del");
    expect((await gw("/v1/chat/agents", withKey(key))).status).toBe(200);
    const del = await gw(`/v1/chat/api-keys/${id}`, withKey(admin.key, { method: "DELETE" }));
    expect(del.status).toBe(204);
    await expectInvalidKey(await gw("/v1/chat/agents", withKey(key)), /deleted or rotated/);
  });

  it("a key deleted by another isolate is refused here within poll + 2 × check interval, though cached, with no KV read", async () => {
    const { key, id } = await seedKey("org_feed");
    const { kv, counts } = countingKv();
    const bindings = bindingsWith(kv);
    vi.useFakeTimers({ toFake: ["Date"] });
    const t0 = Date.now();
    expect((await callGateway(bindings, "/v1/chat/agents", withKey(key))).status).toBe(200);
    const hash = await deleteElsewhere(id);
    expect(keyCaches.verified.get(hash)).toBeDefined();
    const reads = kvReads(counts);
    // Within one check interval this isolate has not looked: the cached copy still works.
    vi.setSystemTime(t0 + 999);
    expect((await callGateway(bindings, "/v1/chat/agents", withKey(key))).status).toBe(200);
    let refusedAt: number | undefined;
    for (let t = t0 + 1000; t <= t0 + 10_000 && refusedAt === undefined; t += 250) {
      vi.setSystemTime(t);
      const res = await callGateway(bindings, "/v1/chat/agents", withKey(key));
      if (res.status === 401) refusedAt = t;
      else expect(res.status).toBe(200);
    }
    expect(refusedAt! - t0).toBeLessThanOrEqual(2000 + 2 * 1000);
    expect(kvReads(counts)).toBe(reads);
  });

  it("with API_KEY_REVOCATION_CHECK_MS=0 and a 1 ms poll, another isolate's delete is refused on the very next request", async () => {
    const { key, id } = await seedKey("org_feed0");
    const bindings = { ...bindingsWith(env.API_KEYS), API_KEY_REVOCATION_CHECK_MS: "0", REVOCATION_POLL_MS: "1" };
    expect((await callGateway(bindings, "/v1/chat/agents", withKey(key))).status).toBe(200);
    await deleteElsewhere(id);
    await new Promise((resolve) => setTimeout(resolve, 5)); // past the 1 ms poll interval and its lease
    await expectInvalidKey(await callGateway(bindings, "/v1/chat/agents", withKey(key)));
  });

  it("with REVOCATION_FEED=off, a cached copy lasts at most the 60 s TTL: the KV bound", async () => {
    const { key, id } = await seedKey("org_bound");
    const bindings = { ...bindingsWith(env.API_KEYS), REVOCATION_FEED: "off" };
    expect((await callGateway(bindings, "/v1/chat/agents", withKey(key))).status).toBe(200);
    await deleteElsewhere(id);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 59_000);
    expect((await callGateway(bindings, "/v1/chat/agents", withKey(key))).status).toBe(200);
    vi.setSystemTime(Date.now() + 1_001);
    await expectInvalidKey(await callGateway(bindings, "/v1/chat/agents", withKey(key)));
  });

  it("a rotated key is refused on the next request; its successor works", async () => {
    const { key, id } = await seedKey("org_rot", ["chat:*", "api-keys:write"]);
    expect((await gw("/v1/chat", withKey(key))).status).toBe(200);
    const res = await gw(`/v1/chat/api-keys/${id}/rotate`, withKey(key, { method: "POST" }));
    expect(res.status).toBe(201);
    const rotated = (await res.json()) as { key: string; old_id: string };
    expect(rotated.old_id).toBe(id);
    await expectInvalidKey(await gw("/v1/chat", withKey(key)));
    expect((await gw("/v1/chat", withKey(rotated.key))).status).toBe(200);
  });
});

describe("rotation grace period", () => {
  it("the old key works until the grace period ends, then is refused; the new key keeps working", async () => {
    const { key, id } = await seedKey("org_grace");
    const admin = await seedKey("org_grace");
    const res = await gw(`/v1/chat/api-keys/${id}/rotate`, withKey(admin.key, jsonInit("POST", { grace_period_seconds: 3600 })));
    expect(res.status).toBe(201);
    const rotated = (await res.json()) as { key: string; old_key_expires_at: string };
    const end = Date.parse(rotated.old_key_expires_at);
    expect(end - Date.now()).toBeGreaterThan(3_590_000);
    expect((await gw("/v1/chat", withKey(key))).status).toBe(200);
    const old = (await (await gw(`/v1/chat/api-keys/${id}`, withKey(admin.key))).json()) as { expires_at: string };
    expect(old.expires_at).toBe(rotated.old_key_expires_at);

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(end + 1);
    await expectInvalidKey(await gw("/v1/chat", withKey(key)), /expired/);
    expect((await gw("/v1/chat", withKey(rotated.key))).status).toBe(200);
    await expectProblem(await gw(`/v1/chat/api-keys/${id}`, withKey(rotated.key)), 404, "key_not_found");
  });

  it("a cached copy without the end (another isolate's) is cut off at the end by the feed's entry", async () => {
    const { key, id } = await seedKey("org_grace2");
    const admin = await seedKey("org_grace2");
    expect((await gw("/v1/chat", withKey(key))).status).toBe(200);
    const hash = await hashKey(key, serviceDeps().pepper);
    const cachedElsewhere = keyCaches.verified.get(hash)!;
    const res = await gw(`/v1/chat/api-keys/${id}/rotate`, withKey(admin.key, jsonInit("POST", { grace_period_seconds: 120 })));
    const rotated = (await res.json()) as { old_key_expires_at: string };
    keyCaches.verified.set(hash, cachedElsewhere); // as another isolate would still hold it
    expect(cachedElsewhere.record.expires_at).toBeUndefined();
    expect((await gw("/v1/chat", withKey(key))).status).toBe(200);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.parse(rotated.old_key_expires_at!) + 1);
    keyCaches.verified.set(hash, cachedElsewhere);
    await expectInvalidKey(await gw("/v1/chat", withKey(key)));
  });
});

describe("key store failures fail closed", () => {
  it("KV throwing → 503 key_store_unavailable, never 401 and never a pass", async () => {
    const { key } = await seedKey("org_down");
    const { kv, fail } = countingKv();
    fail(true);
    const res = await callGateway(bindingsWith(kv), "/v1/chat/agents", withKey(key));
    const body = await expectProblem(res, 503, "key_store_unavailable");
    expect(res.headers.get("www-authenticate")).toBeNull();
    expect(JSON.stringify(body)).not.toMatch(/KV is down/);
  });

  it("the location's cache throwing → the isolate reads the log itself and revocations still arrive", async () => {
    const { key, id } = await seedKey("org_cache_down");
    const bindings = { ...bindingsWith(env.API_KEYS), API_KEY_REVOCATION_CHECK_MS: "0", REVOCATION_POLL_MS: "1" };
    expect((await callGateway(bindings, "/v1/chat/agents", withKey(key))).status).toBe(200);
    vi.spyOn(caches.default, "match").mockRejectedValue(new Error("cache down"));
    vi.spyOn(caches.default, "put").mockRejectedValue(new Error("cache down"));
    expect((await callGateway(bindings, "/v1/chat/agents", withKey(key))).status).toBe(200);
    await deleteElsewhere(id);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await expectInvalidKey(await callGateway(bindings, "/v1/chat/agents", withKey(key)));
  });

  it("a corrupt record → 503, not a pass", async () => {
    const key = generateKey("pk_test_");
    await env.API_KEYS.put(`h:${await hashKey(key, serviceDeps().pepper)}`, "{not json");
    await expectProblem(await gw("/v1/chat/agents", withKey(key)), 503, "key_store_unavailable");
  });
});

describe("last_used_at", () => {
  it("is written behind the response, once per key per minute per isolate, and shown by get and list", async () => {
    const started = new Date().toISOString();
    const { key, id } = await seedKey("org_used");
    const admin = await seedKey("org_used");
    const { kv, counts } = countingKv();
    const bindings = bindingsWith(kv);
    for (let i = 0; i < 3; i++) expect((await callGateway(bindings, "/v1/chat/agents", withKey(key))).status).toBe(200);
    expect(counts.put).toBe(1);

    const got = (await (await gw(`/v1/chat/api-keys/${id}`, withKey(admin.key))).json()) as { last_used_at: string };
    expect(got.last_used_at >= started).toBe(true);
    const listed = (await (await gw("/v1/chat/api-keys", withKey(admin.key))).json()) as { data: { id: string; last_used_at: string | null }[] };
    expect(listed.data.find((k) => k.id === id)?.last_used_at).toBe(got.last_used_at);

    vi.useFakeTimers({ toFake: ["Date"] });
    const later = Date.now() + 61_000;
    vi.setSystemTime(later);
    expect((await callGateway(bindings, "/v1/chat/agents", withKey(key))).status).toBe(200);
    expect(counts.put).toBe(2);
    expect(Date.parse((await env.API_KEYS.get(`u:${id}`))!)).toBeGreaterThanOrEqual(later);
  });

  it("a failing write does not fail the request", async () => {
    const { key } = await seedKey("org_used2");
    const { kv, counts } = countingKv();
    const bindings = bindingsWith(kv);
    expect((await callGateway(bindings, "/v1/chat/agents", withKey(key))).status).toBe(200);
    const failing = countingKv(kv);
    failing.fail(true);
    keyCaches.lastUsedWritten.clear();
    expect((await callGateway(bindingsWith(failing.kv), "/v1/chat/agents", withKey(key))).status).toBe(200);
    expect(failing.counts.put).toBe(1);
    expect(counts.get).toBe(1);
  });
});

describe("concurrent lookups", () => {
  it("a burst of requests with one uncached key shares one KV read", async () => {
    const { kv, counts } = countingKv();
    const bindings = bindingsWith(kv);
    const unknown = generateKey("pk_test_");
    const results = await Promise.all(Array.from({ length: 10 }, () => callGateway(bindings, "/v1/chat/agents", withKey(unknown))));
    for (const res of results) await expectInvalidKey(res);
    expect(counts.get + counts.getWithMetadata).toBe(1);

    const { key } = await seedKey("org_burst");
    const ok = await Promise.all(Array.from({ length: 10 }, () => callGateway(bindings, "/v1/chat/agents", withKey(key))));
    expect(ok.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(counts.get + counts.getWithMetadata).toBe(2);
  });
});

describe("a rotation that cannot retire the old key", () => {
  it("answers old_key_expires_at: null and leaves the old key whole, so it can still be deleted", async () => {
    const { key, id } = await seedKey("org_retire");
    const stored = (await store().findById(id))!;
    // KV that refuses only the write that would give the old key's hash entry an end.
    const failing = {
      ...Object.fromEntries(["get", "getWithMetadata", "list", "delete"].map((m) => [m, (env.API_KEYS as unknown as Record<string, Function>)[m]!.bind(env.API_KEYS)])),
      put: (name: string, ...rest: unknown[]) =>
        name === `h:${stored.hash}` ? Promise.reject(new Error("429 (test)")) : (env.API_KEYS.put as Function).call(env.API_KEYS, name, ...rest),
    } as unknown as KVNamespace;
    const rotated = await rotateKey(serviceDeps(failing), operator("org_retire"), id, 3600);
    expect(rotated.old_key_expires_at).toBeNull();
    expect((await store().findById(id))!.expires_at).toBeUndefined();
    expect((await gw("/v1/chat/agents", withKey(key))).status).toBe(200);
    await deleteKey(serviceDeps(), "org_retire", id);
    await expectInvalidKey(await gw("/v1/chat/agents", withKey(key)));
  });
});
