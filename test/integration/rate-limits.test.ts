// Rate limits through the gateway, against real Rate Limiting bindings (miniflare's). The config
// here points at the test-only bindings of vitest.config.ts, whose limits are small:
//   tiers small 2/60, standard 3/60, large 10/60; organization 5/60, organization_sessions 4/60,
//   key_api 6/60, key_creation 2/60.
// Every test uses organisations, keys and users of its own, so counters never carry over.
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Bindings } from "../../src/env";
import { resetKeyCaches } from "../../src/keys/cache";
import { generateKey, generateKeyId, keyHint } from "../../src/keys/format";
import { hashKey } from "../../src/keys/hash";
import { createKey } from "../../src/keys/service";
import { resetRateLimiterForTests } from "../../src/ratelimit/limiter";
import { bearer, sessionToken, unique } from "../helpers/jwt";
import { callGateway, expectProblem, jsonInit, operator, serviceDeps } from "../helpers/keys";

const LIMITED = {
  RATE_LIMITS_ENABLED: "true",
  RATE_LIMIT_TIERS: "small=RL_TEST_SMALL:2/60,standard=RL_TEST_STANDARD:3/60,large=RL_TEST_LARGE:10/60",
  RATE_LIMIT_POLICIES:
    "organization=RL_TEST_ORGANIZATION:5/60,organization_sessions=RL_TEST_ORGANIZATION_SESSIONS:4/60,key_api=RL_TEST_KEY_API:6/60,key_creation=RL_TEST_KEY_CREATION:2/60,leaked_key_reports=RL_TEST_KEY_API:6/60",
  RATE_LIMIT_SESSION_TIER: "standard",
};
const TIERS = ["small", "standard", "large"];
const TEST_BINDINGS = ["RL_TEST_SMALL", "RL_TEST_STANDARD", "RL_TEST_LARGE", "RL_TEST_ORGANIZATION", "RL_TEST_ORGANIZATION_SESSIONS", "RL_TEST_KEY_API", "RL_TEST_KEY_CREATION"];

/** An origin binding that counts what reaches it. */
function countingOrigin(inner: Fetcher = env.CHAT): { origin: Fetcher; seen: () => number } {
  let seen = 0;
  const origin = { fetch: (input: RequestInfo | URL, init?: RequestInit) => (seen++, inner.fetch(input, init)) } as unknown as Fetcher;
  return { origin, seen: () => seen };
}

const chat = countingOrigin();
const limited = { ...(env as unknown as Bindings), ...LIMITED, CHAT: chat.origin } as Bindings;
const gw = (path: string, init?: RequestInit, bindings: Bindings = limited) => callGateway(bindings, path, init);
const withKey = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, "x-api-key": key } });

/** A key of `orgId` with the given tier, created by an operator (who may give any tier). */
async function keyWithTier(orgId: string, rateLimit: string, scopes: string[] = ["*"]) {
  return createKey({ ...serviceDeps(), rateLimitTiers: TIERS }, { ...operator(orgId), rateLimitCeiling: null }, { name: "rate test", scopes, rateLimit });
}

/**
 * Miniflare's limiter counts in windows aligned to the wall clock: a test that started a few
 * seconds before a window ends could see its counters reset half-way. Start in a fresh stretch.
 */
async function awayFromWindowEdge(windowSeconds = 60, marginMs = 8000): Promise<void> {
  const left = windowSeconds * 1000 - (Date.now() % (windowSeconds * 1000));
  if (left < marginMs) await new Promise((resolve) => setTimeout(resolve, left + 100));
}

beforeEach(async () => {
  resetKeyCaches();
  resetRateLimiterForTests();
  await awayFromWindowEdge();
});
afterEach(() => vi.restoreAllMocks());

describe("an API key", () => {
  it("gets N requests a window, and the (N+1)th is 429 with Retry-After, RateLimit-Policy, RateLimit and the problem's fields, never reaching the origin", async () => {
    const org = unique("org_rl");
    const { key } = await keyWithTier(org, "small");
    for (let i = 0; i < 2; i++) {
      const ok = await gw("/v1/chat/agents", withKey(key));
      expect(ok.status).toBe(200);
      expect(ok.headers.get("ratelimit-policy")).toBe('"key";q=2;w=60, "organization";q=5;w=60');
      // The binding cannot say what is left, so a passing response makes no claim about it.
      expect(ok.headers.get("ratelimit")).toBeNull();
    }
    const before = chat.seen();
    const res = await gw("/v1/chat/agents", withKey(key, { method: "POST", body: "{}" }));
    const body = await expectProblem(res, 429, "rate_limited");
    expect(body).toMatchObject({ limit: "key", quota: 2, window_seconds: 60, title: "Rate limit exceeded" });
    expect(body["detail"]).toMatch(/this API key allows 2 requests per 60 seconds/);
    expect(body["request_id"]).toBe(res.headers.get("x-request-id"));
    expect(res.headers.get("retry-after")).toBe("60");
    expect(res.headers.get("ratelimit-policy")).toBe('"key";q=2;w=60, "organization";q=5;w=60');
    expect(res.headers.get("ratelimit")).toBe('"key";r=0;t=60');
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(chat.seen()).toBe(before);
  });

  it("over its limit leaves the other keys of its organisation alone until the organisation's aggregate is reached", async () => {
    const org = unique("org_rl");
    const a = await keyWithTier(org, "small");
    const b = await keyWithTier(org, "large");
    expect((await gw("/v1/chat/agents", withKey(a.key))).status).toBe(200);
    expect((await gw("/v1/chat/agents", withKey(a.key))).status).toBe(200);
    // Key A keeps trying: refused by its own limit, and those refusals spend nothing of the org's.
    for (let i = 0; i < 4; i++) expect((await expectProblem(await gw("/v1/chat/agents", withKey(a.key)), 429, "rate_limited"))["limit"]).toBe("key");
    // The organisation has 5: key B gets the 3 that are left, well under its own 10.
    for (let i = 0; i < 3; i++) {
      const ok = await gw("/v1/voice/calls", withKey(b.key));
      expect(ok.status).toBe(200);
      expect(ok.headers.get("ratelimit-policy")).toBe('"key";q=10;w=60, "organization";q=5;w=60');
    }
    const res = await gw("/v1/voice/calls", withKey(b.key));
    const body = await expectProblem(res, 429, "rate_limited");
    expect(body).toMatchObject({ limit: "organization", quota: 5, window_seconds: 60 });
    expect(res.headers.get("ratelimit")).toBe('"organization";r=0;t=60');
    // Another organisation is not touched.
    const other = await keyWithTier(unique("org_rl"), "small");
    expect((await gw("/v1/chat/agents", withKey(other.key))).status).toBe(200);
  });

  it("once refused, is refused from memory for a moment: a client hammering past its limit costs no binding call", async () => {
    let calls = 0;
    const counted = {
      limit: (options: RateLimitOptions) => (calls++, (env as unknown as Record<string, RateLimit>)["RL_TEST_SMALL"]!.limit(options)),
    } as unknown as RateLimit;
    const bindings = { ...limited, RL_TEST_SMALL: counted } as Bindings;
    const { key } = await keyWithTier(unique("org_rl"), "small");
    for (let i = 0; i < 2; i++) expect((await gw("/v1/chat/agents", withKey(key), bindings)).status).toBe(200);
    for (let i = 0; i < 5; i++) await expectProblem(await gw("/v1/chat/agents", withKey(key), bindings), 429, "rate_limited");
    expect(calls).toBe(3);
  });

  it("created before tiers existed (no rate_limit on its record) is limited as standard", async () => {
    const key = generateKey("pk_test_");
    const id = generateKeyId();
    const record = { id, org_id: unique("org_rl"), name: "old", scopes: ["*"], hint: keyHint(key), created_at: new Date().toISOString(), created_by: { method: "operator" as const, id: "test" } };
    await serviceDeps().store.insert(record, await hashKey(key, serviceDeps().pepper));
    const res = await gw("/v1/chat/agents", withKey(key));
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit-policy")).toBe('"key";q=3;w=60, "organization";q=5;w=60');
    const view = (await (await gw(`/v1/chat/api-keys/${id}`, withKey(key))).json()) as { rate_limit: string };
    expect(view.rate_limit).toBe("standard");
  });
});

describe("a session", () => {
  it("is limited per user by the session tier, then per organisation's sessions", async () => {
    const org = unique("org_rl");
    const alice = await sessionToken({ sub: unique("user_"), o: { id: org, rol: "admin", slg: "t" } });
    const bob = await sessionToken({ sub: unique("user_"), o: { id: org, rol: "admin", slg: "t" } });
    for (let i = 0; i < 3; i++) {
      const ok = await gw("/v1/chat/agents", bearer(alice));
      expect(ok.status).toBe(200);
      expect(ok.headers.get("ratelimit-policy")).toBe('"user";q=3;w=60, "organization_sessions";q=4;w=60, "organization";q=5;w=60');
    }
    const res = await gw("/v1/chat/agents", bearer(alice));
    expect(await expectProblem(res, 429, "rate_limited")).toMatchObject({ limit: "user", quota: 3 });
    expect(res.headers.get("ratelimit")).toBe('"user";r=0;t=60');
    expect(res.headers.get("retry-after")).toBe("60");
    // Bob is another user: his own 3, but the organisation's sessions have 4 in all.
    expect((await gw("/v1/chat/agents", bearer(bob))).status).toBe(200);
    const bobs = await gw("/v1/chat/agents", bearer(bob));
    expect(await expectProblem(bobs, 429, "rate_limited")).toMatchObject({ limit: "organization_sessions", quota: 4 });
  });
});

describe("the key management API", () => {
  it("has a limit per caller of its own, apart from traffic", async () => {
    const org = unique("org_rl");
    const { key } = await keyWithTier(org, "large");
    for (let i = 0; i < 6; i++) {
      const ok = await gw("/v1/chat/api-keys", withKey(key));
      expect(ok.status).toBe(200);
      expect(ok.headers.get("ratelimit-policy")).toBe('"key_api";q=6;w=60');
    }
    const res = await gw("/v1/chat/api-keys", withKey(key));
    expect(await expectProblem(res, 429, "rate_limited")).toMatchObject({ limit: "key_api", quota: 6 });
    // Traffic has its own counters.
    expect((await gw("/v1/chat/agents", withKey(key))).status).toBe(200);
  });

  it("refuses a tier above the caller's own, shows the tier in get and list, and limits key creation per organisation", async () => {
    const org = unique("org_rl");
    const { key } = await keyWithTier(org, "small");
    const create = (body: unknown) => gw("/v1/chat/api-keys", jsonInit("POST", body, { "x-api-key": key }));

    const refused = await create({ name: "bigger", scopes: ["chat:read"], rate_limit: "standard" });
    const body = await expectProblem(refused, 403, "rate_limit_escalation");
    expect(body).toMatchObject({ rate_limit: "standard", allowed_rate_limits: ["small"] });

    // No tier asked: standard, or the caller's own when lower.
    const created = await create({ name: "same", scopes: ["chat:read"] });
    expect(created.status).toBe(201);
    const made = (await created.json()) as { id: string; rate_limit: string };
    expect(made.rate_limit).toBe("small");
    const got = (await (await gw(`/v1/chat/api-keys/${made.id}`, withKey(key))).json()) as { rate_limit: string };
    expect(got.rate_limit).toBe("small");
    const list = (await (await gw("/v1/chat/api-keys", withKey(key))).json()) as { data: { id: string; rate_limit: string }[] };
    expect(list.data.find((k) => k.id === made.id)?.rate_limit).toBe("small");

    // Two key-minting calls a window per organisation (attempts count, refused or not).
    const third = await create({ name: "third", scopes: ["chat:read"], rate_limit: "small" });
    expect(await expectProblem(third, 429, "rate_limited")).toMatchObject({ limit: "key_creation", quota: 2 });
    expect(third.headers.get("ratelimit-policy")).toBe('"key_api";q=6;w=60, "key_creation";q=2;w=60');
  });

  it("lets a session give tiers up to the session tier, and refuses an unknown tier", async () => {
    const org = unique("org_rl");
    const token = await sessionToken({ sub: unique("user_"), o: { id: org, rol: "admin", slg: "t" } });
    const create = (body: unknown) => gw("/v1/chat/api-keys", jsonInit("POST", body, { authorization: `Bearer ${token}` }));
    expect(await expectProblem(await create({ name: "k", scopes: ["chat:read"], rate_limit: "large" }), 403, "rate_limit_escalation")).toMatchObject({
      allowed_rate_limits: ["small", "standard"],
    });
    const made = await create({ name: "k", scopes: ["chat:read"], rate_limit: "standard" });
    expect(made.status).toBe(201);
    expect(((await made.json()) as { rate_limit: string }).rate_limit).toBe("standard");
    // Checked before the tier list: refused as malformed, whoever asks (the org's creation budget is spent by now).
    const unknownOrg = unique("org_rl");
    const other = await sessionToken({ sub: unique("user_"), o: { id: unknownOrg, rol: "admin", slg: "t" } });
    const res = await gw("/v1/chat/api-keys", jsonInit("POST", { name: "k", scopes: ["chat:read"], rate_limit: "gold" }, { authorization: `Bearer ${other}` }));
    const problem = await expectProblem(res, 400, "validation_failed");
    expect(problem["errors"]).toEqual([{ field: "rate_limit", message: "must be one of small, standard, large" }]);
  });

  it("lets a key rotate only keys whose tier it could give", async () => {
    const org = unique("org_rl");
    const small = await keyWithTier(org, "small");
    const large = await keyWithTier(org, "large");
    const res = await gw(`/v1/chat/api-keys/${large.id}/rotate`, withKey(small.key, { method: "POST" }));
    await expectProblem(res, 403, "rate_limit_escalation");
    const ok = await gw(`/v1/chat/api-keys/${small.id}/rotate`, withKey(large.key, { method: "POST" }));
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as { rate_limit: string }).rate_limit).toBe("small");
  });
});

describe("a failing limiter", () => {
  const failing = Object.fromEntries(
    TEST_BINDINGS.map((name) => [name, { limit: () => Promise.reject(new Error("limiter down (test)")) } as unknown as RateLimit]),
  );
  const broken = { ...limited, ...failing } as Bindings;

  function failureEvents(spy: { mock: { calls: unknown[][] } }): Record<string, unknown>[] {
    return spy.mock.calls
      .map((args) => String(args[0]))
      .filter((line) => line.includes('"rate_limiter_failed"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  it("lets traffic through and logs an event to alert on", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const { key } = await keyWithTier(unique("org_rl"), "small");
    const before = chat.seen();
    for (let i = 0; i < 3; i++) expect((await gw("/v1/chat/agents", withKey(key), broken)).status).toBe(200);
    expect(chat.seen()).toBe(before + 3);
    const events = failureEvents(errors);
    expect(events[0]).toMatchObject({ level: "error", event: "rate_limiter_failed", binding: "RL_TEST_SMALL", limit: "key", call: "traffic", outcome: "allowed", cause: "Error" });
    // Once a second per binding, not once per request.
    expect(events.filter((e) => e["binding"] === "RL_TEST_SMALL")).toHaveLength(1);
    expect(JSON.stringify(errors.mock.calls)).not.toContain(key);
  });

  it("refuses key API writes with 503 rate_limiter_unavailable, and lets reads through", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const { key } = await keyWithTier(unique("org_rl"), "large");
    const res = await gw("/v1/chat/api-keys", jsonInit("POST", { name: "k", scopes: ["chat:read"] }, { "x-api-key": key }), broken);
    await expectProblem(res, 503, "rate_limiter_unavailable");
    expect(res.headers.get("retry-after")).toBe("1");
    expect(failureEvents(errors)[0]).toMatchObject({ event: "rate_limiter_failed", call: "key_creation", outcome: "refused_503" });
    const list = await gw("/v1/chat/api-keys", withKey(key), broken);
    expect(list.status).toBe(200);
    // Nothing was created by the refused call: the caller's own key is the organisation's only one.
    expect(((await list.json()) as { data: unknown[] }).data).toHaveLength(1);
  });
});

describe("configuration", () => {
  it("RATE_LIMITS_ENABLED=false turns every limit and its headers off", async () => {
    const off = { ...limited, RATE_LIMITS_ENABLED: "false" } as Bindings;
    const { key } = await keyWithTier(unique("org_rl"), "small");
    for (let i = 0; i < 4; i++) {
      const res = await gw("/v1/chat/agents", withKey(key), off);
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit-policy")).toBeNull();
    }
  });

  it("a tier naming a missing binding is 503 gateway_misconfigured, not a silent pass", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const bad = { ...limited, RATE_LIMIT_TIERS: "standard=RL_NOT_BOUND:3/60" } as Bindings;
    const { key } = await keyWithTier(unique("org_rl"), "standard");
    await expectProblem(await gw("/v1/chat/agents", withKey(key), bad), 503, "gateway_misconfigured");
  });
});
