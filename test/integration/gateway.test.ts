// The request path before authentication: health, routing, path safety, limits, CORS, request ids.
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

const BASE = "https://api.agntix.test";
const gw = (path: string, init?: RequestInit) => exports.default.fetch(`${BASE}${path}`, init);

async function expectProblem(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json; charset=utf-8");
  expect(res.headers.get("x-request-id")).toMatch(/^[\w\-=]+$/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: `https://docs.agntix.ai/errors#${code}` });
  expect(body["request_id"]).toBe(res.headers.get("x-request-id"));
  return body;
}

describe("health", () => {
  it("GET /healthz answers 200 without credentials", async () => {
    const res = await gw("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: "ok",
      version: { id: expect.any(String), tag: null, timestamp: expect.any(String) },
      revocation_feed: { status: "ok", lag_ms: expect.any(Number) },
      dependencies: { kv: expect.any(Object), jwks: expect.any(Object), audit: expect.any(Object) },
    });
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });
});

describe("routing", () => {
  it.each(["/", "/v1", "/v2/chat", "/v1/chatx", "/v1/voicemail", "/healthz/x", "/.env", "/admin"])("%s → 404 not_found", async (path) => {
    const res = await gw(path, { headers: { "x-api-key": "pk_test_whatever" } });
    await expectProblem(res, 404, "not_found");
  });

  it.each(["/v1/chat/agents", "/v1/chat", "/v1/voice/calls", "/v1/chat/api-keys"])("%s without credentials → 401", async (path) => {
    const res = await gw(path);
    await expectProblem(res, 401, "missing_credentials");
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="agntix"');
  });

  it("refuses both credentials at once, never picking one", async () => {
    const res = await gw("/v1/chat/agents", { headers: { "x-api-key": "pk_test_x", authorization: "Bearer a.b.c" } });
    await expectProblem(res, 400, "conflicting_credentials");
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="agntix", error="invalid_request"/);
  });
});

describe("path safety: one path from check to forward", () => {
  // Request URLs are built raw so the tricks reach the gateway as a client could send them.
  it.each([
    "/v1/chat/agents%2f..%2f..%2fvoice",
    "/v1/chat%2Fagents",
    "/v1/chat%5cagents",
    "/v1//chat/agents",
    "/v1/chat//agents",
    "/v1/chat/api-keys%3B",
    "/v1/chat/agents%00",
    "/v1/chat/%zz",
    "/V1/chat/agents",
    "/v1/CHAT/agents",
    "/v1/chat/Agents",
    "/v1/chat/AGENTS/agent_1",
    "/v1/chat/API-KEYS",
    "/v1/Voice/calls",
  ])("%s → 400 invalid_path before authentication", async (path) => {
    const res = await gw(path, { headers: { "x-api-key": "pk_test_whatever" } });
    await expectProblem(res, 400, "invalid_path");
  });

  it.each([
    ["/v1/chat/../voice/calls", "/v1/voice/calls"],
    ["/v1/chat/%2e%2e/voice/calls", "/v1/voice/calls"],
    ["/v1/chat/.%2E/voice", "/v1/voice"],
    ["/v1/chat/agents;/../../voice", "/v1/voice"],
  ])("%s reaches the gateway already resolved to %s", (raw, resolved) => {
    // The URL parser (workerd's, like Cloudflare's edge normalisation) resolves dot segments, encoded
    // ones included, before the gateway sees the request: the path checked is the path forwarded.
    expect(new Request(`${BASE}${raw}`).url).toBe(`${BASE}${resolved}`);
  });
});

describe("limits", () => {
  it("answers 414 uri_too_long for a request target over 8 KiB", async () => {
    const res = await gw(`/v1/chat/agents?q=${"a".repeat(8 * 1024)}`);
    await expectProblem(res, 414, "uri_too_long");
  });

  it("answers 431 headers_too_large for headers over 32 KiB", async () => {
    const headers = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x-filler-${i}`, "h".repeat(1000)]));
    const res = await gw("/v1/chat/agents", { headers });
    await expectProblem(res, 431, "headers_too_large");
  });
});

describe("request ids", () => {
  it.each(["client-abc_123=", "has space", "semi;colon", "<script>", "x".repeat(129)])(
    "never takes the caller's x-request-id (%s): the id is always the gateway's own",
    async (value) => {
      const res = await gw("/v1/chat/agents", { headers: { "x-request-id": value } });
      const id = res.headers.get("x-request-id")!;
      expect(id).not.toBe(value);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(((await res.json()) as { request_id: string }).request_id).toBe(id);
    },
  );

  it("generates distinct ids", async () => {
    const [a, b] = await Promise.all([gw("/healthz"), gw("/healthz")]);
    expect(a.headers.get("x-request-id")).not.toBe(b.headers.get("x-request-id"));
  });
});

describe("CORS", () => {
  const preflight = (origin: string) =>
    gw("/v1/chat/agents", {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });

  it("answers an allowed origin's preflight before authentication", async () => {
    const res = await preflight("https://app.agntix.test");
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.agntix.test");
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    expect(res.headers.get("access-control-allow-headers")).toContain("authorization");
    expect(res.headers.get("vary")).toContain("Origin");
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  it("grants nothing to another origin", async () => {
    const res = await preflight("https://evil.example");
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("exposes x-request-id to an allowed origin on actual responses, errors included", async () => {
    const res = await gw("/v1/chat/agents", { headers: { origin: "https://app.agntix.test" } });
    await expectProblem(res, 401, "missing_credentials");
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.agntix.test");
    expect(res.headers.get("access-control-expose-headers")).toContain("x-request-id");
  });

  it("does not grant a disallowed origin on actual responses", async () => {
    const res = await gw("/healthz", { headers: { origin: "https://evil.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});
