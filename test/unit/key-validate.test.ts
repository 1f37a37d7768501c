import { describe, expect, it } from "vitest";
import { ungrantableScopes } from "../../src/keys/service";
import { checkBulkRotateInput, checkCreateInput, checkListInput, checkRotateInput, checkUpdateInput } from "../../src/keys/validate";
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
    ["a name with a newline", { name: "a\nb", scopes: ["*"] }, [{ field: "name", message: "must not contain control, format, surrogate or unassigned characters (found U+000A)" }]],
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

describe("key names: spoofing characters are refused, every script and emoji kept (issue 8 #7)", () => {
  const refused = (found: string) => [{ field: "name", message: `must not contain control, format, surrogate or unassigned characters (found ${found})` }];
  it.each([
    ["a right-to-left override (Cf)", "invoice\u202Egpj.exe", "U+202E"],
    ["a left-to-right isolate (Cf)", "prod\u2066key", "U+2066"],
    ["a zero-width space (Cf)", "prod\u200Bkey", "U+200B"],
    ["a zero-width joiner between letters (Cf)", "pro\u200Dd", "U+200D"],
    ["a zero-width non-joiner (Cf)", "pro\u200Cd", "U+200C"],
    ["a byte order mark inside (Cf; at the ends it is trimmed)", "pro\uFEFFd", "U+FEFF"],
    ["a soft hyphen (Cf)", "pro\u00ADd", "U+00AD"],
    ["a lone high surrogate (Cs)", "key\uD800", "U+D800"],
    ["a lone low surrogate (Cs)", "\uDC00key", "U+DC00"],
    ["a C0 control (Cc)", "a\u0007b", "U+0007"],
    ["DEL (Cc)", "a\u007Fb", "U+007F"],
    ["a C1 control (Cc)", "a\u0085b", "U+0085"],
    ["an unassigned code point (Cn)", "key\u0378", "U+0378"],
    ["a noncharacter (Cn)", "key\uFFFF", "U+FFFF"],
    ["a line separator", "a\u2028b", "U+2028"],
    ["a tag character outside a flag (Cf)", "key\u{E0041}", "U+E0041"],
  ])("refuses %s", (_label, name, found) => {
    expect(checkCreateInput({ name, scopes: ["*"] })).toEqual({ ok: false, errors: refused(found) });
  });

  it.each([
    ["Latin with accents", "Clé de production"],
    ["Cyrillic", "Ключ продакшн"],
    ["Greek", "Κλειδί"],
    ["Arabic", "مفتاح الإنتاج"],
    ["Hebrew", "מפתח ייצור"],
    ["Devanagari", "उत्पादन कुंजी"],
    ["Thai", "กุญแจ"],
    ["CJK", "生产密钥 本番キー 프로덕션"],
    ["astral-plane CJK", "𠀀𠀁"],
    ["a simple emoji", "Deploy 🚀"],
    ["an emoji with a skin tone", "👍🏽 ok"],
    ["a ZWJ emoji sequence", "👩‍💻 team"],
    ["a family ZWJ sequence", "👨‍👩‍👧"],
    ["a keycap", "1️⃣ first"],
    ["a country flag", "🇫🇷 Paris"],
    ["a subdivision flag (tag sequence)", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Edinburgh"],
    ["punctuation and symbols", "CI/CD bot (v2) — €, ©, №"],
  ])("accepts %s", (_label, name) => {
    expect(checkCreateInput({ name, scopes: ["*"] })).toEqual({ ok: true, value: { name, scopes: ["*"] } });
  });

  it("applies to an edit's name too", () => {
    expect(checkUpdateInput({ name: "x\u202Ey" })).toMatchObject({ ok: false, errors: [{ field: "name" }] });
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
