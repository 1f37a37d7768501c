// The whole request path through the worker's own entry (`exports.default`), with real keys in KV,
// real session tokens signed by the stand-in IdP's key, and the example origins behind real bindings.
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ALL_SCOPES } from "../../src/scopes";
import { sessionToken } from "../helpers/jwt";
import { seedKey } from "../helpers/keys";

const BASE = "https://api.agntix.test";
const gw = (path: string, init?: RequestInit) => exports.default.fetch(`${BASE}${path}`, init);

interface Echo {
  service: string;
  method: string;
  path: string;
  query: string;
  body: string | null;
  headers: Record<string, string>;
}

async function expectProblem(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json; charset=utf-8");
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, request_id: res.headers.get("x-request-id") });
  return body;
}

// Credentials, by the scopes they hold.
const keys: Record<string, string> = {};
const tokens: Record<string, string> = {};

beforeAll(async () => {
  for (const [name, grants] of Object.entries({
    all: ["*"],
    readOnly: ["read-only"],
    voiceOnly: ["voice-only"],
    chatWrite: ["chat:write"],
    agentsWrite: ["agents:write"],
    keysRead: ["api-keys:read"],
  })) {
    keys[name] = (await seedKey("org_e2e", grants, name)).key;
  }
  tokens["admin"] = await sessionToken({ o: { id: "org_e2e", rol: "admin" }, exp: Math.floor(Date.now() / 1000) + 600 });
  tokens["member"] = await sessionToken({ o: { id: "org_e2e", rol: "member" }, exp: Math.floor(Date.now() / 1000) + 600 });
});

const apiKey = (name: string, headers: Record<string, string> = {}) => ({ headers: { "x-api-key": keys[name]!, ...headers } });
const bearer = (name: string, headers: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${tokens[name]!}`, ...headers } });

describe("the security matrix: every route, read and write, each credential", () => {
  // [path, method, credential kind, credential name, expected status]
  const matrix: [string, string, "key" | "token", string, number][] = [];
  const routes = [
    ["/v1/chat/messages", "chat"],
    ["/v1/chat/agents", "agents"],
    ["/v1/voice/calls", "voice"],
  ] as const;
  const holds: Record<string, string[]> = {
    "key:all": ALL_SCOPES.slice(),
    "key:readOnly": ["chat:read", "agents:read", "voice:read"],
    "key:voiceOnly": ["voice:read", "voice:write"],
    "key:chatWrite": ["chat:read", "chat:write"],
    "key:agentsWrite": ["agents:read", "agents:write"],
    "key:keysRead": ["api-keys:read"],
    "token:admin": ALL_SCOPES.slice(),
    "token:member": ["chat:read", "chat:write", "agents:read", "voice:read"],
  };
  for (const [path, resource] of routes) {
    for (const method of ["GET", "HEAD", "POST", "DELETE"]) {
      const needed = `${resource}:${method === "GET" || method === "HEAD" ? "read" : "write"}`;
      for (const [who, scopes] of Object.entries(holds)) {
        const [kind, name] = who.split(":") as ["key" | "token", string];
        matrix.push([path, method, kind, name, scopes.includes(needed) ? 200 : 403]);
      }
    }
  }

  it.each(matrix)("%s %s with %s %s → %i", async (path, method, kind, name, status) => {
    const init = kind === "key" ? apiKey(name) : bearer(name);
    const res = await gw(path, { method, ...init });
    expect(res.status).toBe(status);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    if (status === 403) {
      expect(res.headers.get("www-authenticate")).toMatch(/error="insufficient_scope"/);
      if (method !== "HEAD") {
        const body = await expectProblem(res, 403, "insufficient_scope");
        expect(body["required_scopes"]).toHaveLength(1);
      }
    } else if (method !== "HEAD") {
      const echo = (await res.json()) as Echo;
      expect(echo).toMatchObject({ method, path });
    }
  });
});

describe("what the origin receives", () => {
  it("an API key caller: identity headers, no credentials, no spoofed identity", async () => {
    const res = await gw("/v1/chat/messages?stream=false&q=a%20b", {
      method: "POST",
      body: JSON.stringify({ text: "hi" }),
      headers: {
        "x-api-key": keys["chatWrite"]!,
        "content-type": "application/json",
        cookie: "__session=secret-cookie",
        "x-agntix-org-id": "org_victim",
        "x-agntix-scopes": "*",
        "x-agntix-auth-method": "jwt",
        "x-request-id": "caller-id-1",
      },
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-request-id");
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const echo = (await res.json()) as Echo;
    expect(echo).toMatchObject({ service: "chat", method: "POST", path: "/v1/chat/messages", query: "?stream=false&q=a%20b", body: '{"text":"hi"}' });
    expect(echo.headers["x-agntix-org-id"]).toBe("org_e2e");
    expect(echo.headers["x-agntix-auth-method"]).toBe("api_key");
    expect(echo.headers["x-agntix-principal-id"]).toMatch(/^key_/);
    expect(echo.headers["x-agntix-scopes"]).toBe("chat:read chat:write");
    // The gateway's id is the origin's x-request-id; the caller's own travels as x-client-request-id.
    expect(echo.headers["x-request-id"]).toBe(requestId);
    expect(echo.headers["x-client-request-id"]).toBe("caller-id-1");
    expect(echo.headers).not.toHaveProperty("x-api-key");
    expect(echo.headers).not.toHaveProperty("cookie");
    expect(JSON.stringify(echo)).not.toContain(keys["chatWrite"]!.slice(8));
  });

  it("a session-token caller: the user and organisation of the token, never the token", async () => {
    const res = await gw("/v1/voice/calls", bearer("member", { "x-agntix-principal-id": "user_someone_else" }));
    expect(res.status).toBe(200);
    const echo = (await res.json()) as Echo;
    expect(echo.service).toBe("voice");
    expect(echo.headers["x-agntix-org-id"]).toBe("org_e2e");
    expect(echo.headers["x-agntix-auth-method"]).toBe("jwt");
    expect(echo.headers["x-agntix-principal-id"]).toBe("user_2testUser");
    expect(echo.headers["x-agntix-scopes"]).toBe("chat:read chat:write agents:read voice:read");
    expect(echo.headers).not.toHaveProperty("authorization");
    expect(JSON.stringify(echo)).not.toContain(tokens["member"]!.split(".")[2]!);
  });

  it("a path with encoded dot segments is checked and forwarded as the one resolved path", async () => {
    // /v1/chat/%2e%2e/voice/calls resolves to /v1/voice/calls: a chat-only key may not use it.
    await expectProblem(await gw("/v1/chat/%2e%2e/voice/calls", apiKey("chatWrite")), 403, "insufficient_scope");
    const res = await gw("/v1/chat/%2e%2e/voice/calls", apiKey("voiceOnly"));
    expect(res.status).toBe(200);
    expect(((await res.json()) as Echo)).toMatchObject({ service: "voice", path: "/v1/voice/calls" });
  });
});

describe("encoded paths cannot reach a route other than the one checked", () => {
  it.each([
    ["GET", "/v1/chat/api%2Dkeys"],
    ["GET", "/v1/chat/api%2dkeys"],
    ["DELETE", "/v1/chat/api%2Dkeys/key_anything"],
    ["POST", "/v1/chat/%61gents"],
    ["GET", "/v1/chat/%41gents"],
    ["GET", "/v%31/voice/calls"],
  ])("%s %s with a chat-only key → 400 invalid_path", async (method, path) => {
    await expectProblem(await gw(path, { method, ...apiKey("chatWrite") }), 400, "invalid_path");
  });

  it("a chat-only key can neither list nor delete the organisation's keys by any spelling", async () => {
    const admin = await seedKey("org_e2e", ["*"], "admin to keep");
    for (const path of ["/v1/chat/api-keys", `/v1/chat/api-keys/${admin.id}`]) {
      await expectProblem(await gw(path, apiKey("chatWrite")), 403, "insufficient_scope");
      await expectProblem(await gw(path, { method: "DELETE", ...apiKey("chatWrite") }), 403, "insufficient_scope");
    }
    expect((await gw("/v1/chat/agents", { headers: { "x-api-key": admin.key } })).status).toBe(200);
  });
});

describe("streaming and origin failures through the gateway", () => {
  it("delivers the first Server-Sent Event well before the last is sent", async () => {
    const started = Date.now();
    const res = await gw("/v1/chat/events?count=3&interval_ms=400", apiKey("readOnly"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    const firstAt = Date.now() - started;
    expect(first.value).toContain('"n":1');
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value;
    expect(rest).toContain('"n":3');
    expect(Date.now() - started - firstAt).toBeGreaterThanOrEqual(600);
  });

  it("passes a WebSocket upgrade through, with a request id", async () => {
    const res = await gw("/v1/voice/ws", apiKey("voiceOnly", { upgrade: "websocket" }));
    expect(res.status).toBe(101);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    const ws = res.webSocket!;
    ws.accept();
    const reply = new Promise<string>((resolve) => ws.addEventListener("message", (e) => resolve(String(e.data))));
    ws.send("hello");
    expect(await reply).toBe("voice echo: hello");
    ws.close(1000, "done");
  });

  it("answers 502 origin_error for an origin that throws, without its message", async () => {
    const res = await gw("/v1/chat/throw", apiKey("readOnly"));
    const body = await expectProblem(res, 502, "origin_error");
    expect(JSON.stringify(body)).not.toMatch(/exploded|db-01/);
  });

  it("answers 504 origin_timeout for an origin that hangs (ORIGIN_TIMEOUT_MS=1500 in tests)", async () => {
    await expectProblem(await gw("/v1/chat/hang?ms=5000", apiKey("readOnly")), 504, "origin_timeout");
  });

  it("passes the origin's own errors through untouched", async () => {
    const res = await gw("/v1/voice/status/409", apiKey("voiceOnly"));
    expect(res.status).toBe(409);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-origin-header")).toBe("kept");
    expect(await res.json()).toEqual({ service: "voice", origin_error: true, status: 409 });
  });

  it("answers 413 for a declared body over MAX_BODY_BYTES (64 KiB in tests), and forwards one under it", async () => {
    const big = "x".repeat(65537);
    const res = await gw("/v1/chat/messages", { method: "POST", body: big, ...apiKey("chatWrite", { "content-length": String(big.length) }) });
    await expectProblem(res, 413, "payload_too_large");
    const ok = await gw("/v1/chat/messages", { method: "POST", body: "x".repeat(65536), ...apiKey("chatWrite") });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Echo).body).toHaveLength(65536);
  });

  it("answers 413 for a streamed body that grows past the limit, without sending a cut body on", async () => {
    const stream = (chunks: number) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < chunks; i++) controller.enqueue(new Uint8Array(16 * 1024).fill(97));
          controller.close();
        },
      });
    const init = (chunks: number) => ({ method: "POST", body: stream(chunks), duplex: "half", ...apiKey("chatWrite") }) as RequestInit;
    await expectProblem(await gw("/v1/chat/messages", init(5)), 413, "payload_too_large");
    const ok = await gw("/v1/chat/messages", init(4));
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Echo).body).toHaveLength(65536);
  });

  it("does not read the body of an unauthenticated request", async () => {
    const res = await gw("/v1/chat/messages", { method: "POST", body: "x".repeat(200_000) });
    await expectProblem(res, 401, "missing_credentials");
  });
});

describe("key management with a session token (the dashboard's path)", () => {
  it("an organisation admin creates a key that then works, and a member may not", async () => {
    const created = await gw("/v1/chat/api-keys", {
      method: "POST",
      body: JSON.stringify({ name: "From the dashboard", scopes: ["voice-only"] }),
      ...bearer("admin", { "content-type": "application/json" }),
    });
    expect(created.status).toBe(201);
    const { key, id } = (await created.json()) as { key: string; id: string };
    const used = await gw("/v1/voice/calls", { headers: { "x-api-key": key } });
    expect(used.status).toBe(200);
    expect(((await used.json()) as Echo).headers["x-agntix-principal-id"]).toBe(id);

    const denied = await gw("/v1/chat/api-keys", bearer("member"));
    const body = await expectProblem(denied, 403, "insufficient_scope");
    expect(body["required_scopes"]).toEqual(["api-keys:read"]);
  });
});
