import { describe, expect, it } from "vitest";
import { checkPath } from "../../src/path";

describe("checkPath", () => {
  it.each([
    ["/v1/chat/agents", "/v1/chat/agents"],
    ["/v1/chat/agents/", "/v1/chat/agents/"],
    ["/v1/chat/agents/agent_123", "/v1/chat/agents/agent_123"],
    ["/v1/chat/messages/hello%20world", "/v1/chat/messages/hello%20world"],
    ["/v1/chat/messages/caf%C3%A9", "/v1/chat/messages/caf%C3%A9"],
    ["/v1/chat/messages/a%40b", "/v1/chat/messages/a%40b"],
    ["/v1/voice/calls/a.b", "/v1/voice/calls/a.b"],
    ["/v1/voice/calls/.a", "/v1/voice/calls/.a"],
    ["/", "/"],
  ])("accepts %s", (raw, path) => {
    expect(checkPath(raw)).toEqual({ ok: true, path });
  });

  it.each([
    ["dot-dot segment", "/v1/chat/../voice"],
    ["dot segment", "/v1/chat/./agents"],
    ["trailing dot-dot", "/v1/chat/agents/.."],
    ["encoded dot-dot", "/v1/chat/%2e%2e/voice"],
    ["upper-case encoded dot-dot", "/v1/chat/%2E%2E/voice"],
    ["half-encoded dot-dot", "/v1/chat/.%2e/voice"],
    ["encoded dot", "/v1/chat/%2e/agents"],
    ["encoded slash", "/v1/chat%2fagents"],
    ["upper-case encoded slash", "/v1/chat%2Fagents"],
    ["encoded backslash", "/v1/chat%5cagents"],
    ["backslash", "/v1/chat\\agents"],
    ["duplicate slash", "/v1//chat/agents"],
    ["leading duplicate slash", "//v1/chat"],
    ["trailing duplicate slash", "/v1/chat//"],
    ["path parameter", "/v1/chat/agents;x=1"],
    ["encoded path parameter", "/v1/chat/api-keys%3b/x"],
    ["encoded NUL", "/v1/chat/agents%00"],
    ["encoded newline", "/v1/chat/agents%0a"],
    ["malformed escape", "/v1/chat/%zz"],
    ["truncated escape", "/v1/chat/%e2%82"],
    ["relative", "v1/chat"],
    ["encoded hyphen (api%2Dkeys)", "/v1/chat/api%2Dkeys"],
    ["encoded lower-case letter", "/v1/chat/%61gents"],
    ["encoded upper-case letter", "/v1/chat/%41gents"],
    ["encoded digit", "/v%31/chat"],
    ["encoded underscore", "/v1/chat/agents/agent%5F1"],
    ["encoded tilde", "/v1/chat/%7Euser"],
    ["encoded dot inside a segment", "/v1/chat/a%2Eb"],
    // Attack run C: an origin that decodes before it parses reads these as another path.
    ["encoded question mark (agents?x=1 to a decoding origin)", "/v1/chat/agents%3Fx=1"],
    ["encoded hash", "/v1/chat/agents%23x"],
    ["encoded question mark inside a segment", "/v1/chat/messages/a%3Fc"],
    ["trailing dot (agents. is agents to IIS-like servers)", "/v1/chat/agents."],
    ["trailing dots", "/v1/voice/calls/..."],
    ["trailing encoded space", "/v1/chat/agents%20"],
    // Attack run D: compatibility forms an NFKC-folding origin reads as ASCII.
    ["full-width dot", "/v1/chat/agents%EF%BC%8E"],
    ["full-width question mark", "/v1/chat/agents%EF%BC%9Fx=1"],
    ["full-width letter", "/v1/chat/%EF%BD%81gents"],
    ["full-width slash and dots", "/v1/chat/x%EF%BC%8F%EF%BC%8E%EF%BC%8E%EF%BC%8Fagents"],
    ["trailing no-break space", "/v1/chat/agents%C2%A0"],
    ["trailing en quad", "/v1/chat/agents%E2%80%80"],
    ["trailing ideographic space", "/v1/chat/agents%E3%80%80"],
    ["decomposed accent (NFKC composes it)", "/v1/chat/messages/cafe%CC%81"],
  ])("refuses a %s", (_name, raw) => {
    const result = checkPath(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/\.$/);
  });
});
