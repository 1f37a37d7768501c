// Key management calls that read a key and write it back, racing a delete or a rotation. The
// interleaving is made explicit, not left to timing: the racing call goes through a KV binding
// that holds it right after it has read the key's record (`k:<id>`) until the test lets it go, and
// the other call runs to its answer in between.
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/audit/log";
import { resetKeyCaches } from "../../src/keys/cache";
import { hashKey } from "../../src/keys/hash";
import { KeyStore, kvFromBinding, orgPrefix } from "../../src/keys/store";
import { bindingsWith, callGateway, expectProblem, jsonInit, seedKey, serviceDeps } from "../helpers/keys";
import { makeLocation } from "../helpers/locations";
import type { Bindings } from "../../src/env";

const API = "/v1/chat/api-keys";
const gw = (path: string, init?: RequestInit) => exports.default.fetch(`https://api.agntix.test${path}`, init);
const as = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, "x-api-key": key } });
const store = () => new KeyStore(kvFromBinding(env.API_KEYS));

/** A KV binding that, once armed, holds the caller of one `get` (after the read) or `put` (before it) until released. */
function pausingKv(inner: KVNamespace = env.API_KEYS) {
  type Hold = { key: string; reached: () => void; release: Promise<void> };
  let armed: Hold | undefined;
  let armedPut: Hold | undefined;
  const arm = (key: string, set: (hold: Hold) => void) => {
    let reached!: () => void;
    let resume!: () => void;
    const reachedP = new Promise<void>((r) => (reached = r));
    const release = new Promise<void>((r) => (resume = r));
    set({ key, reached, release });
    return { reached: reachedP, resume };
  };
  const kv = {
    async get(key: unknown, options?: unknown) {
      const value = await (inner.get as (...a: unknown[]) => Promise<unknown>)(key, options);
      if (armed && key === armed.key) {
        const hold = armed;
        armed = undefined;
        hold.reached();
        await hold.release;
      }
      return value;
    },
    async put(key: unknown, ...rest: unknown[]) {
      if (armedPut && key === armedPut.key) {
        const hold = armedPut;
        armedPut = undefined;
        hold.reached();
        await hold.release;
      }
      return (inner.put as (...a: unknown[]) => Promise<unknown>)(key, ...rest);
    },
    delete: inner.delete.bind(inner),
    list: inner.list.bind(inner),
    getWithMetadata: inner.getWithMetadata.bind(inner),
  } as unknown as KVNamespace;
  return {
    kv,
    /** Arm: the next read of `key` is held; `reached` resolves once it is, `resume` lets it go. */
    holdAfterRead: (key: string) => arm(key, (hold) => (armed = hold)),
    /** Arm: the next write of `key` is held before it is made. */
    holdBeforePut: (key: string) => arm(key, (hold) => (armedPut = hold)),
  };
}

async function auditActions(adminKey: string, keyId: string): Promise<string[]> {
  const res = await gw(`${API}/audit?key_id=${keyId}`, as(adminKey));
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: AuditEntry[] }).data.map((e) => e.action);
}

async function listedIds(adminKey: string): Promise<string[]> {
  const res = await gw(`${API}?limit=100`, as(adminKey));
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { id: string }[] }).data.map((k) => k.id);
}

/** A key created through the API (so the audit log has its `key.created` row). */
async function createKeyAs(adminKey: string, name: string, scopes: string[]): Promise<{ id: string; key: string }> {
  const res = await gw(API, as(adminKey, jsonInit("POST", { name, scopes })));
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; key: string };
}

beforeEach(() => resetKeyCaches());

describe("read-modify-write calls racing a delete or rotation", () => {
  it("a PATCH held between its read and its write while a DELETE answers 204 does not bring the key back", async () => {
    const admin = await seedKey("org_race_del");
    const victim = await createKeyAs(admin.key, "leaked", ["api-keys:write", "chat:read"]);
    const paused = pausingKv();
    const hold = paused.holdAfterRead(`k:${victim.id}`);
    // The key edits itself (as in the review's reproduction), through the held KV binding.
    const patch = callGateway(bindingsWith(paused.kv), `${API}/${victim.id}`, as(victim.key, jsonInit("PATCH", { name: "n1", scopes: ["api-keys:write"] })));
    await hold.reached;

    const del = await gw(`${API}/${victim.id}`, as(admin.key, { method: "DELETE" }));
    expect(del.status).toBe(204);
    hold.resume();
    // The edit comes after the delete: the key is gone, and the edit says so.
    await expectProblem(await patch, 404, "key_not_found");

    // Nothing of the key is left in KV, so no later read (after the log's entries age out) finds it.
    const hash = await hashKey(victim.key, serviceDeps().pepper);
    expect(await env.API_KEYS.get(`h:${hash}`)).toBeNull();
    expect(await store().findById(victim.id)).toBeNull();
    resetKeyCaches();
    await expectProblem(await gw("/v1/chat", as(victim.key)), 401, "invalid_api_key");
    await expectProblem(await gw(`${API}/${victim.id}`, as(admin.key)), 404, "key_not_found");
    expect(await listedIds(admin.key)).not.toContain(victim.id);
    // The audit trail: created, deleted; the edit's row was taken back.
    expect(await auditActions(admin.key, victim.id)).toEqual(["key.deleted", "key.created"]);
  });

  it("a PATCH held while a grace-period rotation answers keeps the old key's end", async () => {
    const admin = await seedKey("org_race_grace");
    const old = await seedKey("org_race_grace", ["chat:read"], "worker");
    const paused = pausingKv();
    const hold = paused.holdAfterRead(`k:${old.id}`);
    const patch = callGateway(bindingsWith(paused.kv), `${API}/${old.id}`, as(admin.key, jsonInit("PATCH", { name: "renamed" })));
    await hold.reached;

    const rot = await gw(`${API}/${old.id}/rotate`, as(admin.key, jsonInit("POST", { grace_period_seconds: 3600 })));
    expect(rot.status).toBe(201);
    const rotated = (await rot.json()) as { id: string; old_key_expires_at: string };
    expect(rotated.old_key_expires_at).not.toBeNull();
    hold.resume();
    const res = await patch;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { expires_at: string | null }).expires_at).toBe(rotated.old_key_expires_at);

    const got = await gw(`${API}/${old.id}`, as(admin.key));
    expect(got.status).toBe(200);
    expect(((await got.json()) as { name: string; expires_at: string | null })).toMatchObject({ name: "renamed", expires_at: rotated.old_key_expires_at });
    const record = await store().findById(old.id);
    expect(record).toMatchObject({ expires_at: rotated.old_key_expires_at, expired_by: "rotation" });
    const hash = await hashKey(old.key, serviceDeps().pepper);
    expect(JSON.parse((await env.API_KEYS.get(`h:${hash}`))!)).toMatchObject({ expires_at: rotated.old_key_expires_at });
  });

  it("a rotation held after its read while a DELETE answers 204 is 404: no successor, and the key stays deleted", async () => {
    const admin = await seedKey("org_race_rot");
    const old = await createKeyAs(admin.key, "worker", ["chat:read"]);
    const paused = pausingKv();
    const hold = paused.holdAfterRead(`k:${old.id}`);
    const rotation = callGateway(bindingsWith(paused.kv), `${API}/${old.id}/rotate`, as(admin.key, jsonInit("POST", { grace_period_seconds: 3600 })));
    await hold.reached;

    expect((await gw(`${API}/${old.id}`, as(admin.key, { method: "DELETE" }))).status).toBe(204);
    hold.resume();
    await expectProblem(await rotation, 404, "key_not_found");

    const hash = await hashKey(old.key, serviceDeps().pepper);
    expect(await env.API_KEYS.get(`h:${hash}`)).toBeNull();
    expect(await store().findById(old.id)).toBeNull();
    resetKeyCaches();
    await expectProblem(await gw("/v1/chat", as(old.key)), 401, "invalid_api_key");
    await expectProblem(await gw(`${API}/${old.id}`, as(admin.key)), 404, "key_not_found");
    expect(await listedIds(admin.key)).toEqual([admin.id]);
    expect(await auditActions(admin.key, old.id)).toEqual(["key.deleted", "key.created"]);
  });

  it("a rotation whose check passed, held before retiring the old key while a DELETE answers 204, does not bring it back", async () => {
    const admin = await seedKey("org_race_retire");
    const old = await createKeyAs(admin.key, "worker", ["chat:read"]);
    const hash = await hashKey(old.key, serviceDeps().pepper);
    const paused = pausingKv();
    // The grace period's first write: the old key's verification entry, rewritten with its end.
    const hold = paused.holdBeforePut(`h:${hash}`);
    const rotation = callGateway(bindingsWith(paused.kv), `${API}/${old.id}/rotate`, as(admin.key, jsonInit("POST", { grace_period_seconds: 3600 })));
    await hold.reached;

    expect((await gw(`${API}/${old.id}`, as(admin.key, { method: "DELETE" }))).status).toBe(204);
    hold.resume();
    const res = await rotation;
    expect(res.status).toBe(201);
    const successor = (await res.json()) as { id: string; key: string };

    expect(await env.API_KEYS.get(`h:${hash}`)).toBeNull();
    expect(await store().findById(old.id)).toBeNull();
    resetKeyCaches();
    await expectProblem(await gw("/v1/chat", as(old.key)), 401, "invalid_api_key");
    await expectProblem(await gw(`${API}/${old.id}`, as(admin.key)), 404, "key_not_found");
    expect(await listedIds(admin.key)).not.toContain(old.id);
    expect((await gw("/v1/chat", as(successor.key))).status).toBe(200);
  });

  it("a PATCH held while an organisation kill switch's entry reaches the log deletes the key rather than writing it back", async () => {
    // The kill switch appends one `org` entry (every key created before it) before deleting the
    // organisation's keys from KV: the edit must end with the key deleted, as a delete's would.
    const target = await seedKey("org_race_kill", ["api-keys:write", "chat:read"], "worker");
    const paused = pausingKv();
    const hold = paused.holdAfterRead(`k:${target.id}`);
    const patch = callGateway(bindingsWith(paused.kv), `${API}/${target.id}`, as(target.key, jsonInit("PATCH", { name: "renamed" })));
    await hold.reached;
    await serviceDeps().revocations!.append([{ kind: "org", subject: "org_race_kill", not_after: Date.now(), reason: "org" }]);
    hold.resume();
    await expectProblem(await patch, 404, "key_not_found");
    expect(await store().findById(target.id)).toBeNull();
    expect(await env.API_KEYS.get(`h:${await hashKey(target.key, serviceDeps().pepper)}`)).toBeNull();
  });

  it("a PATCH held past a kill switch, whose check against the log fails once, does not leave the key listed but refused", async () => {
    // The chaos run's finding (seed 2026, third long run): the edit's write-back lands after the
    // kill switch's delete, the log cannot answer the edit's check, and the restore of the record
    // as read brought the key back whole (listed, refused by the log) until the sweep.
    const target = await seedKey("org_race_kill_down", ["api-keys:write", "chat:read"], "worker");
    const paused = pausingKv();
    const failures = { left: 1 };
    const real = env.REVOCATION_LOG;
    const log = {
      idFromName: (name: string) => real.idFromName(name),
      get: (id: DurableObjectId) => {
        const stub = real.get(id);
        return new Proxy(stub, {
          get: (t, prop) =>
            prop === "refusedFrom"
              ? (...args: unknown[]) =>
                  failures.left-- > 0
                    ? Promise.reject(new Error("Durable Object unreachable (test)"))
                    : (t.refusedFrom as (...a: unknown[]) => Promise<unknown>)(...args)
              : Reflect.get(t, prop),
        });
      },
    } as unknown as Bindings["REVOCATION_LOG"];
    const hold = paused.holdAfterRead(`k:${target.id}`);
    const patch = callGateway({ ...bindingsWith(paused.kv), REVOCATION_LOG: log }, `${API}/${target.id}`, as(target.key, jsonInit("PATCH", { name: "renamed" })));
    await hold.reached;
    const kill = await gw(`${API}/revoke-all`, as(target.key, jsonInit("POST", { org_id: "org_race_kill_down" })));
    expect(kill.status).toBe(200);
    expect(await store().findById(target.id)).toBeNull();
    hold.resume();
    await expectProblem(await patch, 503, "revocation_log_unavailable");
    expect(await store().findById(target.id)).toBeNull();
    expect(await env.API_KEYS.get(`h:${await hashKey(target.key, serviceDeps().pepper)}`)).toBeNull();
    expect((await env.API_KEYS.list({ prefix: orgPrefix("org_race_kill_down") })).keys).toEqual([]);
    expect(failures.left).toBeLessThan(0); // the log was asked again after its failure
  });

  it("a PATCH whose check against the log fails is 503 revocation_log_unavailable and leaves the key as it was", async () => {
    const location = await makeLocation("race-log-down");
    const admin = await seedKey("org_race_down");
    const target = await createKeyAs(admin.key, "before", ["chat:read"]);
    location.probe.mode = "throw";
    const res = await location.call(`${API}/${target.id}`, as(admin.key, jsonInit("PATCH", { name: "after" })));
    await expectProblem(res, 503, "revocation_log_unavailable");
    expect(await store().findById(target.id)).toMatchObject({ name: "before" });
    expect(await auditActions(admin.key, target.id)).toEqual(["key.created"]);
    expect((await gw("/v1/chat", as(target.key))).status).toBe(200);
  });
});
