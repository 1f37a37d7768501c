import { describe, expect, it } from "vitest";
import { ALL_SCOPES, expandGrant, expandScopes, isValidGrant, missingScopes, sessionScopes, sortScopes } from "../../src/scopes";

describe("expandGrant", () => {
  it.each([
    ["chat:read", ["chat:read"]],
    ["chat:write", ["chat:write", "chat:read"]],
    ["agents:*", ["agents:read", "agents:write"]],
    ["api-keys:write", ["api-keys:write", "api-keys:read"]],
    ["read-only", ["chat:read", "agents:read", "voice:read"]],
    ["voice-only", ["voice:read", "voice:write"]],
    ["*", [...ALL_SCOPES]],
  ])("%s → %j", (grant, scopes) => {
    expect(expandGrant(grant)).toEqual(scopes);
  });

  it.each(["", "chat", "chat:", ":read", "chat:delete", "billing:read", "Chat:read", "chat:read ", "**", "read_only", "toString", "__proto__", "chat:*:read"])(
    "refuses %j",
    (grant) => {
      expect(expandGrant(grant)).toBeUndefined();
      expect(isValidGrant(grant)).toBe(false);
    },
  );
});

describe("expandScopes / sortScopes / missingScopes", () => {
  it("unions and orders the expansions, ignoring unknown grants", () => {
    expect(sortScopes(expandScopes(["voice-only", "chat:write", "nope"]))).toEqual(["chat:read", "chat:write", "voice:read", "voice:write"]);
  });
  it("lists exactly the missing scopes", () => {
    const held = expandScopes(["read-only"]);
    expect(missingScopes(held, ["chat:read"])).toEqual([]);
    expect(missingScopes(held, ["chat:write"])).toEqual(["chat:write"]);
    expect(missingScopes(expandScopes(["agents:write"]), ["agents:read"])).toEqual([]);
    expect(missingScopes(new Set(), ["api-keys:read"])).toEqual(["api-keys:read"]);
  });
});

describe("sessionScopes", () => {
  it.each([
    ["org:admin", [], [...ALL_SCOPES]],
    ["org:member", [], ["chat:read", "chat:write", "agents:read", "voice:read"]],
    ["org:member", ["org:voice:write"], ["chat:read", "chat:write", "agents:read", "voice:read", "voice:write"]],
    ["org:viewer", ["org:agents:read"], ["agents:read"]],
    [undefined, ["org:api-keys:manage", "org:billing:read", "org:chat:*"], ["chat:read", "chat:write"]],
    ["admin", [], []],
    ["org:toString", [], []],
  ] as const)("role %s with %j → %j", (role, permissions, scopes) => {
    expect(sortScopes(sessionScopes(role, permissions))).toEqual(sortScopes(scopes));
  });
});
