import { describe, expect, it } from "vitest";
import { readCredential } from "../../src/auth/credentials";
import { GatewayError } from "../../src/errors";

const codeOf = (headers: Record<string, string>): string => {
  try {
    readCredential(new Headers(headers));
  } catch (error) {
    if (error instanceof GatewayError) return error.code;
    throw error;
  }
  return "ok";
};

describe("readCredential", () => {
  it("reads an API key", () => {
    expect(readCredential(new Headers({ "x-api-key": " pk_test_abc " }))).toEqual({ kind: "api_key", key: "pk_test_abc" });
  });
  it.each(["Bearer abc.def.ghi", "bearer abc.def.ghi", "BEARER abc.def.ghi", "  Bearer   abc.def.ghi  "])("reads %j", (value) => {
    expect(readCredential(new Headers({ authorization: value }))).toEqual({ kind: "bearer", token: "abc.def.ghi" });
  });
  it.each([
    [{}, "missing_credentials"],
    [{ "x-api-key": "pk_test_x", authorization: "Bearer a.b.c" }, "conflicting_credentials"],
    [{ "x-api-key": "", authorization: "" }, "conflicting_credentials"],
    // A WebSocket's protocol token beside another credential (found by attack run C).
    [{ upgrade: "websocket", "sec-websocket-protocol": "agntix.bearer.a.b.c, x", "x-api-key": "pk_test_x" }, "conflicting_credentials"],
    [{ upgrade: "websocket", "sec-websocket-protocol": "agntix.bearer.a.b.c", authorization: "Bearer d.e.f" }, "conflicting_credentials"],
    [{ "x-api-key": "   " }, "invalid_api_key"],
    [{ "x-api-key": "x".repeat(257) }, "invalid_api_key"],
    [{ authorization: "Basic dXNlcjpwYXNz" }, "invalid_token"],
    [{ authorization: "Bearer" }, "invalid_token"],
    [{ authorization: "Bearer a b" }, "invalid_token"],
    [{ authorization: "Bearer a,b" }, "invalid_token"],
    [{ authorization: `Bearer ${"a".repeat(8 * 1024 + 1)}` }, "invalid_token"],
    [{ authorization: "Token abc" }, "invalid_token"],
  ])("%j → %s", (headers, code) => {
    expect(codeOf(headers)).toBe(code);
  });
});
