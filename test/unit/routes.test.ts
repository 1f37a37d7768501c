import { describe, expect, it } from "vitest";
import { hasCaseVariantRoute, matchRoute, requiredScopes } from "../../src/routes";

describe("matchRoute", () => {
  it.each([
    ["/v1/chat", "/v1/chat"],
    ["/v1/chat/", "/v1/chat"],
    ["/v1/chat/messages", "/v1/chat"],
    ["/v1/chat/agents", "/v1/chat/agents"],
    ["/v1/chat/agents/", "/v1/chat/agents"],
    ["/v1/chat/agents/agent_1/runs", "/v1/chat/agents"],
    ["/v1/chat/agentsx", "/v1/chat"],
    ["/v1/chat/api-keys", "/v1/chat/api-keys"],
    ["/v1/chat/api-keys/key_1/rotate", "/v1/chat/api-keys"],
    ["/v1/chat/api-keysx", "/v1/chat"],
    ["/v1/voice", "/v1/voice"],
    ["/v1/voice/calls", "/v1/voice"],
  ])("%s → %s", (path, prefix) => {
    expect(matchRoute(path)?.prefix).toBe(prefix);
  });

  it.each(["/", "/v1", "/v1/chatx", "/v1/voicemail", "/v2/chat", "/healthz/x", "/V1/chat"])("%s → no route", (path) => {
    expect(matchRoute(path)).toBeUndefined();
  });
});

describe("hasCaseVariantRoute", () => {
  it.each([
    ["/V1/chat/agents", true],
    ["/v1/CHAT", true],
    ["/v1/chat/Agents", true],
    ["/v1/chat/API-KEYS/key_1", true],
    ["/v1/Voice/calls", true],
    ["/v1/chat/agents/AgentId", false],
    ["/v1/chat/Messages", false],
    ["/v1/chat/agents", false],
    ["/v2/Other", false],
  ])("%s → %s", (path, expected) => {
    expect(hasCaseVariantRoute(path)).toBe(expected);
  });
});

describe("requiredScopes", () => {
  const table = [
    ["/v1/chat/agents", "GET", ["agents:read"]],
    ["/v1/chat/agents", "HEAD", ["agents:read"]],
    ["/v1/chat/agents", "POST", ["agents:write"]],
    ["/v1/chat/agents", "DELETE", ["agents:write"]],
    ["/v1/chat/agents", "OPTIONS", ["agents:write"]],
    ["/v1/chat/messages", "GET", ["chat:read"]],
    ["/v1/chat/messages", "PATCH", ["chat:write"]],
    ["/v1/chat/api-keys", "GET", ["api-keys:read"]],
    ["/v1/chat/api-keys", "POST", ["api-keys:write"]],
    ["/v1/voice/calls", "GET", ["voice:read"]],
    ["/v1/voice/calls", "PUT", ["voice:write"]],
  ] as const;
  it.each(table)("%s %s needs %j", (path, method, scopes) => {
    expect(requiredScopes(matchRoute(path)!, method)).toEqual(scopes);
  });
});
