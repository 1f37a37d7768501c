// Per-key usage: counted in the isolate with no KV, Durable Object or D1 I/O before the response,
// flushed behind it at most once a minute per key, read back as a series, as requests_30d, as the
// scopes used and the smallest grant covering them; stale keys; the USAGE_COUNTING switch.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Bindings } from "../../src/env";
import worker from "../../src/index";
import { resetKeyCaches } from "../../src/keys/cache";
import { usageCounter } from "../../src/usage/record";
import { countingD1, d1Calls } from "../helpers/d1";
import { BASE, bindingsWith, callGateway, countingKv, expectProblem, kvReads, seedKey } from "../helpers/keys";
import { countingUsage } from "../helpers/usage";

const API = "/v1/chat/api-keys";
const as = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, "x-api-key": key } });

interface Listed {
  id: string;
  requests_30d: number | null;
  stale: boolean;
  scopes_used_30d?: string[] | null;
  suggested_scopes?: string[] | null;
}

/** Bindings whose KV, D1 and USAGE count their calls. */
function wrapped(extra: Partial<Bindings> = {}) {
  const kv = countingKv();
  const d1 = countingD1();
  const usage = countingUsage();
  const bindings: Bindings = { ...bindingsWith(kv.kv), AUDIT_DB: d1.db, USAGE: usage.namespace as Bindings["USAGE"], ...extra };
  const io = () => ({ kv: kvReads(kv.counts) + kv.counts.put + kv.counts.delete, d1: d1Calls(d1.counts), durableObject: usage.counts.get + usage.counts.calls });
  return { bindings, kv, d1, usage, io };
}

/** Move the clock a minute on: a key's next request flushes what its isolate holds. */
const nextMinute = () => vi.setSystemTime(Date.now() + 60_000);

beforeEach(() => {
  resetKeyCaches();
  usageCounter.clear();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("counting on the request path", () => {
  it("costs no KV, Durable Object or D1 call before the response; flushes behind it, once a minute per key", async () => {
    const { key, id } = await seedKey("org_usage", ["chat:*"]);
    const admin = await seedKey("org_usage", ["api-keys:read"]);
    const w = wrapped();
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    // First use: the KV read that verifies it, the last_used write and the first flush (both behind the response).
    expect((await callGateway(w.bindings, "/v1/chat", as(key))).status).toBe(200);
    expect(w.usage.counts.calls).toBe(1);
    const before = w.io();

    for (let i = 0; i < 20; i++) {
      const res = await callGateway(w.bindings, "/v1/chat", as(key, { method: i % 4 === 0 ? "POST" : "GET" }));
      expect(res.status).toBe(200);
    }
    await expectProblem(await callGateway(w.bindings, "/v1/chat/agents", as(key)), 403, "insufficient_scope");
    expect(w.io()).toEqual(before); // 21 counted requests: not one call to any store

    vi.setSystemTime(start + 60_000);
    expect((await callGateway(w.bindings, "/v1/chat", as(key))).status).toBe(200);
    expect(w.usage.counts.calls).toBe(2); // the minute's flush

    vi.useRealTimers();
    const got = (await (await callGateway(bindingsWith(env.API_KEYS), `${API}/${id}`, as(admin.key))).json()) as Listed;
    expect(got.requests_30d).toBe(23);
  });

  it("the response never waits for a flush (a ledger that does not answer)", async () => {
    const { key } = await seedKey("org_usage_hold", ["chat:read"]);
    const w = wrapped();
    w.usage.mode("hold");
    const ctx = createExecutionContext();
    const res = await worker.fetch(new Request(`${BASE}/v1/chat`, as(key)), w.bindings, ctx);
    expect(res.status).toBe(200);
    expect(w.usage.counts.calls).toBe(1); // started, still pending
    w.usage.release();
    await waitOnExecutionContext(ctx);
  });

  it("a failed flush keeps its counts for the key's next flush; the request is unaffected", async () => {
    const { key, id } = await seedKey("org_usage_fail", ["chat:read"]);
    const admin = await seedKey("org_usage_fail", ["api-keys:read"]);
    const w = wrapped();
    w.usage.mode("fail");
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    for (let i = 0; i < 3; i++) expect((await callGateway(w.bindings, "/v1/chat", as(key))).status).toBe(200);
    w.usage.mode("pass");
    vi.setSystemTime(start + 60_000);
    expect((await callGateway(w.bindings, "/v1/chat", as(key))).status).toBe(200);
    vi.useRealTimers();
    const got = (await (await callGateway(bindingsWith(env.API_KEYS), `${API}/${id}`, as(admin.key))).json()) as Listed;
    expect(got.requests_30d).toBe(4);
  });

  it("USAGE_COUNTING=off counts nothing and never calls the ledger", async () => {
    const { key, id } = await seedKey("org_usage_off", ["chat:read"]);
    const admin = await seedKey("org_usage_off", ["api-keys:read"]);
    const w = wrapped({ USAGE_COUNTING: "off" });
    for (let i = 0; i < 3; i++) expect((await callGateway(w.bindings, "/v1/chat", as(key))).status).toBe(200);
    expect(w.usage.counts).toEqual({ idFromName: 0, get: 0, calls: 0 });
    expect(usageCounter.size).toBe(0);
    const got = (await (await callGateway(bindingsWith(env.API_KEYS), `${API}/${id}`, as(admin.key))).json()) as Listed;
    expect(got.requests_30d).toBe(0);
    await expectProblem(await callGateway({ ...bindingsWith(env.API_KEYS), USAGE_COUNTING: "sometimes" }, "/v1/chat", as(key)), 503, "gateway_misconfigured");
  });
});

describe("GET /v1/chat/api-keys/{id}/usage", () => {
  it("returns the hourly series by outcome with the scopes exercised", async () => {
    const { key, id } = await seedKey("org_series", ["chat:*", "voice:read"]);
    const admin = await seedKey("org_series", ["api-keys:read"]);
    const b = bindingsWith(env.API_KEYS);
    vi.useFakeTimers({ toFake: ["Date"] });
    await callGateway(b, "/v1/chat", as(key)); // flushed at once (first use)
    await callGateway(b, "/v1/chat", as(key, { method: "POST" }));
    await callGateway(b, "/v1/voice", as(key));
    await callGateway(b, "/v1/chat/agents", as(key)); // refused: agents:read
    nextMinute(); // the requests after the first were held in the isolate; the next one flushes them
    await callGateway(b, "/v1/voice", as(key));

    const res = await callGateway(b, `${API}/${id}/usage`, as(admin.key));
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const series = (await res.json()) as { key_id: string; granularity: string; data: { hour: string; requests: number; allowed: number; refused_scope: number; rate_limited: number; scopes: Record<string, number> }[] };
    expect(series.key_id).toBe(id);
    expect(series.granularity).toBe("hour");
    const total = { requests: 0, allowed: 0, refused_scope: 0, rate_limited: 0 };
    const scopes: Record<string, number> = {};
    for (const p of series.data) {
      total.requests += p.requests;
      total.allowed += p.allowed;
      total.refused_scope += p.refused_scope;
      total.rate_limited += p.rate_limited;
      for (const [scope, n] of Object.entries(p.scopes)) scopes[scope] = (scopes[scope] ?? 0) + n;
    }
    expect(total).toEqual({ requests: 5, allowed: 4, refused_scope: 1, rate_limited: 0 });
    expect(scopes).toEqual({ "chat:read": 1, "chat:write": 1, "voice:read": 2 });
    expect(series.data.at(-1)!.hour).toMatch(/T\d\d:00:00\.000Z$/);
  });

  it("refuses a bad range (400 naming the field), another organisation's key (404), other methods (405)", async () => {
    const admin = await seedKey("org_series_bad", ["api-keys:*"]);
    const other = await seedKey("org_series_other");
    const b = bindingsWith(env.API_KEYS);
    for (const [query, field] of [
      ["?from=yesterday", "from"],
      ["?to=2026-01-01", "to"],
      ["?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"],
      ["?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", "from"],
    ]) {
      const res = await callGateway(b, `${API}/${admin.id}/usage${query}`, as(admin.key));
      expect(((await expectProblem(res, 400, "validation_failed"))["errors"] as { field: string }[])[0]!.field).toBe(field);
    }
    await expectProblem(await callGateway(b, `${API}/${other.id}/usage`, as(admin.key)), 404, "key_not_found");
    const post = await callGateway(b, `${API}/${admin.id}/usage`, as(admin.key, { method: "POST" }));
    await expectProblem(post, 405, "method_not_allowed");
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });

  it("a ledger that cannot be read: the series is 503 usage_unavailable; list and get answer with null figures", async () => {
    const admin = await seedKey("org_series_down", ["api-keys:read"]);
    const w = wrapped();
    w.usage.mode("fail");
    await expectProblem(await callGateway(w.bindings, `${API}/${admin.id}/usage`, as(admin.key)), 503, "usage_unavailable");
    const listed = (await (await callGateway(w.bindings, API, as(admin.key))).json()) as { data: Listed[] };
    expect(listed.data[0]!.requests_30d).toBeNull();
    const got = await callGateway(w.bindings, `${API}/${admin.id}`, as(admin.key));
    expect(got.status).toBe(200);
    expect((await got.json()) as Listed).toMatchObject({ requests_30d: null, scopes_used_30d: null, suggested_scopes: null });
  });
});

describe("least privilege", () => {
  it("a key that used 1 of its 3 scopes: get shows that scope used, and suggests it alone", async () => {
    const { key, id } = await seedKey("org_least", ["read-only"]); // chat:read agents:read voice:read
    const admin = await seedKey("org_least", ["api-keys:read"]);
    const b = bindingsWith(env.API_KEYS);
    vi.useFakeTimers({ toFake: ["Date"] });
    for (let i = 0; i < 3; i++) expect((await callGateway(b, "/v1/chat", as(key))).status).toBe(200);
    nextMinute();
    expect((await callGateway(b, "/v1/chat", as(key))).status).toBe(200);
    const got = (await (await callGateway(b, `${API}/${id}`, as(admin.key))).json()) as Listed & { scopes: string[] };
    expect(got.scopes).toEqual(["read-only"]);
    expect(got.scopes_used_30d).toEqual(["chat:read"]);
    expect(got.suggested_scopes).toEqual(["chat:read"]);
    expect(got.requests_30d).toBe(4);
  });

  it("write implies read: a key that read and wrote chat is offered chat:write alone", async () => {
    const { key, id } = await seedKey("org_least2", ["*"]);
    const b = bindingsWith(env.API_KEYS);
    vi.useFakeTimers({ toFake: ["Date"] });
    await callGateway(b, "/v1/chat", as(key));
    await callGateway(b, "/v1/chat", as(key, { method: "POST" }));
    nextMinute();
    await callGateway(b, "/v1/voice", as(key));
    const got = (await (await callGateway(b, `${API}/${id}`, as(key))).json()) as Listed;
    expect(got.scopes_used_30d).toEqual(["chat:read", "chat:write", "voice:read"]);
    expect(got.suggested_scopes).toEqual(["chat:write", "voice:read"]);
  });
});

describe("stale keys", () => {
  it("list flags a key unused (or never used) for 90 days, and not one used since", async () => {
    const used = await seedKey("org_stale", ["chat:read"]);
    const unused = await seedKey("org_stale", ["chat:read"]);
    const admin = await seedKey("org_stale", ["api-keys:read"]);
    const b = bindingsWith(env.API_KEYS);
    let listed = (await (await callGateway(b, API, as(admin.key))).json()) as { data: Listed[] };
    expect(listed.data.every((k) => k.stale === false)).toBe(true);

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 90 * 86_400_000 + 1000);
    resetKeyCaches();
    expect((await callGateway(b, "/v1/chat", as(used.key))).status).toBe(200);
    listed = (await (await callGateway(b, API, as(admin.key))).json()) as { data: Listed[] };
    const stale = Object.fromEntries(listed.data.map((k) => [k.id, k.stale]));
    expect(stale).toEqual({ [used.id]: false, [unused.id]: true, [admin.id]: false });
  });
});
