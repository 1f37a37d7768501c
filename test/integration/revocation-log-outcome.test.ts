// A revocation-log append whose answer is lost (the chaos run's finding 6): the log took the entry,
// the gateway heard a timeout. Never "half done": the gateway asks the log whether that append (by
// its id) landed; if it did, the call completes (204/201); if it did not, the id is fenced so the
// append can never land later, and the call is 503 with nothing changed; if even that cannot be
// learned, 503, and retrying the same call completes it. The log binding is wrapped per location
// (test/helpers/locations.ts) to apply-then-hang, to land late, or to fail the question.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { REVOCATION_LOG_NAME } from "../../src/revocation/durable-object";
import { expectProblem, jsonInit, seedKey } from "../helpers/keys";
import { type Location, makeLocation } from "../helpers/locations";

const withKey = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, "x-api-key": key } });
const SCOPES = ["chat:*", "agents:*", "api-keys:*"];

/** The log's entries for one key id (the real Durable Object). */
async function entriesFor(keyId: string): Promise<Record<string, unknown>[]> {
  const log = env.REVOCATION_LOG.get(env.REVOCATION_LOG.idFromName(REVOCATION_LOG_NAME));
  return ((await log.records(0, 1000)) as Record<string, unknown>[]).filter((r) => r["key_id"] === keyId);
}

/** A location whose log calls give up after 50 ms (the deployed timeout is 2 s). */
const location = (name: string) => makeLocation(name, { REVOCATION_LOG_TIMEOUT_MS: "50" });

describe("a revocation-log append whose answer is lost", { timeout: 30_000 }, () => {
  it("landed, then timed out: the DELETE completes (204), the key is gone from KV and refused, one log entry", async () => {
    const loc = await location("outcome-delete");
    const { key, id } = await seedKey("org_outcome_delete", SCOPES);
    const admin = await seedKey("org_outcome_delete", SCOPES);
    expect((await loc.call("/v1/chat/agents", withKey(key))).status).toBe(200);
    loc.probe.appendFault = "applied-then-hang";
    expect((await loc.call(`/v1/chat/api-keys/${id}`, withKey(admin.key, { method: "DELETE" }))).status).toBe(204);
    expect(loc.probe.outcome).toBeGreaterThan(0);
    loc.probe.appendFault = undefined;
    // Gone from KV (this location's KV stand-in would serve its stale copy for 60 s).
    expect(await env.API_KEYS.get(`k:${id}`)).toBeNull();
    await expectProblem(await loc.call("/v1/chat/agents", withKey(key)), 401, "invalid_api_key");
    expect((await entriesFor(id)).map((e) => e["reason"])).toEqual(["delete"]);
  });

  it("not landed, and arriving after the question: 503 with nothing changed, and the late append is refused by the log", async () => {
    const loc = await location("outcome-late");
    const { key, id } = await seedKey("org_outcome_late", SCOPES);
    const admin = await seedKey("org_outcome_late", SCOPES);
    loc.probe.appendFault = "late";
    const body = await expectProblem(await loc.call(`/v1/chat/api-keys/${id}`, withKey(admin.key, { method: "DELETE" })), 503, "revocation_log_unavailable");
    expect(body.detail).toMatch(/nothing was (changed|revoked)/i);
    expect(await loc.probe.late).toMatchObject({ refused: expect.any(String) });
    loc.probe.appendFault = undefined;
    expect(await entriesFor(id)).toEqual([]);
    expect((await loc.call(`/v1/chat/api-keys/${id}`, withKey(admin.key))).status).toBe(200);
    expect((await loc.call("/v1/chat/agents", withKey(key))).status).toBe(200);
  });

  it("landed, and the log cannot say so: 503 saying it may be recorded; the key is refused but still listed; retrying the DELETE completes it (204)", async () => {
    const loc = await location("outcome-unknown");
    const { key, id } = await seedKey("org_outcome_unknown", SCOPES);
    const admin = await seedKey("org_outcome_unknown", SCOPES);
    loc.probe.appendFault = "applied-then-hang";
    loc.probe.outcomeFails = true;
    const body = await expectProblem(await loc.call(`/v1/chat/api-keys/${id}`, withKey(admin.key, { method: "DELETE" })), 503, "revocation_log_unavailable");
    expect(body.detail).toMatch(/may .*recorded/i);
    expect(loc.probe.outcome).toBe(2); // asked, and asked once more
    loc.probe.appendFault = undefined;
    loc.probe.outcomeFails = false;
    // The state a caller may see until it retries: listed, and refused (the log has the entry).
    expect((await loc.call(`/v1/chat/api-keys/${id}`, withKey(admin.key))).status).toBe(200);
    await loc.feed.refresh({ force: true });
    await expectProblem(await loc.call("/v1/chat/agents", withKey(key)), 401, "invalid_api_key");
    // The retry finishes the KV delete.
    expect((await loc.call(`/v1/chat/api-keys/${id}`, withKey(admin.key, { method: "DELETE" }))).status).toBe(204);
    expect(await env.API_KEYS.get(`k:${id}`)).toBeNull();
  });

  it("a rotation whose append landed then timed out completes (201): the old key refused, the new one works, one successor", async () => {
    const loc = await location("outcome-rotate");
    const { key, id } = await seedKey("org_outcome_rotate", SCOPES);
    loc.probe.appendFault = "applied-then-hang";
    const res = await loc.call(`/v1/chat/api-keys/${id}/rotate`, withKey(key, jsonInit("POST", {})));
    expect(res.status).toBe(201);
    loc.probe.appendFault = undefined;
    const rotated = (await res.json()) as { id: string; key: string; old_id: string };
    expect(rotated.old_id).toBe(id);
    await expectProblem(await loc.call("/v1/chat/agents", withKey(key)), 401, "invalid_api_key");
    const list = (await (await loc.call("/v1/chat/api-keys", withKey(rotated.key))).json()) as { data: { id: string }[] };
    expect(list.data.map((k) => k.id)).toEqual([rotated.id]);
  });

  it("a rotation whose outcome cannot be learned is 503 with no new key; retrying the rotation completes it (201)", async () => {
    const loc = await location("outcome-rotate-unknown");
    const { key, id } = await seedKey("org_outcome_rotate_unknown", SCOPES);
    const admin = await seedKey("org_outcome_rotate_unknown", SCOPES);
    loc.probe.appendFault = "applied-then-hang";
    loc.probe.outcomeFails = true;
    await expectProblem(await loc.call(`/v1/chat/api-keys/${id}/rotate`, withKey(admin.key, jsonInit("POST", {}))), 503, "revocation_log_unavailable");
    loc.probe.appendFault = undefined;
    loc.probe.outcomeFails = false;
    const listed = (await (await loc.call("/v1/chat/api-keys", withKey(admin.key))).json()) as { data: { id: string }[] };
    expect(listed.data.map((k) => k.id).sort()).toEqual([admin.id, id].sort());
    const res = await loc.call(`/v1/chat/api-keys/${id}/rotate`, withKey(admin.key, jsonInit("POST", {})));
    const rotated = (await res.json()) as { id: string; key: string };
    expect(res.status, JSON.stringify(rotated)).toBe(201);
    expect((await loc.call("/v1/chat/agents", withKey(rotated.key))).status).toBe(200);
    await expectProblem(await loc.call("/v1/chat/agents", withKey(key)), 401, "invalid_api_key");
    expect(await env.API_KEYS.get(`k:${id}`)).toBeNull();
  });
});
