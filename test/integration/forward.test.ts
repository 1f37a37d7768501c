// The forwarding layer against the real example origins, through real service bindings.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { GatewayError } from "../../src/errors";
import { forward, type ForwardOptions } from "../../src/proxy/forward";
import { testPrincipal } from "../helpers/principal";

const options = (overrides: Partial<ForwardOptions> = {}): ForwardOptions => ({
  origin: env.CHAT,
  principal: testPrincipal(["chat:write"], { orgId: "org_a", subject: "key_a" }),
  requestId: "req-forward-1",
  timeoutMs: 1000,
  ...overrides,
});

const codeOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return error instanceof GatewayError ? error.code : `threw ${String(error)}`;
  }
};

describe("forward", () => {
  it("sends method, path, query and body, strips credentials and hop-by-hop headers, sets identity", async () => {
    const request = new Request("https://api.agntix.test/v1/chat/messages?x=1&y=%20", {
      method: "POST",
      body: "hello",
      headers: {
        "content-type": "text/plain",
        "x-api-key": "pk_test_secret",
        authorization: "Bearer secret",
        cookie: "session=secret",
        connection: "keep-alive, x-hop",
        "x-hop": "1",
        "keep-alive": "timeout=5",
        te: "trailers",
        "proxy-authorization": "Basic c2VjcmV0",
        "x-agntix-org-id": "org_spoofed",
        "X-Agntix-Scopes": "*",
        "x-agntix-admin": "true",
        "x-request-id": "spoofed",
        "x-custom": "kept",
      },
    });
    const res = await forward(request, options());
    expect(res.status).toBe(200);
    const echo = (await res.json()) as { service: string; method: string; path: string; query: string; body: string; headers: Record<string, string> };
    expect(echo).toMatchObject({ service: "chat", method: "POST", path: "/v1/chat/messages", query: "?x=1&y=%20", body: "hello" });
    for (const name of ["x-api-key", "authorization", "cookie", "connection", "x-hop", "keep-alive", "te", "proxy-authorization", "x-agntix-admin"]) {
      expect(echo.headers, name).not.toHaveProperty(name);
    }
    expect(echo.headers).toMatchObject({
      "x-agntix-org-id": "org_a",
      "x-agntix-auth-method": "api_key",
      "x-agntix-principal-id": "key_a",
      "x-agntix-scopes": "chat:read chat:write",
      "x-request-id": "req-forward-1",
      "x-custom": "kept",
      "content-type": "text/plain",
    });
    expect(JSON.stringify(echo)).not.toContain("secret");
  });

  it("passes the origin's own errors through untouched", async () => {
    for (const status of [400, 404, 409, 500, 503]) {
      const res = await forward(new Request(`https://api.agntix.test/v1/chat/status/${status}`), options());
      expect(res.status).toBe(status);
      expect(res.headers.get("x-origin-header")).toBe("kept");
      expect(await res.json()).toEqual({ service: "chat", origin_error: true, status });
    }
  });

  it("streams Server-Sent Events as the origin writes them", async () => {
    const started = Date.now();
    const res = await forward(new Request("https://api.agntix.test/v1/chat/events?count=3&interval_ms=400"), options());
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    const firstAt = Date.now() - started;
    expect(first.value).toContain('"n":1');
    let rest = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += value;
    }
    const lastAt = Date.now() - started;
    expect(rest).toContain('"n":3');
    // The first event arrives well before the last one is even sent (800 ms later).
    expect(lastAt - firstAt).toBeGreaterThanOrEqual(600);
  });

  it("times out only the wait for headers: a stream longer than the timeout runs to its end", async () => {
    const res = await forward(new Request("https://api.agntix.test/v1/chat/events?count=4&interval_ms=150"), options({ timeoutMs: 200 }));
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('"n":4');
  });

  it("passes a WebSocket upgrade through and echoes", async () => {
    const res = await forward(new Request("https://api.agntix.test/v1/chat/ws", { headers: { upgrade: "websocket" } }), options());
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const reply = new Promise<string>((resolve) => ws.addEventListener("message", (e) => resolve(String(e.data))));
    ws.send("ping");
    expect(await reply).toBe("chat echo: ping");
    ws.close(1000, "done");
  });

  it("answers 502 origin_error when the origin throws, without its message", async () => {
    const promise = forward(new Request("https://api.agntix.test/v1/chat/throw"), options());
    await expect(promise).rejects.toMatchObject({ code: "origin_error", status: 502 });
    await expect(promise).rejects.not.toMatchObject({ detail: expect.stringContaining("db-01") });
  });

  it("answers 504 origin_timeout when the origin does not answer in time", async () => {
    expect(await codeOf(forward(new Request("https://api.agntix.test/v1/chat/hang?ms=3000"), options({ timeoutMs: 200 })))).toBe("origin_timeout");
  });

  it("does not time out an origin that answers in time", async () => {
    const res = await forward(new Request("https://api.agntix.test/v1/chat/hang?ms=50"), options({ timeoutMs: 1000 }));
    expect(res.status).toBe(200);
  });
});
