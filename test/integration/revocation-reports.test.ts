// Revocations that need no management credential, or come from the operator CLI: the leaked-key
// endpoint (anyone holding a key may kill it; no oracle; capped; rate limited per IP), the
// organisation kill switch, and the CLI's signed path to the revocation log.
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Bindings } from "../../src/env";
import { getConfig } from "../../src/env";
import { resetKeyCaches } from "../../src/keys/cache";
import { type CliDeps, type KeysCommandLine, runKeysCommand } from "../../src/keys/cli";
import { generateKey } from "../../src/keys/format";
import { kvFromBinding } from "../../src/keys/store";
import { REVOCATION_LOG_NAME } from "../../src/revocation/durable-object";
import { OPERATOR_SIGNATURE_HEADER, operatorRevocationSink, operatorSignature } from "../../src/revocation/operator";
import { callGateway, expectProblem, jsonInit, seedKey } from "../helpers/keys";

const config = getConfig(env as unknown as Bindings);
const gw = (path: string, init?: RequestInit) => exports.default.fetch(`https://api.agntix.test${path}`, init);
const withKey = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, "x-api-key": key } });
let ipCounter = 0;
const freshIp = () => `198.51.100.${++ipCounter}`;
// Through callGateway, which waits for the work behind the response (the revocation itself).
const report = (keys: unknown, ip = freshIp()) =>
  callGateway(env as unknown as Bindings, "/v1/chat/api-keys/revoke", jsonInit("POST", { keys }, { "cf-connecting-ip": ip }));
const records = async () =>
  (await env.REVOCATION_LOG.get(env.REVOCATION_LOG.idFromName(REVOCATION_LOG_NAME)).records(0, 1000)) as Record<string, unknown>[];

beforeEach(() => resetKeyCaches());

describe("POST /v1/chat/api-keys/revoke (leaked keys)", () => {
  it("needs no credential, answers 202 {received} alike for live, unknown and malformed keys, and kills the live one", async () => {
    const live = await seedKey("org_leak");
    expect((await gw("/v1/chat/agents", withKey(live.key))).status).toBe(200);
    const answers = await Promise.all([
      report([live.key, generateKey("pk_test_"), "pk_test_nonsense", "pk_live_" + "A".repeat(36)]),
      report([generateKey("pk_test_"), generateKey("pk_test_"), "x", "y"]),
    ]);
    for (const res of answers) {
      expect(res.status).toBe(202);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(await res.json()).toEqual({ received: 4 });
    }
    const refused = await gw("/v1/chat/agents", withKey(live.key));
    await expectProblem(refused, 401, "invalid_api_key");
    const entry = (await records()).find((r) => r["key_id"] === live.id);
    expect(entry).toMatchObject({ kind: "key", reason: "leaked" });
    expect(JSON.stringify(await records())).not.toContain(live.key);
  });

  it("is recorded in the organisation's audit log as a deletion by a leaked-key report", async () => {
    const live = await seedKey("org_leak_audit");
    const admin = await seedKey("org_leak_audit");
    expect((await report([live.key])).status).toBe(202);
    const audit = (await (await gw(`/v1/chat/api-keys/audit?key_id=${live.id}`, withKey(admin.key))).json()) as { data: Record<string, unknown>[] };
    expect(audit.data[0]).toMatchObject({ action: "key.leak_revoked", actor: { method: "system", id: "leaked-key-report" }, detail: { reason: "leaked_key_report" } });
  });

  it.each([
    ["an empty list", { keys: [] }, "keys"],
    ["1,001 keys", { keys: Array.from({ length: 1001 }, () => "pk_test_x") }, "keys"],
    ["a non-string key", { keys: ["pk_test_x", 3] }, "keys[1]"],
    ["an unknown field", { keys: ["pk_test_x"], key: "pk_test_y" }, "key"],
  ])("refuses %s: 400 validation_failed", async (_, body, field) => {
    const res = await gw("/v1/chat/api-keys/revoke", jsonInit("POST", body, { "cf-connecting-ip": freshIp() }));
    const problem = await expectProblem(res, 400, "validation_failed");
    expect(problem["errors"]).toEqual([expect.objectContaining({ field })]);
  });

  it("answers a body of 6,000 unknown fields with a bounded problem: 10 field errors, the rest counted", async () => {
    const body: Record<string, unknown> = { keys: ["pk_test_x"], [`a${"x".repeat(300)}`]: 1 };
    for (let i = 0; i < 5999; i++) body[`k${i}`] = 1;
    const res = await gw("/v1/chat/api-keys/revoke", jsonInit("POST", body, { "cf-connecting-ip": freshIp() }));
    const problem = await expectProblem(res, 400, "validation_failed");
    const errors = problem["errors"] as { field: string }[];
    expect(errors).toHaveLength(10);
    expect(problem["errors_omitted"]).toBe(5990);
    expect(errors.every((e) => e.field.length <= 65)).toBe(true);
    expect(JSON.stringify(problem).length).toBeLessThan(4096);
  });

  it("accepts 1,000 keys; refuses bad JSON (400) and other methods (405 Allow: POST)", async () => {
    expect((await report(Array.from({ length: 1000 }, () => generateKey("pk_test_")))).status).toBe(202);
    await expectProblem(await gw("/v1/chat/api-keys/revoke", { method: "POST", headers: { "content-type": "application/json", "cf-connecting-ip": freshIp() }, body: "{" }), 400, "invalid_json");
    const get = await gw("/v1/chat/api-keys/revoke", { headers: { "cf-connecting-ip": freshIp() } });
    await expectProblem(get, 405, "method_not_allowed");
    expect(get.headers.get("allow")).toBe("POST");
  });

  it("is rate limited per client IP: the 11th report in a minute is 429 rate_limited with Retry-After; another IP is not", async () => {
    const ip = freshIp();
    for (let i = 0; i < 10; i++) expect((await report([generateKey("pk_test_")], ip)).status).toBe(202);
    const limited = await report([generateKey("pk_test_")], ip);
    expect(await expectProblem(limited, 429, "rate_limited")).toMatchObject({ limit: "leaked_key_reports", quota: 10, window_seconds: 60 });
    expect(limited.headers.get("retry-after")).toBe("60");
    expect(limited.headers.get("ratelimit-policy")).toBe('"leaked_key_reports";q=10;w=60');
    expect(limited.headers.get("ratelimit")).toBe('"leaked_key_reports";r=0;t=60');
    expect((await report([generateKey("pk_test_")])).status).toBe(202);
  });
});

describe("POST /v1/chat/api-keys/revoke-all (organisation kill switch)", () => {
  it("refuses every key of the organisation, not another's; a key created afterwards works", async () => {
    const admin = await seedKey("org_kill");
    const others = await Promise.all([seedKey("org_kill", ["chat:read"]), seedKey("org_kill", ["voice:*"])]);
    const bystander = await seedKey("org_kill_bystander");
    for (const k of [admin, ...others, bystander]) expect((await gw("/v1/chat/agents", withKey(k.key))).status).not.toBe(401);

    const res = await gw("/v1/chat/api-keys/revoke-all", withKey(admin.key, jsonInit("POST", { org_id: "org_kill" })));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ org_id: "org_kill", keys_deleted: 3, revoked_before: expect.any(String) });
    for (const k of [admin, ...others]) await expectProblem(await gw("/v1/chat/agents", withKey(k.key)), 401, "invalid_api_key");
    expect((await gw("/v1/chat/agents", withKey(bystander.key))).status).toBe(200);
    const after = await seedKey("org_kill");
    expect((await gw("/v1/chat/agents", withKey(after.key))).status).toBe(200);
    expect((await records()).some((r) => r["kind"] === "org" && r["subject"] === "org_kill" && r["reason"] === "org")).toBe(true);

    // Audited: one organisation row first (who, from where), then each key's deletion.
    const audit = (await (await gw("/v1/chat/api-keys/audit?limit=10", withKey(after.key))).json()) as { data: Record<string, unknown>[] };
    const org = audit.data.find((e) => e["action"] === "org.keys_revoked");
    expect(org).toMatchObject({ org_id: "org_kill", key_id: null, actor: { method: "api_key", id: admin.id }, request_id: res.headers.get("x-request-id") });
    expect(audit.data.filter((e) => e["action"] === "key.deleted").map((e) => e["key_id"]).sort()).toEqual([admin.id, ...others.map((k) => k.id)].sort());
  });

  it("an audit log that cannot be written stops it: 503 audit_unavailable, no key refused", async () => {
    const admin = await seedKey("org_kill_audit_down");
    const failingD1 = { prepare: () => { throw new Error("D1 down (test)"); }, batch: () => Promise.reject(new Error("D1 down (test)")) } as unknown as D1Database;
    const bindings = { ...(env as unknown as Bindings), AUDIT_DB: failingD1 };
    const res = await callGateway(bindings, "/v1/chat/api-keys/revoke-all", withKey(admin.key, jsonInit("POST", { org_id: "org_kill_audit_down" })));
    await expectProblem(res, 503, "audit_unavailable");
    expect((await records()).some((r) => r["kind"] === "org" && r["subject"] === "org_kill_audit_down")).toBe(false);
    expect((await gw("/v1/chat/agents", withKey(admin.key))).status).toBe(200);
  });

  it("must be confirmed with the caller's own org_id (400 otherwise, nothing revoked); other methods 405", async () => {
    const admin = await seedKey("org_kill_confirm");
    for (const body of [{}, { org_id: "org_other" }, { org_id: "org_kill_confirm", all: true }]) {
      await expectProblem(await gw("/v1/chat/api-keys/revoke-all", withKey(admin.key, jsonInit("POST", body))), 400, "validation_failed");
    }
    expect((await gw("/v1/chat/agents", withKey(admin.key))).status).toBe(200);
    await expectProblem(await gw("/v1/chat/api-keys/revoke-all", withKey(admin.key)), 405, "method_not_allowed");
  });

  it("needs api-keys:write", async () => {
    const reader = await seedKey("org_kill_scope", ["api-keys:read"]);
    await expectProblem(await gw("/v1/chat/api-keys/revoke-all", withKey(reader.key, jsonInit("POST", { org_id: "org_kill_scope" }))), 403, "insufficient_scope");
  });
});

describe("the operator CLI reaches the revocation log through the gateway", () => {
  const sink = operatorRevocationSink({ baseUrl: "https://api.agntix.test", pepper: config.apiKeys.pepper, operator: "alice", fetch: (url, init) => exports.default.fetch(url as string, init) });
  const cli = (overrides: Partial<CliDeps> = {}) => {
    const deps: CliDeps = { kv: kvFromBinding(env.API_KEYS), pepper: config.apiKeys.pepper, prefix: config.apiKeys.issuePrefix, target: "local", operator: "alice", revocations: sink, ...overrides };
    return (positionals: string[], values: KeysCommandLine["values"] = {}) => runKeysCommand({ positionals, values }, deps);
  };

  it("revoke <key value>: by the key itself, never printed back, recorded in the log as the operator's", async () => {
    const leaked = await seedKey("org_cli_leak");
    const result = await cli()(["revoke", leaked.key], { json: true });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ revoked: [leaked.id] });
    expect(result.stdout + result.stderr).not.toContain(leaked.key);
    await expectProblem(await gw("/v1/chat/agents", withKey(leaked.key)), 401, "invalid_api_key");
    expect((await records()).find((r) => r["key_id"] === leaked.id)).toMatchObject({ reason: "delete", actor: "operator:alice" });
    const unknown = await cli()(["revoke", generateKey("pk_test_")]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/key_not_found: No API key pk_test_\.\.\.\w{4} in local KV/);
  });

  it("revoke-all --org: the kill switch from the CLI", async () => {
    const keys = await Promise.all([seedKey("org_cli_kill"), seedKey("org_cli_kill")]);
    const result = await cli()(["revoke-all"], { org: "org_cli_kill", json: true });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ org_id: "org_cli_kill", keys_deleted: 2 });
    for (const k of keys) await expectProblem(await gw("/v1/chat/agents", withKey(k.key)), 401, "invalid_api_key");
  });

  it("a log it cannot reach fails the command with nothing changed", async () => {
    const key = await seedKey("org_cli_down");
    const down = operatorRevocationSink({ baseUrl: "https://api.agntix.test", pepper: "not-the-pepper-0123456789abcdef0123", operator: "alice", fetch: (url, init) => exports.default.fetch(url as string, init) });
    const result = await cli({ revocations: down })(["revoke", key.id]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/revocation_log_unavailable/);
    expect((await gw("/v1/chat/agents", withKey(key.key))).status).toBe(200);
  });

  it("the signed endpoint refuses a missing, wrong or stale signature (401) and takes a good one", async () => {
    const body = JSON.stringify({ operator: "alice", entries: [{ kind: "key", subject: "0".repeat(64), not_after: Date.now(), reason: "delete" }] });
    const post = (signature?: string) =>
      gw("/v1/chat/api-keys/revocations", { method: "POST", headers: { "content-type": "application/json", ...(signature ? { [OPERATOR_SIGNATURE_HEADER]: signature } : {}) }, body });
    await expectProblem(await post(), 401, "missing_credentials");
    const t = Date.now();
    await expectProblem(await post(`t=${t},v1=${"0".repeat(64)}`), 401, "missing_credentials");
    const stale = t - 10 * 60_000;
    await expectProblem(await post(`t=${stale},v1=${await operatorSignature(config.apiKeys.pepper, stale, body)}`), 401, "missing_credentials");
    const ok = await post(`t=${t},v1=${await operatorSignature(config.apiKeys.pepper, t, body)}`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ appended: 1 });
  });
});
