import { describe, expect, it } from "vitest";
import { hourOf, UsageCounter } from "../../src/usage/counter";
import { isStale, STALE_AFTER_MS, suggestedScopes } from "../../src/usage/least-privilege";

describe("suggestedScopes", () => {
  it.each([
    [[], []],
    [["chat:read"], ["chat:read"]],
    [["chat:read", "chat:write"], ["chat:write"]],
    [["chat:write"], ["chat:write"]],
    [["voice:read", "agents:read", "chat:read"], ["chat:read", "agents:read", "voice:read"]],
    [["api-keys:read", "chat:write", "nonsense"], ["chat:write", "api-keys:read"]],
  ])("%j → %j", (used, suggested) => {
    expect(suggestedScopes(used)).toEqual(suggested);
  });
});

describe("isStale", () => {
  const now = Date.parse("2026-11-27T00:00:00Z");
  it.each([
    [null, now - STALE_AFTER_MS, true],
    [null, now - STALE_AFTER_MS + 1, false],
    [new Date(now - STALE_AFTER_MS).toISOString(), now - 10 * STALE_AFTER_MS, true],
    [new Date(now - 1000).toISOString(), now - 10 * STALE_AFTER_MS, false],
  ])("last used %s, created %d → %s", (lastUsed, created, stale) => {
    expect(isStale(lastUsed, new Date(created).toISOString(), now)).toBe(stale);
  });
});

describe("UsageCounter", () => {
  const t0 = Date.parse("2026-11-27T10:59:30Z");

  it("flushes a key on first use, then at most once per interval, with every count in between", () => {
    const counter = new UsageCounter(60_000);
    expect(counter.count("org", "key_a", "allowed", ["chat:read"], t0)).toEqual([
      { orgId: "org", rows: [{ key_id: "key_a", hour: hourOf(t0), allowed: 1, refused_scope: 0, rate_limited: 0, scopes: { "chat:read": 1 } }] },
    ]);
    expect(counter.count("org", "key_a", "allowed", ["chat:write"], t0 + 10_000)).toEqual([]);
    expect(counter.count("org", "key_a", "refused_scope", ["agents:read"], t0 + 20_000)).toEqual([]);
    expect(counter.count("org", "key_a", "rate_limited", ["chat:read"], t0 + 59_999)).toEqual([]);
    const due = counter.count("org", "key_a", "allowed", ["chat:read"], t0 + 60_000);
    expect(due).toHaveLength(1);
    // Split at the hour: 10:59:40 and 10:59:50 in one row, 11:00:29 and 11:00:30 in the next.
    expect(due[0]!.rows).toEqual([
      { key_id: "key_a", hour: hourOf(t0), allowed: 1, refused_scope: 1, rate_limited: 0, scopes: { "chat:write": 1 } },
      { key_id: "key_a", hour: hourOf(t0 + 60_000), allowed: 1, refused_scope: 0, rate_limited: 1, scopes: { "chat:read": 1 } },
    ]);
  });

  it("keys flush independently; a key pushed out by the cap hands over its pending counts", () => {
    const counter = new UsageCounter(60_000, 2);
    counter.count("org", "key_a", "allowed", ["chat:read"], t0);
    counter.count("org", "key_a", "allowed", ["chat:read"], t0 + 1);
    expect(counter.count("org", "key_b", "allowed", ["chat:read"], t0 + 2)).toHaveLength(1);
    const due = counter.count("org2", "key_c", "allowed", ["voice:read"], t0 + 3);
    expect(due.map((b) => [b.orgId, b.rows.map((r) => [r.key_id, r.allowed])])).toEqual([
      ["org", [["key_a", 1]]],
      ["org2", [["key_c", 1]]],
    ]);
    expect(counter.size).toBe(2);
  });

  it("restore puts a failed flush's counts back for the next one", () => {
    const counter = new UsageCounter(60_000);
    const [failed] = counter.count("org", "key_a", "allowed", ["chat:read"], t0);
    counter.count("org", "key_a", "allowed", ["chat:read"], t0 + 1);
    counter.restore(failed!);
    const [next] = counter.count("org", "key_a", "allowed", ["chat:read"], t0 + 60_000);
    const total = next!.rows.reduce((n, r) => n + r.allowed, 0);
    expect(total).toBe(3);
  });
});
