// API keys stay out of browsers: CORS never allows x-api-key, a key sent by a browser is refused
// 403 api_key_in_browser (pointing to session tokens), and only a key created with the explicit
// opt-in (`allow_browser: true`, shown on the record) passes.
import { exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { isBrowserRequest } from "../../src/auth/browser";
import { resetKeyCaches } from "../../src/keys/cache";
import { bearer, templateToken } from "../helpers/jwt";
import { expectProblem, jsonInit, seedKey } from "../helpers/keys";

const APP = "https://app.agntix.test";
const gw = (path: string, init?: RequestInit) => exports.default.fetch(`https://api.agntix.test${path}`, init);
const withKey = (key: string, headers: Record<string, string> = {}): RequestInit => ({ headers: { "x-api-key": key, ...headers } });

beforeEach(() => resetKeyCaches());

describe("isBrowserRequest", () => {
  it.each([
    [{ origin: APP }, true],
    [{ origin: "null" }, true],
    [{ "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors" }, true],
    [{ "sec-fetch-site": "same-origin" }, true],
    [{ "sec-fetch-site": "none", "sec-fetch-mode": "navigate" }, true],
    [{ "sec-fetch-mode": "navigate" }, true],
    // Node's fetch (undici) sends sec-fetch-mode: cors on every request: not a browser.
    [{ "sec-fetch-mode": "cors", "user-agent": "node" }, false],
    [{ "user-agent": "curl/8.5.0" }, false],
    [{}, false],
  ])("%j → %s", (headers, expected) => {
    expect(isBrowserRequest(new Headers(headers))).toBe(expected);
  });
});

describe("an API key sent by a browser", () => {
  it.each([
    ["an Origin header", { origin: APP }],
    ["an Origin the gateway does not list", { origin: "https://evil.example" }],
    ["Sec-Fetch-Site / Sec-Fetch-Mode of a browser fetch", { "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors" }],
    ["a navigation", { "sec-fetch-mode": "navigate", "sec-fetch-site": "none" }],
  ])("is refused 403 api_key_in_browser with %s, pointing to session tokens", async (_label, headers) => {
    const { key } = await seedKey("org_browser", ["*"]);
    const res = await gw("/v1/chat/agents", withKey(key, headers));
    const body = await expectProblem(res, 403, "api_key_in_browser");
    expect(body["detail"]).toContain('getToken({ template: "agntix" })');
    expect(body["detail"]).not.toContain(key);
    expect(res.headers.get("www-authenticate")).toBeNull();
  });

  it("the 403 still carries CORS headers for an allowed origin, so the page can read why", async () => {
    const { key } = await seedKey("org_browser", ["*"]);
    const res = await gw("/v1/chat/agents", withKey(key, { origin: APP }));
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
  });

  it("an invalid key from a browser is still 401 invalid_api_key (authentication first)", async () => {
    const res = await gw("/v1/chat/agents", withKey("pk_test_notarealkey", { origin: APP }));
    await expectProblem(res, 401, "invalid_api_key");
  });

  it("the same key from a server (no Origin, Node's sec-fetch-mode) passes", async () => {
    const { key } = await seedKey("org_browser", ["*"]);
    expect((await gw("/v1/chat/agents", withKey(key))).status).toBe(200);
    expect((await gw("/v1/chat/agents", withKey(key, { "sec-fetch-mode": "cors" }))).status).toBe(200);
  });

  it("a session or template token from the browser passes", async () => {
    const res = await gw("/v1/chat/agents", bearer(await templateToken(), { origin: APP, "sec-fetch-site": "cross-site" }));
    expect(res.status).toBe(200);
  });
});

describe("CORS never lets a page send x-api-key", () => {
  it("a preflight asking for x-api-key is not allowed", async () => {
    const res = await gw("/v1/chat/agents", {
      method: "OPTIONS",
      headers: { origin: APP, "access-control-request-method": "GET", "access-control-request-headers": "x-api-key" },
    });
    const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/\s*,\s*/);
    expect(allowed).not.toContain("x-api-key");
    expect(allowed).toContain("authorization");
  });
});

describe("the browser opt-in (allow_browser)", () => {
  async function createViaApi(body: Record<string, unknown>): Promise<{ id: string; key: string; allow_browser: boolean }> {
    const { key: admin } = await seedKey("org_optin", ["*"]);
    const res = await gw("/v1/chat/api-keys", jsonInit("POST", body, { "x-api-key": admin }));
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; key: string; allow_browser: boolean };
  }

  it("a key created with allow_browser: true works from a browser, and its record says so", async () => {
    const created = await createViaApi({ name: "local tool", scopes: ["read-only"], allow_browser: true });
    expect(created.allow_browser).toBe(true);
    const res = await gw("/v1/chat/agents", withKey(created.key, { origin: "http://localhost:5173", "sec-fetch-site": "cross-site" }));
    expect(res.status).toBe(200);

    const { key: reader } = await seedKey("org_optin", ["api-keys:read"]);
    const got = (await (await gw(`/v1/chat/api-keys/${created.id}`, withKey(reader))).json()) as { allow_browser: boolean };
    expect(got.allow_browser).toBe(true);
    const listed = (await (await gw("/v1/chat/api-keys?limit=100", withKey(reader))).json()) as { data: { id: string; allow_browser: boolean }[] };
    expect(listed.data.find((k) => k.id === created.id)?.allow_browser).toBe(true);
  });

  it("a key created without it shows allow_browser: false and is refused from a browser", async () => {
    const created = await createViaApi({ name: "server", scopes: ["read-only"] });
    expect(created.allow_browser).toBe(false);
    await expectProblem(await gw("/v1/chat/agents", withKey(created.key, { origin: APP })), 403, "api_key_in_browser");
  });

  it("rotation keeps the opt-in", async () => {
    const created = await createViaApi({ name: "local tool", scopes: ["read-only"], allow_browser: true });
    const { key: admin } = await seedKey("org_optin", ["*"]);
    const res = await gw(`/v1/chat/api-keys/${created.id}/rotate`, { method: "POST", headers: { "x-api-key": admin } });
    expect(res.status).toBe(201);
    const rotated = (await res.json()) as { key: string; allow_browser: boolean };
    expect(rotated.allow_browser).toBe(true);
    expect((await gw("/v1/chat/agents", withKey(rotated.key, { origin: APP }))).status).toBe(200);
  });

  it("allow_browser must be a boolean", async () => {
    const { key: admin } = await seedKey("org_optin", ["*"]);
    const body = { name: "k", scopes: ["*"], allow_browser: "yes" };
    const res = await gw("/v1/chat/api-keys", jsonInit("POST", body, { "x-api-key": admin }));
    const problem = await expectProblem(res, 400, "validation_failed");
    expect(problem["errors"]).toEqual([{ field: "allow_browser", message: "must be true or false" }]);
  });
});
