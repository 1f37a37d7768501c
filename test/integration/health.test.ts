// /healthz (cheap: version and what this isolate saw) and /readyz (live checks, for the deploy
// smoke check). Neither may leak a secret, a namespace, a URL or an error message.
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Bindings } from "../../src/env";
import { getConfig } from "../../src/env";
import { resetKeyCaches } from "../../src/keys/cache";
import { resetHealthForTests } from "../../src/observability/health";
import { bindingsWith, callGateway, countingKv, seedKey } from "../helpers/keys";

const FINGERPRINT_KEY = "meta:pepper-fingerprint";
const gw = (path: string, init?: RequestInit) => exports.default.fetch(`https://api.agntix.test${path}`, init);
const config = getConfig(env as unknown as Bindings);

/** Nothing secret or internal in a health body. */
function expectNothingLeaked(text: string): void {
  for (const secret of [config.apiKeys.pepper, "pk_test_", "pk_live_", "local-api-keys", "https://", "Error"]) expect(text).not.toContain(secret);
}

beforeEach(() => {
  resetHealthForTests();
  resetKeyCaches();
});

describe("GET /healthz", () => {
  it("reports the deployed version and what this isolate saw of each dependency", async () => {
    const before = await gw("/healthz");
    expect(before.status).toBe(200);
    expect(before.headers.get("cache-control")).toBe("no-store");
    const fresh = (await before.json()) as Record<string, any>;
    expect(Object.keys(fresh.version).sort()).toEqual(["id", "tag", "timestamp"]);
    expect(fresh.dependencies).toEqual({
      kv: { status: "unknown", last_ok_seconds_ago: null },
      jwks: { status: "unknown", last_ok_seconds_ago: null },
      audit: { status: "unknown", last_ok_seconds_ago: null },
    });

    const { key } = await seedKey("org_health"); // KV answers (and the audit log)
    expect((await gw("/v1/chat/agents", { headers: { "x-api-key": key } })).status).toBe(200);
    const after = await gw("/healthz");
    const text = await after.text();
    expectNothingLeaked(text);
    const body = JSON.parse(text) as Record<string, any>;
    expect(body.status).toBe("ok");
    expect(body.dependencies.kv).toEqual({ status: "ok", last_ok_seconds_ago: 0 });
  });

  it("says degraded (still 200) when the key store's latest call failed", async () => {
    const { key } = await seedKey("org_degraded");
    resetKeyCaches();
    const failing = countingKv();
    failing.fail(true);
    const res = await callGateway(bindingsWith(failing.kv), "/v1/chat/agents", { headers: { "x-api-key": key } });
    expect(res.status).toBe(503);
    const health = await callGateway(bindingsWith(failing.kv), "/healthz");
    expect(health.status).toBe(200);
    const text = await health.text();
    expect(text).not.toContain("KV is down");
    expect(JSON.parse(text)).toMatchObject({ status: "degraded", dependencies: { kv: { status: "failing", last_ok_seconds_ago: 0 } } });
  });
});

describe("GET /readyz", () => {
  it("checks every dependency live: 200 ready", async () => {
    await seedKey("org_ready"); // records the pepper's fingerprint
    const res = await gw("/readyz");
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expectNothingLeaked(text);
    expect(JSON.parse(text)).toMatchObject({
      status: "ready",
      checks: { kv: "ok", pepper: "match", jwks: "ok", audit: "ok" },
    });
  });

  it("503 not_ready when the Worker's pepper is not the one KV's keys are hashed under", async () => {
    await env.API_KEYS.put(FINGERPRINT_KEY, JSON.stringify({ fingerprint: "0".repeat(64) }));
    try {
      const res = await gw("/readyz");
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: "not_ready", checks: { kv: "ok", pepper: "mismatch" } });
    } finally {
      await env.API_KEYS.delete(FINGERPRINT_KEY);
    }
  });

  it("503 not_ready when KV fails, without its message", async () => {
    const failing = countingKv();
    failing.fail(true);
    const res = await callGateway(bindingsWith(failing.kv), "/readyz");
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(text).not.toContain("KV is down");
    expect(JSON.parse(text)).toMatchObject({ status: "not_ready", checks: { kv: "failing", pepper: "unknown" } });
  });
});
