/** The dashboard page's pure parts: what it shows for the API's data and errors (dashboard/src). */
import { describe, expect, expectTypeOf, it } from "vitest";
import { ApiError, type KeysApi, rotateInBatches } from "../../dashboard/src/api";
import {
  createdByLabel,
  curlLine,
  envFile,
  envVarName,
  grantableLevels,
  grantablePresets,
  grantLabel,
  grantsFor,
  keyStatus,
  relativeTime,
  usedRecently,
  actorLabel,
  auditActionLabel,
  auditDetail,
  auditKeyName,
  hourlyRequests,
  sparklinePoints,
  unusedScopes,
  usageSummary,
} from "../../dashboard/src/format";
import { describeProblem } from "../../dashboard/src/problems";
import { OneTimeSecret, takeSecret } from "../../dashboard/src/secret";
import type * as Page from "../../dashboard/src/types";
import type { AuditPage } from "../../src/audit/query";
import type { CreatedKey, KeyDetail, KeyList, KeyView, RotatedKey, UsageSeries } from "../../src/keys/service";
import { expandScopes, sessionScopes } from "../../src/scopes";

const NOW = Date.parse("2026-11-27T15:00:00.000Z");

describe("the page's types follow the worker's", () => {
  it("accepts every shape the management API answers with", () => {
    expectTypeOf<KeyView>().toExtend<Page.KeyView>();
    expectTypeOf<CreatedKey>().toExtend<Page.CreatedKey>();
    expectTypeOf<RotatedKey>().toExtend<Page.RotatedKey>();
    expectTypeOf<KeyList>().toExtend<Page.KeyList>();
    expectTypeOf<KeyDetail>().toExtend<Page.KeyDetail>();
    expectTypeOf<UsageSeries>().toExtend<Page.UsageSeries>();
    expectTypeOf<AuditPage>().toExtend<Page.AuditPage>();
  });
});

describe("usage and audit (issue 12)", () => {
  const H = 3_600_000;
  const from = Date.parse("2026-11-27T00:00:00.000Z");
  const point = (hour: number, requests: number) => ({
    hour: new Date(from + hour * H).toISOString(),
    requests,
    allowed: requests,
    refused_scope: 0,
    rate_limited: 0,
    scopes: {},
  });

  it("fills the hours without requests with 0 and drops points outside the window", () => {
    const series = { data: [point(0, 2), point(3, 5), point(-1, 9), point(6, 9)] };
    expect(hourlyRequests(series, from, 6)).toEqual([2, 0, 0, 5, 0, 0]);
  });

  it("draws the sparkline in its box, tallest value at the top, zero at the bottom", () => {
    expect(sparklinePoints([0, 4, 2], 100, 10)).toBe("0,9 50,1 100,5");
    expect(sparklinePoints([0, 0], 100, 10)).toBe("0,9 100,9");
  });

  it.each([
    [[0, 0, 0], "No requests in the last 7 days"],
    [[0, 1, 0], "1 request in the last 7 days, at most 1 in one hour"],
    [[3, 0, 9], "12 requests in the last 7 days, at most 9 in one hour"],
  ])("summarises %j as %s", (values, text) => {
    expect(usageSummary(values)).toBe(text);
  });

  it.each([
    [["read-only"], ["agents:read"], ["chat:read", "voice:read"]],
    [["*"], ["chat:write"], ["agents:read", "agents:write", "voice:read", "voice:write", "api-keys:read", "api-keys:write"]],
    [["chat:*"], ["chat:write"], []],
  ])("a key granted %j that needed %j did not use %j", (grants, suggested, unused) => {
    expect(unusedScopes(grants, suggested)).toEqual(unused);
  });

  it("describes audit entries in words", () => {
    expect(auditActionLabel("key.updated")).toBe("Edited");
    expect(auditActionLabel("key.something_new")).toBe("key.something_new");
    expect(actorLabel({ method: "jwt", id: "user_2abc" })).toBe("user_2abc");
    expect(actorLabel({ method: "api_key", id: "key_x" })).toBe("key key_x");
    const edit = {
      action: "key.updated",
      before: { name: "a", scopes: ["chat:*"], metadata: null },
      after: { name: "b", scopes: ["chat:read"], metadata: { x: 1 } },
      detail: null,
    };
    expect(auditDetail(edit)).toBe("name: a → b; scopes: chat:* → chat:read; metadata changed");
    expect(auditKeyName(edit)).toBe("b");
    expect(auditDetail({ action: "key.escalation_refused", before: null, after: null, detail: { operation: "update", missing_scopes: ["chat:write"] } })).toBe(
      "update asked for chat:write",
    );
    expect(auditDetail({ action: "key.rotated", before: {}, after: null, detail: { new_key_id: "key_new" } })).toBe("replaced by key_new");
    expect(auditDetail({ action: "key.deleted", before: { name: "x", scopes: ["*"] }, after: null, detail: null })).toBe("“x” *");
  });
});

describe("format", () => {
  it.each([
    ["2026-11-27T14:59:30.000Z", "just now"],
    ["2026-11-27T14:55:00.000Z", "5 min ago"],
    ["2026-11-27T12:00:00.000Z", "3 h ago"],
    ["2026-11-26T15:00:00.000Z", "1 day ago"],
    ["2026-11-20T15:00:00.000Z", "7 days ago"],
    ["2026-01-02T15:00:00.000Z", "2 Jan 2026"],
  ])("relativeTime(%s) = %s", (iso, text) => expect(relativeTime(iso, NOW)).toBe(text));

  it("says active, or how long a rotated key has left", () => {
    expect(keyStatus({ expires_at: null }, NOW)).toEqual({ kind: "active", label: "Active" });
    expect(keyStatus({ expires_at: "2026-11-27T15:43:00.000Z" }, NOW)).toEqual({ kind: "expiring", label: "Expires in 43 min" });
    expect(keyStatus({ expires_at: "2026-11-28T14:00:00.000Z" }, NOW).label).toBe("Expires in 23 h");
    expect(keyStatus({ expires_at: "2026-12-04T15:00:00.000Z" }, NOW).label).toBe("Expires in 7 days");
  });

  it("names presets, shows scopes as written, and says who created a key", () => {
    expect(["*", "read-only", "voice-only", "chat:write"].map(grantLabel)).toEqual(["Full access", "Read-only", "Voice only", "chat:write"]);
    expect(createdByLabel({ method: "jwt", id: "user_2abc" })).toBe("user_2abc");
    expect(createdByLabel({ method: "api_key", id: "key_x" })).toBe("key key_x");
    expect(createdByLabel({ method: "operator", id: "alice" })).toBe("operator alice");
  });

  it("asks for the typed name only for keys used in the last 24 h", () => {
    expect(usedRecently({ last_used_at: null }, NOW)).toBe(false);
    expect(usedRecently({ last_used_at: "2026-11-27T03:00:00.000Z" }, NOW)).toBe(true);
    expect(usedRecently({ last_used_at: "2026-11-26T14:00:00.000Z" }, NOW)).toBe(false);
  });

  it("offers only what the signed-in person may grant", () => {
    const admin = sessionScopes("org:admin", []);
    expect(grantablePresets(admin)).toEqual(["*", "read-only", "voice-only"]);
    expect(grantableLevels(admin, "voice")).toEqual(["none", "read", "write"]);
    const voiceWriter = expandScopes(["voice:write", "chat:read"]);
    expect(grantablePresets(voiceWriter)).toEqual(["voice-only"]);
    expect(grantableLevels(voiceWriter, "chat")).toEqual(["none", "read"]);
    expect(grantableLevels(voiceWriter, "api-keys")).toEqual(["none"]);
  });

  it("turns the form's choice into grants", () => {
    expect(grantsFor("read-only", {})).toEqual(["read-only"]);
    expect(grantsFor("custom", { chat: "write", agents: "read", voice: "none" })).toEqual(["chat:write", "agents:read"]);
    expect(grantsFor("custom", {})).toEqual([]);
  });

  it("writes a ready-to-paste curl line and a .env file with unique names", () => {
    expect(curlLine("https://api.agntix.ai", "pk_live_x")).toBe('curl https://api.agntix.ai/v1/chat/agents -H "x-api-key: pk_live_x"');
    const taken = new Set<string>();
    expect(["CI/CD bot", "ci-cd bot", "Café ☕", "!!!"].map((n) => envVarName(n, taken))).toEqual([
      "AGNTIX_API_KEY_CI_CD_BOT",
      "AGNTIX_API_KEY_CI_CD_BOT_2",
      "AGNTIX_API_KEY_CAFE",
      "AGNTIX_API_KEY",
    ]);
    const file = envFile(
      [
        { id: "key_new1", name: "Web\napp", key: "pk_test_1", old_id: "key_old1", old_key_expires_at: "2026-11-27T16:00:00.000Z" },
        { id: "key_new2", name: "Worker", key: "pk_test_2", old_id: "key_old2", old_key_expires_at: null },
      ],
      NOW,
    );
    expect(file).toContain("# Web app (key_new1; old key key_old1 works until 2026-11-27T16:00:00.000Z)\nAGNTIX_API_KEY_WEB_APP=pk_test_1\n");
    expect(file).toContain("old key key_old2 could not be retired: delete it)\nAGNTIX_API_KEY_WORKER=pk_test_2\n");
  });
});

describe("describeProblem", () => {
  it("names the missing permission for 403 insufficient_scope, with the request id", () => {
    const said = describeProblem({ status: 403, code: "insufficient_scope", required_scopes: ["api-keys:write"], request_id: "req_1" });
    expect(said.title).toBe("You don't have permission to do this");
    expect(said.message).toContain("“api-keys:write”");
    expect(said).toMatchObject({ retry: false, requestId: "req_1" });
  });

  it("says a 503 is temporary and offers a retry", () => {
    const said = describeProblem({ status: 503, code: "key_store_unavailable", request_id: "req_2" });
    expect(said.message).toContain("try again");
    expect(said).toMatchObject({ retry: true, requestId: "req_2" });
  });

  it.each([
    [{ status: 401, code: "invalid_token" }, "Your session has ended"],
    [{ status: 403, code: "no_active_organization" }, "Choose an organization"],
    [{ status: 403, code: "scope_escalation", required_scopes: ["voice:write"] }, "You can't grant that access"],
    [{ status: 404, code: "key_not_found" }, "This key no longer exists"],
    [{ status: 409, code: "already_rotated" }, "This key was already rotated"],
    [{ status: 409, code: "key_limit_reached" }, "Key limit reached"],
    [{ status: 429, code: "rate_limited" }, "Too many requests"],
    [{ status: 503, code: "revocation_log_unavailable" }, "Nothing was changed"],
    [{ status: 400, code: "validation_failed", errors: [{ field: "name", message: "is required" }] }, "Some values are not valid"],
    [{ status: 0 }, "Can't reach the API"],
    [{ status: 502 }, "Something went wrong on our side"],
  ])("%j → %s", (problem, title) => expect(describeProblem(problem).title).toBe(title));
});

describe("rotateInBatches", () => {
  const keys = ["a", "b", "c"].map((id) => ({ id: `key_${id}`, name: id.toUpperCase() }));
  const rotated = (old: string) => ({ old_id: old, id: `${old}_new`, key: `pk_test_${old}`, old_key_expires_at: null }) as unknown as RotatedKey;

  it("retries without the keys the API says are gone, and reports each key", async () => {
    const calls: string[][] = [];
    const api = {
      async rotateMany(ids: string[]) {
        calls.push(ids);
        if (ids.includes("key_b")) {
          throw new ApiError({ status: 404, code: "key_not_found", errors: [{ field: `ids[${ids.indexOf("key_b")}]`, message: "not found" }] });
        }
        return ids.map(rotated);
      },
    } as unknown as KeysApi;
    const outcomes = await rotateInBatches(api, keys, 3600);
    expect(calls).toEqual([["key_a", "key_b", "key_c"], ["key_a", "key_c"]]);
    expect(outcomes.map((o) => [o.oldId, o.ok])).toEqual([
      ["key_b", false],
      ["key_a", true],
      ["key_c", true],
    ]);
    const first = outcomes[1]!;
    expect(first.ok && first.secret.read()).toBe("pk_test_key_a");
    expect(first.ok && "key" in first.rotated).toBe(false);
  });

  it("reports every key of a batch the API refused as a whole", async () => {
    const api = { rotateMany: async () => Promise.reject(new ApiError({ status: 503, code: "key_store_unavailable" })) } as unknown as KeysApi;
    const outcomes = await rotateInBatches(api, keys, 0);
    expect(outcomes.every((o) => !o.ok && o.error.problem.status === 503)).toBe(true);
    expect(outcomes).toHaveLength(3);
  });
});

describe("OneTimeSecret", () => {
  it("holds a key until wiped, apart from its record", () => {
    const [record, secret] = takeSecret({ id: "key_1", key: "pk_test_x" });
    expect(record).toEqual({ id: "key_1" });
    expect(secret).toBeInstanceOf(OneTimeSecret);
    expect(secret.read()).toBe("pk_test_x");
    secret.wipe();
    expect(secret.read()).toBe("");
  });
});
