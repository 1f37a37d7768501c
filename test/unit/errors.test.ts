import { describe, expect, it } from "vitest";
import errorsDoc from "../../docs/errors.md?raw";
import { bearerChallenge, ERRORS, GatewayError, problemResponse } from "../../src/errors";

describe("the error table", () => {
  it("documents every code, with its status, in docs/errors.md and nothing else", () => {
    const documented = new Map(
      [...errorsDoc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]),
    );
    const table = new Map(Object.entries(ERRORS).map(([code, { status }]) => [code, status]));
    expect(documented).toEqual(table);
  });
});

describe("problemResponse", () => {
  it("renders problem+json with code, request id and no cause", async () => {
    const error = new GatewayError("origin_error", { detail: "The upstream service failed.", cause: new Error("db-01.internal down") });
    const res = problemResponse(error, "req-1");
    expect(res.status).toBe(502);
    expect(res.headers.get("content-type")).toBe("application/problem+json; charset=utf-8");
    expect(res.headers.get("x-request-id")).toBe("req-1");
    expect(res.headers.has("www-authenticate")).toBe(false);
    const text = await res.text();
    expect(text).not.toContain("db-01");
    expect(JSON.parse(text)).toEqual({
      type: "https://docs.agntix.ai/errors#origin_error",
      title: "Bad gateway",
      status: 502,
      detail: "The upstream service failed.",
      code: "origin_error",
      request_id: "req-1",
    });
  });

  it.each([
    ["missing_credentials", undefined, 'Bearer realm="agntix"'],
    ["invalid_api_key", undefined, 'Bearer realm="agntix", error="invalid_token", error_description="Invalid API key"'],
    ["invalid_token", undefined, 'Bearer realm="agntix", error="invalid_token", error_description="Invalid session token"'],
    ["conflicting_credentials", undefined, 'Bearer realm="agntix", error="invalid_request", error_description="Conflicting credentials"'],
    [
      "insufficient_scope",
      ["chat:write"],
      'Bearer realm="agntix", error="insufficient_scope", error_description="Insufficient scope", scope="chat:write"',
    ],
    ["not_found", undefined, null],
    ["key_store_unavailable", undefined, null],
  ] as const)("%s carries WWW-Authenticate %s", (code, scopes, challenge) => {
    const extra = scopes ? { required_scopes: [...scopes] } : undefined;
    const res = problemResponse(new GatewayError(code, { extra }), "r");
    expect(res.headers.get("www-authenticate")).toBe(challenge);
  });

  it("keeps quoted-string parameters well-formed", () => {
    expect(bearerChallenge({ error: "invalid_token", description: 'bad "token"\n\\' })).toBe(
      'Bearer realm="agntix", error="invalid_token", error_description="bad token"',
    );
  });
});
