import { describe, expect, it } from "vitest";
import type { Principal } from "../../src/auth/principal";
import { defaultTierFor } from "../../src/keys/service";
import {
  callerTier,
  checkTierGrant,
  exhaustedField,
  limitedCall,
  limitsFor,
  parseLimitSpecs,
  parseRateLimitConfig,
  policyField,
  type RateLimitConfig,
  tierRank,
} from "../../src/ratelimit/policy";
import wranglerToml from "../../wrangler.toml?raw";

const VARS = {
  RATE_LIMIT_TIERS: "basic=RL_BASIC:60/60, standard=RL_STANDARD:600/60, premium=RL_PREMIUM:3000/10",
  RATE_LIMIT_POLICIES: "organization=RL_ORG:6000/60,organization_sessions=RL_OS:3000/60,key_api=RL_KA:120/60,key_creation=RL_KC:30/60,leaked_key_reports=RL_LK:10/60",
};

function config(vars: Record<string, string> = {}): RateLimitConfig {
  const parsed = parseRateLimitConfig({ ...VARS, ...vars });
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.config;
}

describe("parseLimitSpecs", () => {
  it("reads name=RL_BINDING:limit/period entries in order", () => {
    expect(parseLimitSpecs("X", " a=RL_A:1/10 ,b_2=RL_B_2:600/60")).toEqual({
      ok: true,
      specs: [
        { name: "a", binding: "RL_A", quota: 1, windowSeconds: 10 },
        { name: "b_2", binding: "RL_B_2", quota: 600, windowSeconds: 60 },
      ],
    });
  });

  it.each([
    ["", /at least one/],
    ["a=RL_A:10/30", /period must be 10 or 60/],
    ["a=RL_A:0/60", /at least 1/],
    ["a=API_KEYS:10/60", /is not name=RL_BINDING/],
    ["A=RL_A:10/60", /is not name=RL_BINDING/],
    ["a=RL_A:10", /is not name=RL_BINDING/],
    ["a=RL_A:10/60,a=RL_B:10/60", /listed twice/],
  ])("refuses %j", (text, message) => {
    const parsed = parseLimitSpecs("X", text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(message);
  });
});

describe("parseRateLimitConfig", () => {
  it("defaults: enabled, session tier standard", () => {
    const c = config();
    expect(c.enabled).toBe(true);
    expect(c.sessionTier).toBe("standard");
    expect(c.tiers.map((t) => t.name)).toEqual(["basic", "standard", "premium"]);
    expect(c.fixed.organization).toEqual({ name: "organization", binding: "RL_ORG", quota: 6000, windowSeconds: 60 });
  });

  it.each([
    [{ RATE_LIMITS_ENABLED: "no" }, /RATE_LIMITS_ENABLED/],
    [{ RATE_LIMIT_TIERS: "basic=RL_BASIC:60/60" }, /default tier standard/],
    [{ RATE_LIMIT_SESSION_TIER: "gold" }, /RATE_LIMIT_SESSION_TIER/],
    [{ RATE_LIMIT_POLICIES: "organization=RL_ORG:6000/60" }, /must define organization_sessions, key_api, key_creation, leaked_key_reports/],
    [{ RATE_LIMIT_POLICIES: `${VARS.RATE_LIMIT_POLICIES},orgz=RL_Z:1/60` }, /orgz is not one of/],
  ])("refuses %j", (vars, message) => {
    const parsed = parseRateLimitConfig({ ...VARS, ...vars });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(message);
  });

  it("RATE_LIMITS_ENABLED=false switches off", () => {
    expect(config({ RATE_LIMITS_ENABLED: "false" }).enabled).toBe(false);
  });
});

describe("tier order", () => {
  const tiers = ["basic", "standard", "premium"];
  it.each([
    [undefined, "premium", "ok"],
    ["premium", "premium", "ok"],
    ["premium", "basic", "ok"],
    ["standard", "premium", "escalation"],
    ["basic", "standard", "escalation"],
    ["basic", "basic", "ok"],
    ["standard", "gold", "unknown"],
    [undefined, "gold", "unknown"],
    // A caller whose own tier is no longer configured counts as standard.
    ["retired", "standard", "ok"],
    ["retired", "premium", "escalation"],
  ])("a caller of tier %s giving %s → %s", (ceiling, requested, verdict) => {
    expect(checkTierGrant(tiers, ceiling, requested)).toBe(verdict);
  });

  it("ranks lowest first; an unknown tier ranks as standard", () => {
    expect(tiers.map((t) => tierRank(tiers, t))).toEqual([0, 1, 2]);
    expect(tierRank(tiers, "retired")).toBe(1);
  });

  it("a new key defaults to standard, or to its creator's tier when lower", () => {
    expect(defaultTierFor(tiers, undefined)).toBe("standard");
    expect(defaultTierFor(tiers, "premium")).toBe("standard");
    expect(defaultTierFor(tiers, "basic")).toBe("basic");
  });
});

describe("limits of a call", () => {
  const key: Principal = { orgId: "org_1", subject: "key_1", method: "api_key", scopes: new Set(), rateLimitTier: "premium" };
  const oldKey: Principal = { orgId: "org_1", subject: "key_2", method: "api_key", scopes: new Set() };
  const session: Principal = { orgId: "org_1", subject: "user_1", method: "jwt", scopes: new Set() };
  const names = (p: Principal, call: Parameters<typeof limitsFor>[2]) => limitsFor(config(), p, call).map((l) => `${l.name}:${l.spec.binding}:${l.counter}`);

  it.each([
    [false, "GET", "traffic"],
    [false, "POST", "traffic"],
    [true, "GET", "key_api_read"],
    [true, "HEAD", "key_api_read"],
    [true, "POST", "key_creation"],
    [true, "DELETE", "key_api_write"],
    [true, "PATCH", "key_api_write"],
  ])("key API %s, %s → %s", (isKeyApi, method, call) => {
    expect(limitedCall(isKeyApi, method)).toBe(call);
  });

  it("the kill switch is a write, not a key creation", () => {
    expect(limitedCall(true, "POST", "/v1/chat/api-keys/revoke-all")).toBe("key_api_write");
    expect(limitedCall(true, "POST", "/v1/chat/api-keys/rotate")).toBe("key_creation");
  });

  it("a key: its tier per key, then the organisation", () => {
    expect(names(key, "traffic")).toEqual(["key:RL_PREMIUM:k:key_1", "organization:RL_ORG:o:org_1"]);
    expect(names(oldKey, "traffic")).toEqual(["key:RL_STANDARD:k:key_2", "organization:RL_ORG:o:org_1"]);
  });

  it("a session: the session tier per user, the organisation's sessions, the organisation", () => {
    expect(names(session, "traffic")).toEqual(["user:RL_STANDARD:u:user_1", "organization_sessions:RL_OS:s:org_1", "organization:RL_ORG:o:org_1"]);
  });

  it("the key API: per caller, and key-minting calls per organisation too", () => {
    expect(names(key, "key_api_read")).toEqual(["key_api:RL_KA:a:key_1"]);
    expect(names(key, "key_api_write")).toEqual(["key_api:RL_KA:a:key_1"]);
    expect(names(session, "key_creation")).toEqual(["key_api:RL_KA:a:user_1", "key_creation:RL_KC:c:org_1"]);
  });

  it("a caller's own tier: its key's, or the session tier", () => {
    expect([key, oldKey, session].map((p) => callerTier(config(), p))).toEqual(["premium", "standard", "standard"]);
  });
});

describe("header fields (draft-ietf-httpapi-ratelimit-headers-11)", () => {
  const limits = limitsFor(config(), { orgId: "org_1", subject: "key_1", method: "api_key", scopes: new Set(), rateLimitTier: "premium" }, "traffic");
  it("RateLimit-Policy lists every policy: quoted name, q, w", () => {
    expect(policyField(limits)).toBe('"key";q=3000;w=10, "organization";q=6000;w=60');
  });
  it("RateLimit for a refusal: nothing left for at most the window", () => {
    expect(exhaustedField(limits[1]!)).toBe('"organization";r=0;t=60');
  });
});

describe("wrangler.toml", () => {
  // Every environment's vars name bindings that exist in the same environment with the same numbers.
  const sections = wranglerToml.split(/^# -{20,}$/m);
  it("has three environments", () => expect(sections).toHaveLength(3));

  it.each(sections.map((text, i) => [["development", "staging", "production"][i]!, text] as const))("%s: every limit matches its [[ratelimits]] binding", (_env, text) => {
    const value = (name: string) => new RegExp(`^${name} = "([^"]*)"`, "m").exec(text)?.[1];
    const parsed = parseRateLimitConfig({
      RATE_LIMITS_ENABLED: value("RATE_LIMITS_ENABLED"),
      RATE_LIMIT_TIERS: value("RATE_LIMIT_TIERS"),
      RATE_LIMIT_POLICIES: value("RATE_LIMIT_POLICIES"),
      RATE_LIMIT_SESSION_TIER: value("RATE_LIMIT_SESSION_TIER"),
    });
    if (!parsed.ok) throw new Error(parsed.message);
    const bindings = new Map(
      [...text.matchAll(/\[\[(?:env\.\w+\.)?ratelimits\]\]\s*name = "(\w+)"\s*namespace_id = "(\d+)"\s*simple = \{ limit = (\d+), period = (\d+) \}/g)].map((m) => [
        m[1]!,
        { namespace: m[2]!, quota: Number(m[3]), windowSeconds: Number(m[4]) },
      ]),
    );
    const specs = [...parsed.config.tiers, ...Object.values(parsed.config.fixed)];
    for (const spec of specs) expect(bindings.get(spec.binding), spec.binding).toMatchObject({ quota: spec.quota, windowSeconds: spec.windowSeconds });
    expect(new Set([...bindings.values()].map((b) => b.namespace)).size).toBe(bindings.size);
    // The default: standard = 600 requests per 60 s per key.
    expect(parsed.config.tiers.find((t) => t.name === "standard")).toMatchObject({ quota: 600, windowSeconds: 60 });
  });
});
