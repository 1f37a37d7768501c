// Issue 8, the request path: what an adversarial review of the running gateway found, each pinned
// here through the worker's own entry, real keys in KV and the example origins behind real bindings.
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { testPrincipal } from "../helpers/principal";
import { seedKey } from "../helpers/keys";
import { forward, upstreamHeaders } from "../../src/proxy/forward";
import { GatewayError } from "../../src/errors";

const BASE = "https://api.agntix.test";
const gw = (path: string, init?: RequestInit) => exports.default.fetch(`${BASE}${path}`, init);

interface Echo {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
}

async function expectProblem(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json; charset=utf-8");
  expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, request_id: res.headers.get("x-request-id") });
  return body;
}

const keys: Record<string, string> = {};
beforeAll(async () => {
  keys["chatRead"] = (await seedKey("org_hardening", ["chat:read"], "chat read")).key;
  keys["chatWrite"] = (await seedKey("org_hardening", ["chat:write"], "chat write")).key;
});
const withKey = (name: string, headers: Record<string, string> = {}) => ({ "x-api-key": keys[name]!, ...headers });

describe("a GET or HEAD with a body is refused before forwarding (not a 502)", () => {
  it.each([
    ["GET", { "content-length": "5" }],
    ["GET", { "transfer-encoding": "chunked" }],
    ["HEAD", { "content-length": "12" }],
  ] as const)("%s with %o → 400 body_not_allowed", async (method, headers) => {
    const res = await gw("/v1/chat/messages", { method, headers: withKey("chatRead", headers) });
    if (method === "HEAD") {
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json; charset=utf-8");
    } else {
      await expectProblem(res, 400, "body_not_allowed");
    }
  });

  it("a GET with Content-Length: 0 is an ordinary GET", async () => {
    const res = await gw("/v1/chat/messages", { headers: withKey("chatRead", { "content-length": "0" }) });
    expect(res.status).toBe(200);
  });
});

describe("methods the gateway does not forward", () => {
  it.each(["TRACE", "PROPFIND", "MKCOL", "PURGE"])("%s → 405 method_not_allowed with Allow, before authentication", async (method) => {
    const res = await gw("/v1/chat/messages", { method });
    const body = await expectProblem(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toBe("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    expect(String(body["detail"])).toContain(method);
  });

  it("CONNECT cannot even be built as a Request (the gateway would answer 405 if one arrived)", () => {
    // A forbidden method of the Fetch standard; over HTTP, workerd hands CONNECT to a `connect()`
    // handler instead of `fetch()` (docs/security.md).
    expect(() => new Request(`${BASE}/v1/chat/messages`, { method: "CONNECT" })).toThrow(TypeError);
  });
});

describe("a WebSocket upgrade needs the route's write scope", () => {
  it("a chat:read key may not open /v1/chat/ws → 403 insufficient_scope naming chat:write", async () => {
    const res = await gw("/v1/chat/ws", { headers: withKey("chatRead", { upgrade: "websocket" }) });
    const body = await expectProblem(res, 403, "insufficient_scope");
    expect(body["required_scopes"]).toEqual(["chat:write"]);
    expect(res.headers.get("www-authenticate")).toMatch(/error="insufficient_scope".*scope="chat:write"/);
  });

  it("a chat:write key may", async () => {
    const res = await gw("/v1/chat/ws", { headers: withKey("chatWrite", { upgrade: "websocket" }) });
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    res.webSocket!.close(1000, "done");
  });

  it("a plain GET with the read scope still works", async () => {
    expect((await gw("/v1/chat/ws", { headers: withKey("chatRead") })).status).toBe(200);
  });
});

describe("method overrides", () => {
  it.each(["?_method=DELETE", "?a=1&_method=POST", "?%5Fmethod=DELETE", "?_METHOD=delete", "?_m%65thod=DELETE", "?_%6Dethod=DELETE", "?x=1;_method=DELETE"])(
    "a %s query → 400 method_override_refused, before authentication",
    async (query) => {
      await expectProblem(await gw(`/v1/chat/messages${query}`), 400, "method_override_refused");
    },
  );

  it("other parameters that mention 'method' pass", async () => {
    const res = await gw("/v1/chat/messages?payment_method=card&method=x", { headers: withKey("chatRead") });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Echo).query).toBe("?payment_method=card&method=x");
  });

  it("override headers never reach the origin", async () => {
    const res = await gw("/v1/chat/messages", {
      headers: withKey("chatRead", {
        "x-http-method-override": "DELETE",
        "x-http-method": "DELETE",
        "x-method-override": "DELETE",
        "x-original-method": "DELETE",
        x_http_method_override: "DELETE",
      }),
    });
    expect(res.status).toBe(200);
    const echo = (await res.json()) as Echo;
    expect(echo.method).toBe("GET");
    expect(JSON.stringify(echo.headers)).not.toContain("DELETE");
  });
});

describe("proxy-trust and look-alike identity headers", () => {
  it("the caller's are dropped; the gateway sets x-forwarded-for and x-forwarded-proto itself", async () => {
    const spoofed = {
      "x-forwarded-for": "10.0.0.1",
      "x-forwarded-host": "admin.internal",
      "x-forwarded-proto": "http",
      "x-forwarded-port": "8443",
      forwarded: "for=10.0.0.1;host=admin.internal",
      "x-real-ip": "10.0.0.1",
      "true-client-ip": "10.0.0.1",
      "x-client-ip": "10.0.0.1",
      "x-original-url": "/admin",
      "x-rewrite-url": "/admin",
      "x-original-uri": "/admin",
      "x-forwarded-uri": "/admin",
      "x-envoy-external-address": "10.0.0.1",
      "fastly-client-ip": "10.0.0.1",
      "forwarded-for": "10.0.0.1",
      "x-remote-user": "admin",
      "remote-user": "admin",
      "x-auth-request-user": "admin",
      "x-forwarded-user": "admin",
      "x-override-method": "DELETE",
      x_forwarded_for: "10.0.0.1",
      x_agntix_org_id: "org_victim",
      "x-agntix_org-id": "org_victim",
      "x_agntix-scopes": "*",
      "x-client-request-id": "spoofed-client-id",
      "cf-connecting-ip": "203.0.113.7",
    };
    const res = await gw("/v1/chat/messages", { headers: withKey("chatRead", spoofed) });
    expect(res.status).toBe(200);
    const { headers } = (await res.json()) as Echo;
    for (const name of Object.keys(spoofed)) {
      if (name === "cf-connecting-ip" || name === "x-forwarded-for" || name === "x-forwarded-proto") continue;
      expect(headers, name).not.toHaveProperty(name);
    }
    expect(JSON.stringify(headers)).not.toMatch(/10\.0\.0\.1|admin|org_victim|spoofed-client-id/);
    expect(headers["x-forwarded-for"]).toBe("203.0.113.7");
    expect(headers["x-forwarded-proto"]).toBe("https");
    expect(headers["x-agntix-org-id"]).toBe("org_hardening");
    expect(headers["x-agntix-scopes"]).toBe("chat:read");
  });

  it("a Connection header cannot name an identity header away, nor smuggle a look-alike", () => {
    const headers = upstreamHeaders(
      new Headers({ connection: "x-agntix-org-id, x_custom", x_custom: "1", "x-kept": "1" }),
      testPrincipal(["chat:read"], { orgId: "org_a" }),
      "req-1",
    );
    expect(headers.get("x-agntix-org-id")).toBe("org_a");
    expect(headers.has("x_custom")).toBe(false);
    expect(headers.get("x-kept")).toBe("1");
  });
});

describe("request ids (the gateway's own; the caller's travels as x-client-request-id)", () => {
  it.each([
    ["caller-id-1", "caller-id-1"],
    ["ticket 42 (retry)", "ticket 42 (retry)"],
    ["x".repeat(128), "x".repeat(128)],
    ["x".repeat(129), undefined],
    ["\u007f-delete", undefined],
    ["tab\there", undefined],
    ["ünïcode", undefined],
  ])("caller id %j → origin x-client-request-id %j", async (sent, forwarded) => {
    const res = await gw("/v1/chat/messages", { headers: withKey("chatRead", { "x-request-id": sent }) });
    expect(res.status).toBe(200);
    const id = res.headers.get("x-request-id");
    expect(id).not.toBe(sent);
    const { headers } = (await res.json()) as Echo;
    expect(headers["x-request-id"]).toBe(id);
    expect(headers["x-client-request-id"]).toBe(forwarded);
  });
});

describe("under `npm run dev`, an origin's exception is a 502 as in production", () => {
  // What wrangler's dev error wrapper (templates/middleware/middleware-miniflare3-json-error.ts)
  // makes of an origin that throws: a 500 carrying the error, its message and stack.
  const wrapped: Fetcher = {
    fetch: async () =>
      new Response(JSON.stringify({ name: "Error", message: "db-01.internal exploded", stack: "Error: db-01.internal exploded\n    at fetch" }), {
        status: 500,
        headers: { "content-type": "application/json", "MF-Experimental-Error-Stack": "true" },
      }),
    connect: () => {
      throw new Error("unused");
    },
  } as unknown as Fetcher;
  const options = { principal: testPrincipal(["chat:read"]), requestId: "req-dev", timeoutMs: 1000 };

  it("in development the wrapper's response becomes 502 origin_error, never echoing the error", async () => {
    const error = await forward(new Request(`${BASE}/v1/chat/throw`), { ...options, origin: wrapped, unwrapDevErrors: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ code: "origin_error", status: 502 });
    expect(JSON.stringify(error)).not.toContain("db-01");
  });

  it("elsewhere an origin's own 500 passes through untouched", async () => {
    const res = await forward(new Request(`${BASE}/v1/chat/throw`), { ...options, origin: wrapped, unwrapDevErrors: false });
    expect(res.status).toBe(500);
  });

  it("an origin's ordinary 500 is not mistaken for the wrapper's", async () => {
    const res = await gw("/v1/chat/status/500", { headers: withKey("chatRead") });
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ origin_error: true, status: 500 });
  });
});

describe("encoded dot segments (%2e%2e) are resolved by the URL parser before the gateway sees them", () => {
  it("/v1/chat/%2e%2e/voice/calls is routed, scoped and forwarded as /v1/voice/calls", async () => {
    // A chat key is refused for the resolved route's scope, not the raw path's: 403, not 400.
    const res = await gw("/v1/chat/%2e%2e/voice/calls", { headers: withKey("chatWrite") });
    const body = await expectProblem(res, 403, "insufficient_scope");
    expect(body["required_scopes"]).toEqual(["voice:read"]);
  });
});
