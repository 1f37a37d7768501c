// The seeded parts of the chaos run are reproducible: the PRNG, the program, and each operation's faults.
import { describe, expect, it } from "vitest";
import { FaultCounts, FaultScope } from "./lib/faults";
import { generateProgram } from "./lib/program";
import { Random } from "./lib/prng";

const draws = (r: Random, n = 5) => Array.from({ length: n }, () => r.uint32());

describe("Random", () => {
  it("is a pure function of the seed and the stream path", () => {
    expect(draws(new Random(42, 1, 7))).toEqual(draws(new Random(42, 1, 7)));
    expect(draws(new Random(42, 1, 7))).not.toEqual(draws(new Random(42, 1, 8)));
    expect(draws(new Random(42))).not.toEqual(draws(new Random(43)));
  });
  it("draws floats in [0, 1) and integers in range, roughly uniformly", () => {
    const r = new Random(9);
    const buckets = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
      buckets[r.int(4)]!++;
    }
    for (const b of buckets) expect(b).toBeGreaterThan(850);
  });
});

describe("programs and faults", () => {
  it("the same seed gives the same program; another seed another", () => {
    expect(generateProgram(5, 200, 4)).toEqual(generateProgram(5, 200, 4));
    expect(generateProgram(5, 200, 4)).not.toEqual(generateProgram(6, 200, 4));
  });
  it("an operation meets the same faults whatever ran before it", () => {
    const decisions = (scope: FaultScope, op: number) => {
      scope.begin(op);
      return Array.from({ length: 50 }, () => scope.decide("kv", "get", ["throw", "hang", "slow"]) ?? "-");
    };
    const options = { rate: 0.3, hangMs: 1, slowMaxMs: 1 };
    const a = new FaultScope(1, 2000, options, new FaultCounts());
    const b = new FaultScope(1, 2000, options, new FaultCounts());
    decisions(b, 3); // b has served another operation first
    expect(decisions(a, 17)).toEqual(decisions(b, 17));
    expect(decisions(a, 17).filter((d) => d !== "-").length).toBeGreaterThan(5);
  });
  it("counts faults by kind, and a rate of 0 injects none", () => {
    const counts = new FaultCounts();
    const off = new FaultScope(1, 1, { rate: 0, hangMs: 1, slowMaxMs: 1 }, counts);
    for (let i = 0; i < 100; i++) expect(off.decide("kv", "put", ["throw"])).toBeUndefined();
    expect(counts.total).toBe(0);
    const on = new FaultScope(1, 1, { rate: 1, hangMs: 1, slowMaxMs: 1 }, counts);
    on.decide("kv", "put", ["throw"]);
    expect(counts.toJSON()).toEqual({ "kv.put.throw": 1 });
    expect(counts.calls).toBe(101);
  });
});
