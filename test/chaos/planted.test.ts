// Each invariant shown to catch a bug planted on purpose (docs/reliability.md): a test-only fault
// mode that breaks the system under test in one way, or (for the invariants whose bug cannot be
// planted through the bindings) a real recorded history altered in one place.
import { describe, expect, it } from "vitest";
import type { PlantedBug } from "./lib/faults";
import type { History } from "./lib/history";
import { checkAudit, checkNoLeaks, type InvariantId } from "./lib/invariants";
import type { ProgramOp } from "./lib/program";
import { CHECK_OPTIONS, describeProgram, type RunReport, runChaos, shrinkFailure } from "./lib/runner";

const OPS = 120;
const plantedRun = (planted: PlantedBug, seed = 7): Promise<RunReport> => runChaos({ seed, ops: OPS, faults: { rate: 0, planted } });
const violated = (report: RunReport, invariant: InvariantId) => report.violations.filter((v) => v.invariant === invariant);

describe("planted bugs are caught", () => {
  it("1: revocations silently lost (hash deletes and markers dropped, the next request on another isolate)", async () => {
    const report = await plantedRun("lose-revocation");
    expect(violated(report, 1).length).toBeGreaterThan(0);
    expect(violated(report, 1)[0]!.message).toMatch(/was accepted by op/);
  }, 30_000);

  // The kinds of revocation added with issues 9 and 11, each on a three-operation program.
  const op = (index: number, kind: ProgramOp["kind"]): ProgramOp => ({ index, client: 0, kind, pick: 0, pick2: 0.9, live: true, viaToken: false, grace: 0, count: 2, jwksMode: "up" });
  it.each([
    ["a leaked-key report", "leak_revoke", "use", /revoked as leaked by op 1\) was accepted by op 2/],
    ["the organisation kill switch", "kill_switch", "use", /revoked by the organisation kill switch by op 1\) was accepted by op 2/],
    ["a delete, then a WebSocket opened", "delete", "websocket", /deleted by op 1\) was accepted by op 2/],
  ] as const)("1: %s whose revocation is lost, then the key used", async (_what, revoke, use, message) => {
    const report = await runChaos({ seed: 9, ops: 3, program: [op(0, "create"), op(1, revoke), op(2, use)], faults: { rate: 0, planted: "lose-revocation" } });
    expect(violated(report, 1).map((v) => v.message)).toContainEqual(expect.stringMatching(message));
    // Without the plant, the same program keeps every invariant.
    expect((await runChaos({ seed: 9, ops: 3, program: [op(0, "create"), op(1, revoke), op(2, use)], faults: { rate: 0 } })).violations).toEqual([]);
  }, 30_000);

  it("2: index writes silently lost (keys that work but are never listed)", async () => {
    const report = await plantedRun("drop-index");
    expect(violated(report, 2).some((v) => v.message.includes("does not show"))).toBe(true);
  }, 30_000);

  it("4: one organisation's list reads another's index", async () => {
    const report = await plantedRun("cross-org-list");
    expect(violated(report, 4).some((v) => /showed key key_\w+ of org_/.test(v.message))).toBe(true);
  }, 30_000);

  it("4: the origin receives another organisation's id", async () => {
    const report = await plantedRun("wrong-identity");
    expect(violated(report, 4).some((v) => v.message.includes("the origin received org"))).toBe(true);
  }, 30_000);

  it("5: creates fail after writing their records, and their rollback is lost", async () => {
    const report = await plantedRun("no-rollback");
    expect(violated(report, 5).some((v) => /create op \d+ answered 503/.test(v.message))).toBe(true);
  }, 30_000);

  it("3 and 6: a real history altered in one place (a lost or invented audit record; a key echoed in a list, a 500)", async () => {
    const report = await runChaos({ seed: 8, ops: 60, faults: { rate: 0 } });
    expect(report.violations).toEqual([]);
    const h = report.history;
    // 3: the audit log as the run read it, then with one record lost and one invented.
    const audit = h.audit ?? [];
    expect(audit.length).toBeGreaterThan(2);
    expect(checkAudit(h).violations).toEqual([]);
    const lost = checkAudit({ ...h, audit: audit.slice(1) });
    expect(lost.violations).toHaveLength(1);
    const invented = checkAudit({ ...h, audit: [...audit, { ...audit[0]!, action: "key.deleted", keyId: "key_neverExisted000000000000" }] });
    expect(invented.violations.map((v) => v.message)).toEqual([expect.stringContaining("claims a change no operation made")]);

    // 6: a list response that carries a key minted elsewhere, and a use answered 500.
    const minted = h.ops.find((op) => op.minted?.length)!.minted![0]!.key;
    const list = h.ops.findIndex((op) => op.kind === "list" && op.status === 200);
    const use = h.ops.findIndex((op) => op.kind === "use");
    const altered: History = {
      ...h,
      ops: h.ops.map((op, i) => (i === list ? { ...op, body: op.body.replace('"data":[', `"data":[{"key":"${minted}"},`) } : i === use ? { ...op, status: 500 } : op)),
    };
    expect(checkNoLeaks(h, CHECK_OPTIONS).violations).toEqual([]);
    expect(checkNoLeaks(altered, CHECK_OPTIONS).violations.map((v) => v.message)).toEqual([
      expect.stringMatching(/status 500/),
      expect.stringMatching(/an API key/),
    ].sort(() => (list < use ? -1 : 1)));
  }, 30_000);
});

describe("shrinking", () => {
  it("cuts a failing run down to a short sequence that still fails, and says how to re-run it", async () => {
    const options = { seed: 7, ops: 80, faults: { rate: 0, planted: "lose-revocation" as const } };
    const report = await runChaos(options);
    expect(violated(report, 1).length).toBeGreaterThan(0);
    const shrunk = await shrinkFailure(report, options, 16);
    expect(shrunk.ops.length).toBeLessThan(report.program.length / 2);
    const rerun = await runChaos({ ...options, program: shrunk.ops });
    expect(violated(rerun, 1).length).toBeGreaterThan(0);
    expect(shrunk.command).toMatch(/^npm run chaos -- --seed 7 --ops 80 --rate 0 --plant lose-revocation --only [\d,]+$/);
    expect(describeProgram(shrunk.ops)).toMatch(/(delete|rotate)/);
  }, 60_000);
});
