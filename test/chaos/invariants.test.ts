// The invariant checkers on hand-made histories: each passes a correct history and names the
// operations of a wrong one. (The chaos runs and the planted bugs test them on real histories.)
import { describe, expect, it } from "vitest";
import type { History, OpRecord } from "./lib/history";
import { checkAudit, checkIsolation, checkListedMeansUsable, checkNoLeaks, checkNothingHalfDone, checkRevocation, type CheckOptions } from "./lib/invariants";

const ORG = "org_a";
const OTHER = "org_b";
const KEY = "pk_test_" + "A".repeat(36);
const options: CheckOptions = { revocationBoundMs: 0, knownCodes: new Set(["invalid_api_key", "key_store_unavailable", "key_not_found"]) };

let t = 0;
/** An operation at the next logical instants (invoke, complete) and wall times 10 ms apart. */
function op(fields: Partial<OpRecord> & Pick<OpRecord, "kind">): OpRecord {
  const invoke = ++t;
  const complete = ++t;
  return { index: invoke, client: 0, org: ORG, phase: "run", invoke, complete, startMs: invoke * 10, endMs: complete * 10, status: 200, body: "", headers: { "x-request-id": "r" }, ...fields };
}
const history = (ops: OpRecord[], extra: Partial<History> = {}): History => ({ seed: 1, ops, logs: [], secrets: ["pepper-secret-value"], internalMarkers: ["internal-marker"], ...extra });
const echo = (org = ORG, principal = "key_1") => ({ orgId: org, principalId: principal, method: "api_key", credentialForwarded: false });
const use = (keyId: string, accepted: boolean, fields: Partial<OpRecord> = {}) =>
  op({ kind: "use", keyId, status: accepted ? 200 : 401, ...(accepted ? { echo: echo(ORG, keyId) } : { code: "invalid_api_key" }), credential: { method: "api_key", org: ORG, subject: keyId }, ...fields });

describe("1. revoked keys stay revoked", () => {
  it("passes refusals after a delete and acceptances before it", () => {
    const h = history([use("key_1", true), op({ kind: "delete", keyId: "key_1", status: 204 }), use("key_1", false)]);
    expect(checkRevocation(h, options)).toMatchObject({ checks: 1, violations: [] });
  });
  it("catches a use accepted after a 2xx delete", () => {
    const del = op({ kind: "delete", keyId: "key_1", status: 204 });
    const late = use("key_1", true);
    expect(checkRevocation(history([del, late]), options).violations).toEqual([expect.objectContaining({ invariant: 1, ops: [del.index, late.index] })]);
  });
  it("ignores a use that began before the delete answered (concurrent), and a refused delete", () => {
    const del = op({ kind: "delete", keyId: "key_1", status: 204 });
    const concurrent = use("key_1", true, { invoke: del.invoke - 0.5 });
    const failed = op({ kind: "delete", keyId: "key_2", status: 503, code: "key_store_unavailable" });
    expect(checkRevocation(history([del, concurrent, failed, use("key_2", true)]), options).violations).toEqual([]);
  });
  it("catches a use after a grace period's end, and trusts a rotation that said it could not retire", () => {
    const rotate = op({ kind: "rotate", keyId: "key_1", status: 201, retired: [{ oldId: "key_1", newId: "key_2", grace: 1, oldExpiresAt: new Date(1000).toISOString() }] });
    const unretired = op({ kind: "rotate", keyId: "key_3", status: 201, retired: [{ oldId: "key_3", newId: "key_4", grace: 0, oldExpiresAt: null }] });
    const h = history([rotate, unretired, use("key_1", true, { startMs: 999 }), use("key_1", true, { startMs: 1000 }), use("key_3", true)]);
    expect(checkRevocation(h, options).violations.map((v) => v.message)).toEqual([expect.stringContaining("grace ended")]);
  });
});

describe("1. leaked-key reports and the organisation kill switch", () => {
  it("judge a report only when its work revoked the key, from when that work had finished", () => {
    const report = op({ kind: "leak_revoke", keyId: "key_1", status: 202, leakTookEffect: true });
    const late = use("key_1", true);
    expect(checkRevocation(history([report, late]), options).violations.map((v) => v.ops)).toEqual([[report.index, late.index]]);
    const noEffect = op({ kind: "leak_revoke", keyId: "key_2", status: 202, leakTookEffect: false });
    expect(checkRevocation(history([noEffect, use("key_2", true)]), options).violations).toEqual([]);
  });
  it("a 2xx kill switch ends every key minted before it was invoked, not one minted during it, nor another organisation's", () => {
    const minted = (id: string, org = ORG) => op({ kind: "create", status: 201, minted: [{ id, org, key: KEY, name: id }] });
    const before = minted("key_1");
    const other = minted("key_3", OTHER);
    const kill = op({ kind: "kill_switch", status: 200 });
    const during = op({ kind: "create", status: 201, invoke: kill.invoke + 0.5, minted: [{ id: "key_2", org: ORG, key: KEY, name: "key_2" }] });
    const h = history([before, other, kill, during, use("key_1", true), use("key_2", true), use("key_3", true)]);
    expect(checkRevocation(h, options).violations.map((v) => v.message)).toEqual([expect.stringMatching(/key_1 \(revoked by the organisation kill switch/)]);
  });
  it("a WebSocket opened (101) is an acceptance", () => {
    const del = op({ kind: "delete", keyId: "key_1", status: 204 });
    const socket = op({ kind: "websocket", keyId: "key_1", status: 101 });
    expect(checkRevocation(history([del, socket]), options).violations.map((v) => v.ops)).toEqual([[del.index, socket.index]]);
  });
});

describe("1. narrowed keys stay narrowed", () => {
  it("catches a use of a scope an earlier 2xx edit took away; not while another edit of the key is in doubt", () => {
    const narrow = op({ kind: "edit", keyId: "key_1", status: 200, scopes: ["voice:*"] });
    const chat = use("key_1", true, { needs: "chat:read" });
    expect(checkRevocation(history([narrow, chat]), options).violations.map((v) => v.ops)).toEqual([[narrow.index, chat.index]]);
    const voice = use("key_1", true, { needs: "voice:write" });
    expect(checkRevocation(history([narrow, voice]), options).violations).toEqual([]);
    const widenFailed = op({ kind: "edit", keyId: "key_1", status: 503, scopes: ["chat:*", "voice:*"] });
    expect(checkRevocation(history([narrow, widenFailed, use("key_1", true, { needs: "chat:read" })]), options).violations).toEqual([]);
  });
});

describe("2. no hidden keys, no ghosts", () => {
  const settledList = (ids: string[]) =>
    op({ kind: "list", phase: "settle", listComplete: true, shown: ids.map((id) => ({ id, name: id, expiresAt: null })) });
  const snapshot = (hash: string[], ids: { id: string; hashPresent: boolean }[]) => ({
    atMs: 0,
    hashEntries: hash.map((id) => ({ id, org: ORG, expiresAt: null })),
    idEntries: ids.map((e) => ({ ...e, org: ORG, expiresAt: null })),
  });
  it("passes when what works is exactly what is listed", () => {
    const h = history([settledList(["key_1"]), use("key_1", true, { phase: "settle" }), use("key_2", false, { phase: "settle" })], {
      snapshot: snapshot(["key_1"], [{ id: "key_1", hashPresent: true }]),
    });
    expect(checkListedMeansUsable(h)).toMatchObject({ violations: [] });
    expect(checkListedMeansUsable(h).checks).toBeGreaterThan(0);
  });
  it("catches a working key the list hides, a listed key that is refused, and a store entry no list shows", () => {
    const h = history([settledList(["key_2", "key_4"]), use("key_1", true, { phase: "settle" }), use("key_2", false, { phase: "settle" })], {
      snapshot: snapshot(["key_3"], [{ id: "key_4", hashPresent: false }]),
    });
    const messages = checkListedMeansUsable(h).violations.map((v) => v.message);
    expect(messages).toEqual([
      expect.stringContaining("key_1 works but"),
      expect.stringContaining("key_2 is listed (not expired) but refused"),
      expect.stringContaining("key_4 (key_4) is listed for org_a but cannot work"),
      expect.stringContaining("working hash entry for key key_3"),
    ]);
  });
});

describe("3. audit", () => {
  const create = op({ kind: "create", status: 201, minted: [{ id: "key_1", org: ORG, key: KEY, name: "n" }] });
  const row = (action: string, keyId: string | null, org = ORG) => ({ readBy: ORG, org, action, keyId });
  it("judges nothing without an audit log", () => {
    expect(checkAudit(history([create]))).toMatchObject({ checks: 0, violations: [] });
  });
  it("passes a change with its record; catches a missing record and a record of a change that did not happen", () => {
    expect(checkAudit(history([create], { audit: [row("key.created", "key_1")] })).violations).toEqual([]);
    expect(checkAudit(history([create], { audit: [] })).violations).toEqual([expect.objectContaining({ invariant: 3, ops: [create.index] })]);
    const refused = op({ kind: "delete", keyId: "key_1", status: 404, code: "key_not_found" });
    const claims = checkAudit(history([create, refused], { audit: [row("key.created", "key_1"), row("key.deleted", "key_1")] }));
    expect(claims.violations.map((v) => v.message)).toEqual([expect.stringContaining('"key.deleted key_1"')]);
  });
  it("a rotation needs both rows; a 5xx may leave rows only for what it did wholly", () => {
    const rotate = op({ kind: "rotate", keyId: "key_1", status: 201, retired: [{ oldId: "key_1", newId: "key_2", grace: 0, oldExpiresAt: "x" }] });
    expect(checkAudit(history([rotate], { audit: [row("key.rotated", "key_1")] })).violations.map((v) => v.message)).toEqual([expect.stringContaining("no key.created for key_2")]);
    const failed = op({ kind: "rotate", keyId: "key_3", status: 503, code: "key_store_unavailable" });
    const snapshot = { atMs: 0, hashEntries: [], idEntries: [{ id: "key_4", org: ORG, hashPresent: true, expiresAt: null }] };
    const rows = [row("key.rotated", "key_3"), row("key.created", "key_4"), row("key.created", "key_5")];
    expect(checkAudit(history([failed], { audit: rows, snapshot })).violations.map((v) => v.message)).toEqual([expect.stringContaining('"key.created key_5"')]);
  });
});

describe("4. isolation", () => {
  it("passes matching identity headers and own keys", () => {
    const h = history([
      op({ kind: "create", status: 201, minted: [{ id: "key_1", org: ORG, key: KEY, name: "n" }] }),
      use("key_1", true),
      op({ kind: "list", shown: [{ id: "key_1", name: "n", expiresAt: null }] }),
      op({ kind: "cross_org", keyId: "key_9", status: 404, code: "key_not_found" }),
    ]);
    expect(checkIsolation(h)).toMatchObject({ checks: 3, violations: [] });
  });
  it("catches another organisation's audit record and scopes never granted", () => {
    const h = history([use("key_1", true, { echo: { ...echo(ORG, "key_1"), scopes: "chat:read voice:read" }, grants: ["chat:read"] })], {
      audit: [{ readBy: ORG, org: OTHER, action: "key.created", keyId: "key_9" }],
    });
    expect(checkIsolation(h).violations.map((v) => v.message)).toEqual([expect.stringContaining("holds voice:read"), expect.stringContaining("audit log shows a record of org_b")]);
  });
  it("catches another org's id at the origin, a forwarded credential, another org's key listed, and a cross-org 2xx", () => {
    const h = history([
      op({ kind: "create", org: OTHER, status: 201, minted: [{ id: "key_9", org: OTHER, key: KEY, name: "n" }] }),
      use("key_1", true, { echo: echo(OTHER, "key_1") }),
      use("key_1", true, { echo: { ...echo(ORG, "key_1"), credentialForwarded: true } }),
      op({ kind: "list", shown: [{ id: "key_9", name: "n", expiresAt: null }] }),
      op({ kind: "cross_org", keyId: "key_9", status: 204 }),
    ]);
    expect(checkIsolation(h).violations.map((v) => v.message)).toEqual([
      expect.stringContaining("org org_b (expected org_a)"),
      expect.stringContaining("the caller's credential"),
      expect.stringContaining("showed key key_9 of org_b"),
      expect.stringContaining("acted on another organisation's key"),
    ]);
  });
});

describe("5. nothing half done", () => {
  const snapshot = (whole: string[]) => ({ atMs: 0, hashEntries: [], idEntries: whole.map((id) => ({ id, org: ORG, hashPresent: true, expiresAt: null })) });
  it("catches a key named by a refused create; allows a 5xx create that happened wholly", () => {
    const refused = op({ kind: "create", name: "n1", status: 400, code: "validation_failed" });
    const indeterminate = op({ kind: "create", name: "n2", status: 503, code: "key_store_unavailable" });
    const list = op({ kind: "list", shown: [{ id: "key_1", name: "n1", expiresAt: null }, { id: "key_2", name: "n2", expiresAt: null }] });
    expect(checkNothingHalfDone(history([refused, indeterminate, list], { snapshot: snapshot(["key_2"]) })).violations.map((v) => v.ops)).toEqual([[refused.index, list.index]]);
    expect(checkNothingHalfDone(history([indeterminate, list], { snapshot: snapshot([]) })).violations).toHaveLength(1);
  });
  it("catches a successor no rotation returned, but not one seen while the rotation ran", () => {
    const rotation = op({ kind: "rotate", keyId: "key_1", status: 503, code: "key_store_unavailable" });
    const during = op({ kind: "list", invoke: rotation.invoke + 0.5, shown: [{ id: "key_2", name: "n", expiresAt: null, rotatedFrom: "key_1" }] });
    expect(checkNothingHalfDone(history([rotation, during], { snapshot: snapshot([]) })).violations).toEqual([]);
    const after = op({ kind: "list", shown: [{ id: "key_2", name: "n", expiresAt: null, rotatedFrom: "key_1" }] });
    expect(checkNothingHalfDone(history([rotation, after], { snapshot: snapshot([]) })).violations).toHaveLength(1);
  });
  it("catches a key half deleted: listed, yet refused, after a refused delete", () => {
    const del = op({ kind: "delete", keyId: "key_1", status: 503, code: "key_store_unavailable" });
    const list = op({ kind: "list", shown: [{ id: "key_1", name: "n", expiresAt: null }] });
    expect(checkNothingHalfDone(history([del, list, use("key_1", false)])).violations).toHaveLength(1);
    expect(checkNothingHalfDone(history([del, list, use("key_1", true)])).violations).toEqual([]);
  });
  it("does not blame the delete for a refusal that a later leaked-key report or kill switch explains, nor a 503 that said so", () => {
    const del = op({ kind: "delete", keyId: "key_1", status: 503, code: "key_store_unavailable" });
    const list = op({ kind: "list", shown: [{ id: "key_1", name: "n", expiresAt: null }] });
    const report = op({ kind: "leak_revoke", keyId: "key_1", status: 202 });
    expect(checkNothingHalfDone(history([del, list, report, use("key_1", false)])).violations).toEqual([]);
    const kill = op({ kind: "kill_switch", status: 503, code: "revocation_log_unavailable" });
    expect(checkNothingHalfDone(history([del, list, kill, use("key_1", false)])).violations).toEqual([]);
    const unknown = op({ kind: "delete", keyId: "key_1", status: 503, code: "revocation_log_unavailable", body: '{"detail":"… the revocation may have been recorded …"}' });
    expect(checkNothingHalfDone(history([unknown, list, use("key_1", false)])).violations).toEqual([]);
  });
});

describe("6. no 500, no leak", () => {
  it("passes a create that shows its own key, and problem+json with documented codes", () => {
    const h = history([
      op({ kind: "create", status: 201, body: `{"key":"${KEY}"}`, minted: [{ id: "key_1", org: ORG, key: KEY, name: "n" }] }),
      op({ kind: "use", status: 401, code: "invalid_api_key", contentType: "application/problem+json", body: '{"code":"invalid_api_key"}' }),
    ]);
    expect(checkNoLeaks(h, options)).toMatchObject({ checks: 2, violations: [] });
  });
  it("catches a 500, an undocumented code, a missing request id, a key elsewhere, a token, a stack, a secret, an internal message, a log line", () => {
    const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
    const h = history(
      [
        op({ kind: "use", status: 500 }),
        op({ kind: "use", status: 400, contentType: "application/problem+json", code: "mystery" }),
        op({ kind: "use", status: 200, headers: {} }),
        op({ kind: "list", body: `{"data":[{"key":"${KEY}"}]}` }),
        op({ kind: "use", body: `{"auth":"${token}"}` }),
        op({ kind: "use", body: "Error: boom\n    at handler (src/index.ts:12:3)" }),
        op({ kind: "use", body: "pepper-secret-value" }),
        op({ kind: "use", status: 502, body: "failed: internal-marker" }),
      ],
      { logs: [`{"event":"x","key":"${KEY}"}`] },
    );
    expect(checkNoLeaks(h, options).violations.map((v) => v.message)).toEqual([
      expect.stringContaining("status 500"),
      expect.stringContaining("undocumented error code mystery"),
      expect.stringContaining("no x-request-id"),
      expect.stringContaining("an API key"),
      expect.stringContaining("a session token"),
      expect.stringContaining("a stack trace"),
      expect.stringContaining("a configured secret"),
      expect.stringContaining("an internal error message"),
      expect.stringContaining("a log line carries an API key"),
    ]);
  });
});
