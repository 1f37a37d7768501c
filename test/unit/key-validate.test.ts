import { describe, expect, it } from "vitest";
import { ungrantableScopes } from "../../src/keys/service";
import { checkBulkRotateInput, checkCreateInput, checkListInput, checkRotateInput } from "../../src/keys/validate";
import { expandScopes } from "../../src/scopes";

const ids = (n: number) => Array.from({ length: n }, (_, i) => `key_${String(i).padStart(24, "0")}`);

describe("checkCreateInput", () => {
  it.each([
    ["a name and scopes", { name: "CI/CD bot", scopes: ["chat:write", "agents:read"] }, { name: "CI/CD bot", scopes: ["chat:write", "agents:read"] }],
    ["a trimmed name", { name: "  bot  ", scopes: ["*"] }, { name: "bot", scopes: ["*"] }],
    ["presets and wildcards", { name: "k", scopes: ["read-only", "voice:*"] }, { name: "k", scopes: ["read-only", "voice:*"] }],
    ["duplicate scopes, kept once", { name: "k", scopes: ["chat:read", "chat:read"] }, { name: "k", scopes: ["chat:read"] }],
    ["a 100-character name", { name: "é".repeat(100), scopes: ["*"] }, { name: "é".repeat(100), scopes: ["*"] }],
    ["the browser opt-in", { name: "k", scopes: ["*"], allow_browser: true }, { name: "k", scopes: ["*"], allowBrowser: true }],
    ["allow_browser false", { name: "k", scopes: ["*"], allow_browser: false }, { name: "k", scopes: ["*"] }],
    ["a rate-limit tier", { name: "k", scopes: ["*"], rate_limit: "premium" }, { name: "k", scopes: ["*"], rateLimit: "premium" }],
  ])("accepts %s", (_label, body, value) => {
    expect(checkCreateInput(body)).toEqual({ ok: true, value });
  });

  it.each([
    ["an array body", [], [{ field: "body", message: "must be a JSON object" }]],
    ["a string body", "name", [{ field: "body", message: "must be a JSON object" }]],
    ["null", null, [{ field: "body", message: "must be a JSON object" }]],
    ["no fields", {}, [{ field: "name", message: "is required" }, { field: "scopes", message: "is required" }]],
    ["a numeric name", { name: 5, scopes: ["*"] }, [{ field: "name", message: "must be a string" }]],
    ["an empty name", { name: "", scopes: ["*"] }, [{ field: "name", message: "must not be empty" }]],
    ["a blank name", { name: "   ", scopes: ["*"] }, [{ field: "name", message: "must not be empty" }]],
    ["a 101-character name", { name: "a".repeat(101), scopes: ["*"] }, [{ field: "name", message: "must be at most 100 characters" }]],
    ["a name with a newline", { name: "a\nb", scopes: ["*"] }, [{ field: "name", message: "must not contain control characters" }]],
    ["scopes as a string", { name: "k", scopes: "chat:read" }, [{ field: "scopes", message: "must be an array of scopes" }]],
    ["an empty scope list", { name: "k", scopes: [] }, [{ field: "scopes", message: "must list at least one scope" }]],
    ["too many scopes", { name: "k", scopes: Array(33).fill("chat:read") }, [{ field: "scopes", message: "must list at most 32 scopes" }]],
    ["an unknown scope", { name: "k", scopes: ["chat:read", "billing:read"] }, [{ field: "scopes[1]", message: "is not a known scope or preset" }]],
    ["an unknown action", { name: "k", scopes: ["chat:delete"] }, [{ field: "scopes[0]", message: "is not a known scope or preset" }]],
    ["a non-string scope", { name: "k", scopes: [1] }, [{ field: "scopes[0]", message: "must be a string" }]],
    ["an unknown field", { name: "k", scopes: ["*"], scope: "x" }, [{ field: "scope", message: "is not a known field" }]],
    ["allow_browser as a string", { name: "k", scopes: ["*"], allow_browser: "true" }, [{ field: "allow_browser", message: "must be true or false" }]],
    ["a numeric tier", { name: "k", scopes: ["*"], rate_limit: 600 }, [{ field: "rate_limit", message: "must be the name of a rate-limit tier" }]],
    ["a tier that is no name", { name: "k", scopes: ["*"], rate_limit: "Premium!" }, [{ field: "rate_limit", message: "must be the name of a rate-limit tier" }]],
  ])("refuses %s", (_label, body, errors) => {
    expect(checkCreateInput(body)).toEqual({ ok: false, errors });
  });
});

describe("checkRotateInput", () => {
  it.each([
    [{}, 0],
    [{ grace_period_seconds: 0 }, 0],
    [{ grace_period_seconds: null }, 0],
    [{ grace_period_seconds: 3600 }, 3600],
    [{ grace_period_seconds: 2_592_000 }, 2_592_000],
  ])("accepts %j", (body, gracePeriodSeconds) => {
    expect(checkRotateInput(body)).toEqual({ ok: true, value: { gracePeriodSeconds } });
  });

  it.each([
    [{ grace_period_seconds: -1 }, "grace_period_seconds", "must be between 0 and 2592000"],
    [{ grace_period_seconds: 2_592_001 }, "grace_period_seconds", "must be between 0 and 2592000"],
    [{ grace_period_seconds: 1.5 }, "grace_period_seconds", "must be an integer number of seconds"],
    [{ grace_period_seconds: "60" }, "grace_period_seconds", "must be an integer number of seconds"],
    [{ grace: 60 }, "grace", "is not a known field"],
    [[], "body", "must be a JSON object"],
  ])("refuses %j", (body, field, message) => {
    expect(checkRotateInput(body)).toEqual({ ok: false, errors: [{ field, message }] });
  });
});

describe("checkBulkRotateInput", () => {
  it("accepts 1 to 100 distinct ids and a grace period", () => {
    expect(checkBulkRotateInput({ ids: ids(100), grace_period_seconds: 60 })).toEqual({ ok: true, value: { ids: ids(100), gracePeriodSeconds: 60 } });
  });

  it.each([
    ["no ids", {}, [{ field: "ids", message: "is required" }]],
    ["ids as a string", { ids: "key_x" }, [{ field: "ids", message: "must be an array of key ids" }]],
    ["no id", { ids: [] }, [{ field: "ids", message: "must list at least one key id" }]],
    ["101 ids", { ids: ids(101) }, [{ field: "ids", message: "must list at most 100 key ids" }]],
    ["a non-string id", { ids: [ids(1)[0], 7] }, [{ field: "ids[1]", message: "must be a key id" }]],
    ["a repeated id", { ids: [...ids(2), ids(1)[0]] }, [{ field: "ids[2]", message: "is listed twice" }]],
  ])("refuses %s", (_label, body, errors) => {
    expect(checkBulkRotateInput(body)).toEqual({ ok: false, errors });
  });
});

describe("checkListInput", () => {
  it.each([
    [{}, { limit: 20, cursor: undefined }],
    [{ limit: "1" }, { limit: 1, cursor: undefined }],
    [{ limit: "100", cursor: "YWJj.0123456789abcdef0123456789abcdef" }, { limit: 100, cursor: "YWJj.0123456789abcdef0123456789abcdef" }],
    [{ cursor: "" }, { limit: 20, cursor: undefined }],
  ])("accepts %j", (query, value) => {
    expect(checkListInput(query)).toEqual({ ok: true, value });
  });

  it.each([
    [{ limit: "0" }, "limit"],
    [{ limit: "101" }, "limit"],
    [{ limit: "-5" }, "limit"],
    [{ limit: "ten" }, "limit"],
    [{ limit: "1e2" }, "limit"],
    [{ cursor: "not a cursor" }, "cursor"],
    [{ cursor: "YWJj" }, "cursor"],
  ])("refuses %j", (query, field) => {
    const result = checkListInput(query);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors.map((e) => e.field)).toEqual([field]);
  });
});

describe("ungrantableScopes (escalation)", () => {
  it.each([
    [["*"], ["*"], []],
    [["*"], ["read-only", "voice-only"], []],
    [["api-keys:write", "chat:write"], ["chat:read"], []],
    [["chat:write"], ["chat:*"], []],
    [["chat:read"], ["chat:write"], ["chat:write"]],
    [["read-only"], ["voice-only"], ["voice:write"]],
    [["api-keys:write"], ["*"], ["chat:read", "chat:write", "agents:read", "agents:write", "voice:read", "voice:write"]],
    [["api-keys:write", "read-only"], ["read-only", "agents:write"], ["agents:write"]],
  ])("held %j, granting %j → missing %j", (held, grants, missing) => {
    expect(ungrantableScopes(expandScopes(held), grants)).toEqual(missing);
  });
});
