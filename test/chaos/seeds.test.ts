// Three fixed seeds of the chaos run (test/chaos/lib, docs/reliability.md): a few hundred
// operations each, from four concurrent clients, with faults injected into KV, the Cache API, the
// origins and the JWKS fetch. A failure prints the seed and the shortest sequence that reproduces it.
import { describe, expect, it } from "vitest";
import { describeFailure, type RunOptions, runChaos, shrinkFailure } from "./lib/runner";

/** Fixed seeds: change one only together with docs/reliability.md. */
export const FIXED_SEEDS = [1, 2, 3];
const OPS = 250;
const RATE = 0.08;

describe("chaos: fixed seeds", () => {
  for (const seed of FIXED_SEEDS) {
    it(`seed ${seed}: ${OPS} operations at a ${RATE * 100} % fault rate keep every invariant`, async () => {
      const options: RunOptions = { seed, ops: OPS, faults: { rate: RATE } };
      const report = await runChaos(options);
      if (report.violations.length) throw new Error(describeFailure(report, await shrinkFailure(report, options, 12)));
      expect(report.faultTotal).toBeGreaterThan(0);
      // An invariant that judged nothing proved nothing (3 has nothing to judge without an audit log).
      for (const result of report.results) if (result.invariant !== 3 || report.history.audit) expect(result.checks, result.name).toBeGreaterThan(0);
      expect(report.violations).toEqual([]);
    }, 180_000); // about 10 s each on a quiet machine; generous for a shared one
  }
});
