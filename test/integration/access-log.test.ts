// The access log: exactly one structured line per request, with the fields an operator needs to
// answer "what did key X do", and never a credential (key, token, pepper) or a query string.
import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import type { Bindings } from "../../src/env";
import { getConfig } from "../../src/env";
import { accessLine } from "../../src/observability/access-log";
import { bearer, gatewayWith, sessionToken } from "../helpers/jwt";
import { seedKey } from "../helpers/keys";

const gw = (path: string, init?: RequestInit) => exports.default.fetch(`https://api.agntix.test${path}`, init);
const FIELDS = [
  "event", "request_id", "method", "route", "path", "status", "code", "org", "credential", "credential_id",
  "duration_ms", "bytes_in", "bytes_out", "colo",
];

let log: MockInstance<(...args: unknown[]) => void>;
/** The access lines written so far (other log lines ignored), as text and parsed. */
const lines = () =>
  log.mock.calls
    .map((args) => String(args[0]))
    .filter((text) => text.startsWith('{"event":"access"'))
    .map((text) => ({ text, line: JSON.parse(text) as Record<string, unknown> }));

beforeEach(() => {
  log = vi.spyOn(console, "log");
});
afterEach(() => log.mockRestore());

describe("one access line per request", () => {
  it("an API key's call: every field, the key's id and org, never the key or the query", async () => {
    const { key, id } = await seedKey("org_logged");
    log.mockClear();
    const res = await gw("/v1/chat/agents?api_key=leaked&token=x", {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json" },
      body: JSON.stringify({ hello: "world" }),
    });
    expect(res.status).toBe(200);
    const written = lines();
    expect(written).toHaveLength(1);
    const { text, line } = written[0]!;
    expect(Object.keys(line)).toEqual(FIELDS);
    expect(line).toMatchObject({
      event: "access",
      request_id: res.headers.get("x-request-id"),
      method: "POST",
      route: "/v1/chat/agents",
      path: "/v1/chat/agents",
      status: 200,
      code: null,
      org: "org_logged",
      credential: "api_key",
      credential_id: id,
      bytes_in: 17,
    });
    expect(line["duration_ms"]).toEqual(expect.any(Number));
    const pepper = getConfig(env as unknown as Bindings).apiKeys.pepper;
    for (const secret of [key, key.slice(8), pepper, "leaked", "api_key="]) expect(text).not.toContain(secret);
  });

  it("a refused key: the error code, no credential, and not the key that was presented", async () => {
    const presented = "pk_test_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaBBBBBB";
    const res = await gw("/v1/voice/calls", { headers: { "x-api-key": presented } });
    expect(res.status).toBe(401);
    const [{ text, line }] = lines() as [{ text: string; line: Record<string, unknown> }];
    expect(line).toMatchObject({ status: 401, code: "invalid_api_key", route: "/v1/voice", credential: null, credential_id: null, org: null });
    expect(text).not.toContain("aaaaaaaaaaaaaaaaaaaa");
  });

  it("a session token: credential jwt and the user id, never the token", async () => {
    const token = await sessionToken();
    const res = await gw("/v1/chat/agents", bearer(token));
    expect(res.status).toBe(200);
    const [{ text, line }] = lines() as [{ text: string; line: Record<string, unknown> }];
    expect(line).toMatchObject({ credential: "jwt", credential_id: "user_2testUser", org: "org_test", status: 200 });
    expect(text).not.toContain(token.split(".")[2]!);
    expect(text).not.toContain(token.split(".")[1]!);
  });

  it("health checks and unmatched paths are logged too, with no route", async () => {
    await gw("/healthz");
    await gw("/nowhere");
    expect(lines().map(({ line }) => [line["path"], line["route"], line["status"], line["code"]])).toEqual([
      ["/healthz", null, 200, null],
      ["/nowhere", null, 404, "not_found"],
    ]);
  });

  it("ACCESS_LOG=off writes nothing", async () => {
    const { key } = await seedKey("org_quiet");
    log.mockClear();
    const quiet = gatewayWith({ ACCESS_LOG: "off" });
    expect((await quiet.fetch("/v1/chat/agents", { headers: { "x-api-key": key } })).status).toBe(200);
    expect(lines()).toHaveLength(0);
  });
});

describe("accessLine (pure)", () => {
  it("cuts long paths and reads the location and sizes from what is at hand", () => {
    const request = new Request(`https://api.agntix.test/v1/chat/${"a".repeat(400)}?q=1`, { headers: { "content-length": "12" } });
    Object.defineProperty(request, "cf", { value: { colo: "CDG" } });
    const line = accessLine({
      request,
      response: new Response("{}", { status: 201, headers: { "content-length": "2" } }),
      requestId: "r1",
      route: { prefix: "/v1/chat" },
      principal: { orgId: "org_1", method: "api_key", subject: "key_1" },
      durationMs: 7,
    });
    expect(line.path).toHaveLength(257);
    expect(line.path.endsWith("…")).toBe(true);
    expect(line).toMatchObject({ status: 201, bytes_in: 12, bytes_out: 2, colo: "CDG", duration_ms: 7, code: null });
  });
});
