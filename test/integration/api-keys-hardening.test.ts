// Issue 8, the key API: repeated rotation (#6), names that spoof (#7), JSON in another charset (#7),
// and the cap on keys per organisation (#10). Through the worker, with real KV.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Bindings } from "../../src/env";
import { callGateway, expectProblem, jsonInit, seedKey } from "../helpers/keys";

const API = "/v1/chat/api-keys";
const gw = (path: string, init?: RequestInit) => exports.default.fetch(`https://api.agntix.test${path}`, init);
const as = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, "x-api-key": key } });

interface Rotated {
  id: string;
  key: string;
  old_id: string;
  old_key_expires_at: string | null;
}

async function listIds(key: string): Promise<string[]> {
  const res = await gw(`${API}?limit=100`, as(key));
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { id: string }[] }).data.map((k) => k.id);
}

describe("a key that already has a successor cannot be rotated again (409 already_rotated)", () => {
  it("single rotation: the second rotation of the old key names the successor, and issues nothing", async () => {
    const admin = await seedKey("org_rotate_twice", ["*"], "admin");
    const target = await seedKey("org_rotate_twice", ["chat:write"], "target");
    const first = await gw(`${API}/${target.id}/rotate`, as(admin.key, jsonInit("POST", { grace_period_seconds: 3600 })));
    expect(first.status).toBe(201);
    const successor = (await first.json()) as Rotated;
    const before = await listIds(admin.key);

    for (const grace of [3600, 0]) {
      const again = await gw(`${API}/${target.id}/rotate`, as(admin.key, jsonInit("POST", { grace_period_seconds: grace })));
      const problem = await expectProblem(again, 409, "already_rotated");
      expect(problem["successor_id"]).toBe(successor.id);
      expect(String(problem["detail"])).toContain(successor.id);
    }
    expect(await listIds(admin.key)).toEqual(before);
    // The old key still works until its grace period ends; the successor can be rotated.
    expect((await gw("/v1/chat/messages", { headers: { "x-api-key": target.key } })).status).toBe(200);
    expect((await gw(`${API}/${successor.id}/rotate`, as(admin.key, jsonInit("POST", {})))).status).toBe(201);
  });

  it("bulk rotation twice: 409 with each key's successor, nothing rotated the second time", async () => {
    const admin = await seedKey("org_bulk_twice", ["*"], "admin");
    const a = await seedKey("org_bulk_twice", ["chat:read"], "a");
    const b = await seedKey("org_bulk_twice", ["voice:read"], "b");
    const first = await gw(`${API}/rotate`, as(admin.key, jsonInit("POST", { ids: [a.id, b.id], grace_period_seconds: 600 })));
    expect(first.status).toBe(200);
    const { data } = (await first.json()) as { data: Rotated[] };
    const before = await listIds(admin.key);

    const second = await gw(`${API}/rotate`, as(admin.key, jsonInit("POST", { ids: [a.id, b.id], grace_period_seconds: 600 })));
    const problem = await expectProblem(second, 409, "already_rotated");
    expect(problem["errors"]).toEqual([
      { field: "ids[0]", message: "was already rotated; rotate its successor instead", successor_id: data[0]!.id },
      { field: "ids[1]", message: "was already rotated; rotate its successor instead", successor_id: data[1]!.id },
    ]);
    expect(await listIds(admin.key)).toEqual(before);

    // One rotated and one fresh key in the same call: still all or nothing.
    const c = await seedKey("org_bulk_twice", ["chat:read"], "c");
    const mixed = await gw(`${API}/rotate`, as(admin.key, jsonInit("POST", { ids: [c.id, a.id] })));
    const mixedProblem = await expectProblem(mixed, 409, "already_rotated");
    expect(mixedProblem["errors"]).toEqual([{ field: "ids[1]", message: "was already rotated; rotate its successor instead", successor_id: data[0]!.id }]);
    expect((await gw(`${API}/${c.id}`, as(admin.key))).status).toBe(200);
  });

  it("a key rotated with no grace period is gone: rotating it again is 404", async () => {
    const admin = await seedKey("org_rotate_now", ["*"], "admin");
    const target = await seedKey("org_rotate_now", ["chat:read"], "target");
    expect((await gw(`${API}/${target.id}/rotate`, as(admin.key, jsonInit("POST", {})))).status).toBe(201);
    await expectProblem(await gw(`${API}/${target.id}/rotate`, as(admin.key, jsonInit("POST", {}))), 404, "key_not_found");
  });
});

describe("key names through the API (issue 8 #7)", () => {
  it.each([
    ["a right-to-left override", "invoice\u202Egpj.exe", "U+202E"],
    ["a zero-width space", "prod\u200Bkey", "U+200B"],
    ["a lone surrogate", "key\uD800", "U+D800"],
  ])("create with %s → 400 validation_failed naming the field", async (_label, name, found) => {
    const admin = await seedKey("org_names", ["*"], "admin");
    const res = await gw(API, as(admin.key, jsonInit("POST", { name, scopes: ["chat:read"] })));
    const problem = await expectProblem(res, 400, "validation_failed");
    expect(problem["errors"]).toEqual([{ field: "name", message: `must not contain control, format, surrogate or unassigned characters (found ${found})` }]);
  });

  it("an edit cannot bring one in either", async () => {
    const admin = await seedKey("org_names", ["*"], "admin");
    const res = await gw(`${API}/${admin.id}`, as(admin.key, jsonInit("PATCH", { name: "admin\u2066" })));
    const problem = await expectProblem(res, 400, "validation_failed");
    expect(problem["errors"]).toMatchObject([{ field: "name" }]);
  });

  it("letters of every script and emoji are kept as sent", async () => {
    const admin = await seedKey("org_names", ["*"], "admin");
    const name = "Clé 生产 مفتاح 👩‍💻 🇫🇷";
    const res = await gw(API, as(admin.key, jsonInit("POST", { name, scopes: ["chat:read"] })));
    expect(res.status).toBe(201);
    expect(((await res.json()) as { name: string }).name).toBe(name);
  });
});

describe("JSON bodies must be UTF-8 (415 otherwise)", () => {
  it.each(["iso-8859-1", "utf-16", '"windows-1252"', "latin1"])("charset=%s → 415 unsupported_media_type", async (charset) => {
    const admin = await seedKey("org_charset", ["*"], "admin");
    const res = await gw(API, as(admin.key, { method: "POST", headers: { "content-type": `application/json; charset=${charset}` }, body: '{"name":"x","scopes":["chat:read"]}' }));
    await expectProblem(res, 415, "unsupported_media_type");
    expect(res.headers.get("accept-post")).toBe("application/json; charset=utf-8");
  });

  it("Latin-1 bytes declared as such are refused as 415, not misread as UTF-8 (400)", async () => {
    const admin = await seedKey("org_charset", ["*"], "admin");
    const body = new Uint8Array([...new TextEncoder().encode('{"name":"caf'), 0xe9, ...new TextEncoder().encode('","scopes":["chat:read"]}')]);
    const res = await gw(API, as(admin.key, { method: "POST", headers: { "content-type": "application/json; charset=ISO-8859-1" }, body }));
    await expectProblem(res, 415, "unsupported_media_type");
  });

  it.each(["application/json; charset=utf-8", "application/json;charset=UTF-8", 'application/json; charset="utf-8"', "application/json"])(
    "%s is accepted",
    async (contentType) => {
      const admin = await seedKey("org_charset", ["*"], "admin");
      const res = await gw(API, as(admin.key, { method: "POST", headers: { "content-type": contentType }, body: '{"name":"x","scopes":["chat:read"]}' }));
      expect(res.status).toBe(201);
    },
  );
});

describe("keys per organisation are capped (API_KEY_LIMIT_PER_ORG; 3 here)", () => {
  const capped = { ...(env as unknown as Bindings), API_KEY_LIMIT_PER_ORG: "3" } as Bindings;
  const call = (key: string, path: string, init: RequestInit = {}) => callGateway(capped, path, as(key, init));

  it("the key past the cap is 409 key_limit_reached; rotation still works; deleting one makes room", async () => {
    const admin = await seedKey("org_capped", ["*"], "admin");
    const created: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await call(admin.key, API, jsonInit("POST", { name: `k${i}`, scopes: ["chat:read"] }));
      expect(res.status).toBe(201);
      created.push(((await res.json()) as { id: string }).id);
    }
    const over = await call(admin.key, API, jsonInit("POST", { name: "one too many", scopes: ["chat:read"] }));
    const problem = await expectProblem(over, 409, "key_limit_reached");
    expect(problem["limit"]).toBe(3);

    // Rotation replaces a key: never refused by the cap.
    expect((await call(admin.key, `${API}/${created[0]}/rotate`, jsonInit("POST", {}))).status).toBe(201);

    const [, second] = created;
    expect((await call(admin.key, `${API}/${second}`, { method: "DELETE" })).status).toBe(204);
    expect((await call(admin.key, API, jsonInit("POST", { name: "room again", scopes: ["chat:read"] }))).status).toBe(201);
  });

  it("other organisations are not affected by one organisation's keys", async () => {
    const other = await seedKey("org_capped_other", ["*"], "admin");
    expect((await call(other.key, API, jsonInit("POST", { name: "mine", scopes: ["chat:read"] }))).status).toBe(201);
  });

  it("the default is 1000, and a bad value fails closed", async () => {
    const { parseConfig } = await import("../../src/env");
    expect(parseConfig(env as unknown as Bindings).apiKeys.maxKeysPerOrg).toBe(1000);
    expect(() => parseConfig({ ...(env as unknown as Bindings), API_KEY_LIMIT_PER_ORG: "0" })).toThrow(/API_KEY_LIMIT_PER_ORG/);
  });
});
