// WebSockets relayed by the gateway: it holds both ends, so a socket ends when its credential
// does (close 4001 revoked, 4002 expired), a client refreshes its session token in-band, and a
// browser may send the token as a Sec-WebSocket-Protocol entry that the origin never sees and the
// answer never echoes.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { KeyStore, kvFromBinding } from "../../src/keys/store";
import { REVOCATION_LOG_NAME } from "../../src/revocation/durable-object";
import { CLOSE_EXPIRED, CLOSE_REVOKED, CLOSE_SCOPE_REMOVED } from "../../src/proxy/streams";
import { bearer, sessionToken } from "../helpers/jwt";
import { expectProblem, seedKey } from "../helpers/keys";

const gw = (path: string, init?: RequestInit) => exports.default.fetch(`https://api.agntix.test${path}`, init);
const upgrade = (headers: Record<string, string>): RequestInit => ({ headers: { upgrade: "websocket", ...headers } });

/** An accepted client socket with a queue of received messages and its close event. */
function client(res: Response) {
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const received: string[] = [];
  const waiters: ((m: string) => void)[] = [];
  ws.addEventListener("message", (e) => {
    const m = String(e.data);
    const w = waiters.shift();
    if (w) w(m);
    else received.push(m);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })));
  ws.accept();
  return {
    ws,
    closed,
    next: () => new Promise<string>((resolve) => (received.length ? resolve(received.shift()!) : waiters.push(resolve))),
  };
}

describe("WebSockets through the gateway's relay", { timeout: 30_000 }, () => {
  it("relays messages both ways", async () => {
    const { key } = await seedKey("org_ws_echo");
    const c = client(await gw("/v1/chat/ws", upgrade({ "x-api-key": key })));
    c.ws.send("hello");
    expect(await c.next()).toBe("chat echo: hello");
    c.ws.send("close");
    expect((await c.closed).code).toBe(1000);
  });

  it("a key deleted while its socket is open closes it with 4001 revoked (here and, via the log, elsewhere)", async () => {
    const { key, id } = await seedKey("org_ws_del");
    const c = client(await gw("/v1/chat/ws", upgrade({ "x-api-key": key })));
    c.ws.send("before");
    expect(await c.next()).toBe("chat echo: before");
    const store = new KeyStore(kvFromBinding(env.API_KEYS));
    const stored = (await store.findById(id))!;
    const log = env.REVOCATION_LOG.get(env.REVOCATION_LOG.idFromName(REVOCATION_LOG_NAME));
    await log.append([{ kind: "key", subject: stored.hash, not_after: Date.now(), reason: "delete", key_id: id }], 600_000);
    await store.remove(stored);
    expect(await c.closed).toEqual({ code: CLOSE_REVOKED, reason: "revoked" });
  });

  it("a key narrowed below the socket's scope closes it with 4003 scope_removed (attack run C)", async () => {
    const { key, id } = await seedKey("org_ws_narrow", ["chat:write"]);
    const admin = await seedKey("org_ws_narrow");
    const c = client(await gw("/v1/chat/ws", upgrade({ "x-api-key": key })));
    c.ws.send("before");
    expect(await c.next()).toBe("chat echo: before");
    const patch = await gw(`/v1/chat/api-keys/${id}`, {
      method: "PATCH",
      headers: { "x-api-key": admin.key, "content-type": "application/json" },
      body: JSON.stringify({ scopes: ["chat:read"] }),
    });
    expect(patch.status).toBe(200);
    expect(await c.closed).toEqual({ code: CLOSE_SCOPE_REMOVED, reason: "scope_removed" });
    // The key itself still works for what it kept.
    expect((await gw("/v1/chat/completions", { headers: { "x-api-key": key } })).status).toBe(200);
  });

  it("a token in Sec-WebSocket-Protocol beside an x-api-key is 400 conflicting_credentials, never resolved silently", async () => {
    const token = await sessionToken();
    const { key } = await seedKey("org_ws_two");
    await expectProblem(
      await gw("/v1/chat/ws", upgrade({ "sec-websocket-protocol": `agntix.v1, agntix.bearer.${token}`, "x-api-key": key })),
      400,
      "conflicting_credentials",
    );
  });

  it("a token-shaped protocol entry never reaches the origin, in any letter case, upgrade or not (attack run D)", async () => {
    const { key } = await seedKey("org_ws_case", ["chat:write"]);
    // Not an upgrade: the header is forwarded without the entry.
    const plain = await gw("/v1/chat/completions", { headers: { "x-api-key": key, "sec-websocket-protocol": "agntix.v1, Agntix.Bearer.secret-token-1" } });
    expect(plain.status).toBe(200);
    const echo = (await plain.json()) as { headers: Record<string, string> };
    expect(echo.headers["sec-websocket-protocol"]).toBe("agntix.v1");
    expect(JSON.stringify(echo)).not.toContain("secret-token-1");
    // An upgrade with a mixed-case entry: not read as a credential (the key is), never forwarded nor echoed.
    const up = await gw("/v1/chat/ws", upgrade({ "x-api-key": key, "sec-websocket-protocol": "AGNTIX.BEARER.secret-token-2, agntix.v1" }));
    expect(up.headers.get("sec-websocket-protocol")).toBe("agntix.v1");
    const c = client(up);
    c.ws.send("headers");
    const seen = await c.next();
    expect(seen).not.toContain("secret-token-2");
    c.ws.send("close");
    await c.closed;
  });

  it("a socket opened with a session token closes with 4002 expired at the token's exp", async () => {
    const token = await sessionToken({ exp: Math.floor(Date.now() / 1000) + 2 });
    const c = client(await gw("/v1/chat/ws", upgrade(bearer(token).headers)));
    c.ws.send("ping");
    expect(await c.next()).toBe("chat echo: ping");
    expect(await c.closed).toEqual({ code: CLOSE_EXPIRED, reason: "expired" });
  });

  it("an in-band refresh with a fresh token is consumed and keeps the socket past the first token's exp", async () => {
    const first = await sessionToken({ exp: Math.floor(Date.now() / 1000) + 2 });
    const c = client(await gw("/v1/chat/ws", upgrade(bearer(first).headers)));
    const fresh = await sessionToken({ exp: Math.floor(Date.now() / 1000) + 60 });
    c.ws.send(JSON.stringify({ type: "agntix.auth", token: fresh }));
    expect(JSON.parse(await c.next())).toMatchObject({ type: "agntix.auth.ok" });
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // past the first token's exp
    c.ws.send("still here");
    expect(await c.next()).toBe("chat echo: still here");
    const other = await sessionToken({ sub: "user_someoneElse", exp: Math.floor(Date.now() / 1000) + 60 });
    c.ws.send(JSON.stringify({ type: "agntix.auth", token: other }));
    expect(JSON.parse(await c.next())).toMatchObject({ type: "agntix.auth.error", code: "invalid_token" });
    c.ws.send("close");
    await c.closed;
  });

  it("takes a session token from a Sec-WebSocket-Protocol entry, never echoed nor forwarded", async () => {
    const token = await sessionToken();
    const res = await gw("/v1/chat/ws", upgrade({ "sec-websocket-protocol": `agntix.v1, agntix.bearer.${token}` }));
    expect(res.headers.get("sec-websocket-protocol")).toBe("agntix.v1");
    const c = client(res);
    c.ws.send("headers");
    const seen = JSON.parse(await c.next()) as Record<string, string>;
    expect(seen["sec-websocket-protocol"]).toBe("agntix.v1");
    expect(JSON.stringify(seen)).not.toContain(token);
    expect(seen["x-agntix-auth-method"]).toBe("jwt");
    c.ws.send("close");
    await c.closed;
  });

  it("a bad token in Sec-WebSocket-Protocol is 401 invalid_token, and a token in the query string is not a credential", async () => {
    await expectProblem(await gw("/v1/chat/ws", upgrade({ "sec-websocket-protocol": "agntix.v1, agntix.bearer.not-a-jwt" })), 401, "invalid_token");
    const token = await sessionToken();
    await expectProblem(await gw(`/v1/chat/ws?token=${token}`, upgrade({})), 401, "missing_credentials");
  });
});
