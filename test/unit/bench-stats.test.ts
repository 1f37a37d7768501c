import { describe, expect, it } from "vitest";
import { judge, markdownTable, median, per1k, quantile, type ScenarioFigures } from "../../bench/lib/stats";

describe("quantile (nearest rank)", () => {
  it.each([
    { values: [], q: 0.5, expected: NaN },
    { values: [7], q: 0.99, expected: 7 },
    { values: [3, 1, 2], q: 0.5, expected: 2 },
    { values: [1, 2, 3, 4], q: 0.5, expected: 2 },
    { values: Array.from({ length: 100 }, (_, i) => i + 1), q: 0.99, expected: 99 },
    { values: Array.from({ length: 100 }, (_, i) => 100 - i), q: 0.5, expected: 50 },
    { values: [5, 1], q: 0, expected: 1 },
    { values: [5, 1], q: 1, expected: 5 },
  ])("q=$q of $values.length values → $expected", ({ values, q, expected }) => {
    expect(quantile(values, q)).toBe(expected);
  });
});

describe("median and per1k", () => {
  it.each([
    { values: [], expected: NaN },
    { values: [4], expected: 4 },
    { values: [9, 1, 5], expected: 5 },
    { values: [1, 2, 3, 10], expected: 2.5 },
  ])("median($values) = $expected", ({ values, expected }) => {
    expect(median(values)).toBe(expected);
  });

  it.each([
    { events: 0, requests: 0, expected: 0 },
    { events: 5, requests: 0, expected: 0 },
    { events: 1, requests: 1000, expected: 1 },
    { events: 3, requests: 1500, expected: 2 },
  ])("per1k($events, $requests) = $expected", ({ events, requests, expected }) => {
    expect(per1k(events, requests)).toBe(expected);
  });
});

describe("judge", () => {
  const figures = (overrides: Partial<ScenarioFigures> = {}): ScenarioFigures => ({
    name: "warm-key",
    reqPerSec: 1000,
    ratio: 0.95,
    wrongStatuses: 0,
    kvReadsPer1k: 0,
    jwksFetchesPer1k: 0,
    ...overrides,
  });
  const totals = { kvReads: 0, jwksFetches: 0 };

  it.each([
    { case: "no budget: only wrong statuses", f: figures(), t: totals, budget: {}, checks: ["wrong statuses"], ok: [true] },
    { case: "a wrong status fails", f: figures({ wrongStatuses: 1 }), t: totals, budget: {}, checks: ["wrong statuses"], ok: [false] },
    { case: "ratio at the limit passes", f: figures({ ratio: 0.9 }), t: totals, budget: { minRatio: 0.9 }, checks: ["wrong statuses", "ratio to compliant forwarder"], ok: [true, true] },
    { case: "ratio under the limit fails", f: figures({ ratio: 0.899 }), t: totals, budget: { minRatio: 0.9 }, checks: ["wrong statuses", "ratio to compliant forwarder"], ok: [true, false] },
    { case: "zero KV reads allowed, one made", f: figures(), t: { kvReads: 1, jwksFetches: 0 }, budget: { maxKvReads: 0 }, checks: ["wrong statuses", "KV reads (run total)"], ok: [true, false] },
    { case: "KV reads within the limit", f: figures(), t: { kvReads: 1000, jwksFetches: 0 }, budget: { maxKvReads: 1000 }, checks: ["wrong statuses", "KV reads (run total)"], ok: [true, true] },
    { case: "JWKS fetches over the limit", f: figures(), t: { kvReads: 0, jwksFetches: 3 }, budget: { maxJwksFetches: 2 }, checks: ["wrong statuses", "JWKS fetches (run total)"], ok: [true, false] },
  ])("$case", ({ f, t, budget, checks, ok }) => {
    const verdicts = judge(f, t, budget);
    expect(verdicts.map((v) => v.check)).toEqual(checks);
    expect(verdicts.map((v) => v.ok)).toEqual(ok);
    expect(verdicts.every((v) => v.scenario === "warm-key")).toBe(true);
  });
});

describe("markdownTable", () => {
  it("pads cells, right-aligns numbers and left-aligns the first and named columns", () => {
    expect(markdownTable(["name", "n", "note"], [["a", "10", "x"], ["bbb", "2", "yy"]], new Set([2]))).toBe(
      ["| name |  n | note |", "|------|---:|------|", "| a    | 10 | x    |", "| bbb  |  2 | yy   |"].join("\n"),
    );
  });
});
