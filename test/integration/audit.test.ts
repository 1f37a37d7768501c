// The audit log of key management (D1): a row for every event with every field, written before
// the call answers; an audit log that cannot be written stops the change (503, nothing changed);
// the audit API (newest first, per key, paged, own organisation only); the 180-day purge by cron.
import { createScheduledController } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { AUDIT_RETENTION_MS, type AuditEntry, auditRows } from "../../src/audit/log";
import { AuditStore } from "../../src/audit/store";
import type { Bindings } from "../../src/env";
import worker from "../../src/index";
import { resetKeyCaches } from "../../src/keys/cache";
import { countingD1 } from "../helpers/d1";
import { bindingsWith, callGateway, countingKv, expectProblem, jsonInit, seedKey } from "../helpers/keys";

const API = "/v1/chat/api-keys";
const gw = (path: string, init?: RequestInit) => exports.default.fetch(`https://api.agntix.test${path}`, init);
const CLIENT = { "cf-connecting-ip": "203.0.113.9", "user-agent": "audit-test/1.0" };
const as = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...CLIENT, ...init.headers, "x-api-key": key } });

interface Page {
  data: AuditEntry[];
  next_cursor: string | null;
}
async function audit(key: string, query = ""): Promise<Page> {
  const res = await gw(`${API}/audit${query}`, as(key));
  expect(res.status).toBe(200);
  expect(res.headers.get("cache-control")).toBe("no-store");
  return (await res.json()) as Page;
}

/** Every field an entry must carry, for `action` by `actor` on `keyId`, from the response `res`. */
function expectEntry(entry: AuditEntry | undefined, expected: { action: string; org: string; keyId: string | null; actor: string; res: Response }): void {
  expect(entry).toMatchObject({
    action: expected.action,
    org_id: expected.org,
    key_id: expected.keyId,
    actor: { method: "api_key", id: expected.actor },
    request_id: expected.res.headers.get("x-request-id"),
    client_ip: "203.0.113.9",
    user_agent: "audit-test/1.0",
  });
  expect(entry!.id).toMatch(/^aud_[0-9A-Za-z]{24}$/);
  expect(Date.now() - Date.parse(entry!.at)).toBeLessThan(3600_000);
}

beforeEach(() => resetKeyCaches());

describe("a row for every event, with every field", () => {
  it("create, edit (before/after), rotate, bulk rotate, delete and a refused escalation", async () => {
    const admin = await seedKey("org_audit", ["*"]);

    const created = await gw(API, as(admin.key, jsonInit("POST", { name: "bot", scopes: ["chat:*"], metadata: { team: "a" } })));
    const key = (await created.json()) as { id: string };
    let rows = (await audit(admin.key, `?key_id=${key.id}`)).data;
    expect(rows).toHaveLength(1);
    expectEntry(rows[0], { action: "key.created", org: "org_audit", keyId: key.id, actor: admin.id, res: created });
    expect(rows[0]!.after).toMatchObject({ name: "bot", scopes: ["chat:*"], metadata: { team: "a" }, expires_at: null });
    expect(rows[0]!.before).toBeNull();

    const edited = await gw(`${API}/${key.id}`, as(admin.key, jsonInit("PATCH", { name: "bot 2", scopes: ["chat:read"] })));
    expect(edited.status).toBe(200);
    rows = (await audit(admin.key, `?key_id=${key.id}`)).data;
    expectEntry(rows[0], { action: "key.updated", org: "org_audit", keyId: key.id, actor: admin.id, res: edited });
    expect(rows[0]!.before).toEqual({ name: "bot", scopes: ["chat:*"], metadata: { team: "a" } });
    expect(rows[0]!.after).toEqual({ name: "bot 2", scopes: ["chat:read"], metadata: { team: "a" } });

    const weak = await seedKey("org_audit", ["api-keys:write"]);
    const refused = await gw(`${API}/${key.id}`, as(weak.key, jsonInit("PATCH", { scopes: ["chat:*"] })));
    await expectProblem(refused, 403, "scope_escalation");
    rows = (await audit(admin.key, `?key_id=${key.id}`)).data;
    expectEntry(rows[0], { action: "key.escalation_refused", org: "org_audit", keyId: key.id, actor: weak.id, res: refused });
    expect(rows[0]!.detail).toEqual({ operation: "update", requested_scopes: ["chat:*"], missing_scopes: ["chat:write"] });
    const refusedCreate = await gw(API, as(weak.key, jsonInit("POST", { name: "x", scopes: ["voice:read"] })));
    await expectProblem(refusedCreate, 403, "scope_escalation");
    const latest = (await audit(admin.key, "?limit=1")).data[0];
    expectEntry(latest, { action: "key.escalation_refused", org: "org_audit", keyId: null, actor: weak.id, res: refusedCreate });
    expect(latest!.detail).toMatchObject({ operation: "create", missing_scopes: ["voice:read"] });

    const rotated = await gw(`${API}/${key.id}/rotate`, as(admin.key, jsonInit("POST", { grace_period_seconds: 60 })));
    const successor = (await rotated.json()) as { id: string };
    rows = (await audit(admin.key, `?key_id=${key.id}`)).data;
    expectEntry(rows[0], { action: "key.rotated", org: "org_audit", keyId: key.id, actor: admin.id, res: rotated });
    expect(rows[0]!.detail).toEqual({ new_key_id: successor.id, grace_period_seconds: 60 });
    rows = (await audit(admin.key, `?key_id=${successor.id}`)).data;
    expectEntry(rows[0], { action: "key.created", org: "org_audit", keyId: successor.id, actor: admin.id, res: rotated });
    expect(rows[0]!.detail).toEqual({ rotated_from: key.id });

    const other = await seedKey("org_audit", ["chat:read"]);
    const bulk = await gw(`${API}/rotate`, as(admin.key, jsonInit("POST", { ids: [successor.id, other.id] })));
    expect(bulk.status).toBe(200);
    for (const id of [successor.id, other.id]) {
      rows = (await audit(admin.key, `?key_id=${id}`)).data;
      expectEntry(rows[0], { action: "key.bulk_rotated", org: "org_audit", keyId: id, actor: admin.id, res: bulk });
    }

    const victim = await seedKey("org_audit", ["chat:read"], "to delete");
    const deleted = await gw(`${API}/${victim.id}`, as(admin.key, { method: "DELETE" }));
    expect(deleted.status).toBe(204);
    rows = (await audit(admin.key, `?key_id=${victim.id}`)).data;
    expectEntry(rows[0], { action: "key.deleted", org: "org_audit", keyId: victim.id, actor: admin.id, res: deleted });
    expect(rows[0]!.before).toMatchObject({ name: "to delete", scopes: ["chat:read"] });

    // Nothing secret in any row.
    const everything = JSON.stringify((await audit(admin.key, "?limit=200")).data);
    expect(everything).not.toMatch(/pk_test_[0-9A-Za-z]{36}/);
  });
});

describe("GET /v1/chat/api-keys/audit", () => {
  it("is newest first and pages with an opaque cursor", async () => {
    const admin = await seedKey("org_audit_page", ["*"]);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await gw(API, as(admin.key, jsonInit("POST", { name: `k${i}`, scopes: ["chat:read"] })));
      ids.push(((await res.json()) as { id: string }).id);
    }
    const first = await audit(admin.key, "?limit=2");
    expect(first.data.map((e) => e.key_id)).toEqual([ids[4], ids[3]]);
    const second = await audit(admin.key, `?limit=2&cursor=${first.next_cursor}`);
    expect(second.data.map((e) => e.key_id)).toEqual([ids[2], ids[1]]);
    const third = await audit(admin.key, `?limit=2&cursor=${second.next_cursor}`);
    expect(third.data.map((e) => e.key_id)).toEqual([ids[0]]);
    expect(third.next_cursor).toBeNull();
  });

  it("shows only the caller's organisation, needs api-keys:read, and refuses bad parameters", async () => {
    const mine = await seedKey("org_audit_a", ["*"]);
    const theirs = await seedKey("org_audit_b", ["*"]);
    await gw(API, as(theirs.key, jsonInit("POST", { name: "theirs", scopes: ["chat:read"] })));
    expect((await audit(mine.key)).data).toEqual([]);
    expect((await audit(theirs.key)).data).toHaveLength(1);

    const chatOnly = await seedKey("org_audit_a", ["chat:*"]);
    const res = await gw(`${API}/audit`, as(chatOnly.key));
    expect((await expectProblem(res, 403, "insufficient_scope"))["required_scopes"]).toEqual(["api-keys:read"]);
    const reader = await seedKey("org_audit_a", ["api-keys:read"]);
    expect((await gw(`${API}/audit`, as(reader.key))).status).toBe(200);

    for (const [query, field] of [["?key_id=nope", "key_id"], ["?cursor=%21%21", "cursor"], ["?cursor=abc", "cursor"], ["?limit=0", "limit"], ["?limit=201", "limit"]]) {
      const bad = await gw(`${API}/audit${query}`, as(mine.key));
      expect(((await expectProblem(bad, 400, "validation_failed"))["errors"] as { field: string }[])[0]!.field).toBe(field);
    }
    const post = await gw(`${API}/audit`, as(mine.key, { method: "POST" }));
    await expectProblem(post, 405, "method_not_allowed");
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });
});

describe("an audit log that cannot be written", () => {
  it("makes every change 503 audit_unavailable and leaves the key exactly as it was", async () => {
    const admin = await seedKey("org_audit_down", ["*"]);
    const target = await seedKey("org_audit_down", ["chat:*"], "unchanged");
    const { db, fail } = countingD1();
    const bindings: Bindings = { ...bindingsWith(env.API_KEYS), AUDIT_DB: db };
    fail(true);
    for (const [path, init] of [
      [API, jsonInit("POST", { name: "x", scopes: ["chat:read"] })],
      [`${API}/${target.id}`, jsonInit("PATCH", { name: "changed", scopes: ["chat:read"] })],
      [`${API}/${target.id}`, { method: "DELETE" }],
      [`${API}/${target.id}/rotate`, { method: "POST" }],
      [`${API}/rotate`, jsonInit("POST", { ids: [target.id] })],
    ] as const) {
      const res = await callGateway(bindings, path, as(admin.key, init));
      const body = await expectProblem(res, 503, "audit_unavailable");
      expect(JSON.stringify(body)).not.toContain("D1 is down");
    }
    const listed = (await (await gw(API, as(admin.key))).json()) as { data: { id: string; name: string; scopes: string[] }[] };
    expect(listed.data.map((k) => k.id).sort()).toEqual([admin.id, target.id].sort());
    expect(listed.data.find((k) => k.id === target.id)).toMatchObject({ name: "unchanged", scopes: ["chat:*"] });
    expect((await gw("/v1/chat", as(target.key, { method: "POST" }))).status).toBe(200);
    // Reading is not a change: the key list still answers while the audit log is down.
    expect((await callGateway(bindings, API, as(admin.key))).status).toBe(200);
  });

  it("a change that fails after its row was written takes the row back", async () => {
    const admin = await seedKey("org_audit_kv", ["*"]);
    const { kv, fail } = countingKv();
    const bindings = bindingsWith(kv);
    expect((await callGateway(bindings, API, as(admin.key))).status).toBe(200); // warm
    fail(true);
    await expectProblem(await callGateway(bindings, API, as(admin.key, jsonInit("POST", { name: "x", scopes: ["chat:read"] }))), 503, "key_store_unavailable");
    fail(false);
    expect((await audit(admin.key)).data).toEqual([]);
  });
});

describe("retention", () => {
  it("the Cron Trigger purges rows older than 180 days and keeps the rest", async () => {
    const store = new AuditStore(env.AUDIT_DB);
    const now = Date.now();
    const actor = { method: "system" as const, id: "test" };
    const request = { requestId: null, clientIp: null, userAgent: null };
    const event = { action: "key.deleted" as const, orgId: "org_retention", keyId: null };
    const old = auditRows([event, event], actor, request, now - AUDIT_RETENTION_MS - 1);
    const kept = auditRows([event], actor, request, now - AUDIT_RETENTION_MS + 60_000);
    await store.insert([...old, ...kept]);
    expect(await store.page("org_retention", { limit: 10 })).toHaveLength(3);

    await worker.scheduled(createScheduledController({ scheduledTime: now, cron: "17 3 * * *" }), env as unknown as Bindings);
    expect((await store.page("org_retention", { limit: 10 })).map((r) => r.id)).toEqual(kept.map((r) => r.id));
  });
});
