// Pure arithmetic of the benchmark: percentiles, medians, per-1k rates and budget verdicts.

/** The q-quantile (0..1) of a sample by nearest rank; NaN for an empty sample. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** The median of a sample; NaN for an empty sample. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Events per 1,000 requests; 0 when there were no requests. */
export function per1k(events: number, requests: number): number {
  return requests > 0 ? (events * 1000) / requests : 0;
}

/** One scenario's figures, as reported. */
export interface ScenarioFigures {
  readonly name: string;
  readonly reqPerSec: number;
  /** Median over rounds of (this scenario's req/s ÷ the compliant forwarder's req/s in the same round). */
  readonly ratio: number;
  readonly wrongStatuses: number;
  readonly kvReadsPer1k: number;
  readonly jwksFetchesPer1k: number;
}

/** What a scenario must meet; every field is optional. */
export interface Budget {
  readonly minRatio?: number;
  /** Most KV reads over the whole run (e.g. distinct keys × negative-cache periods). */
  readonly maxKvReads?: number;
  /** Most JWKS fetches over the whole run. */
  readonly maxJwksFetches?: number;
}

/** One budget line's verdict. */
export interface Verdict {
  readonly scenario: string;
  readonly check: string;
  readonly limit: string;
  readonly actual: string;
  readonly ok: boolean;
}

/** Totals over every round of a scenario, for the absolute budgets. */
export interface ScenarioTotals {
  readonly kvReads: number;
  readonly jwksFetches: number;
}

/** Check one scenario against its budget; wrong statuses are always a failure. */
export function judge(figures: ScenarioFigures, totals: ScenarioTotals, budget: Budget): Verdict[] {
  const verdicts: Verdict[] = [
    {
      scenario: figures.name,
      check: "wrong statuses",
      limit: "0",
      actual: String(figures.wrongStatuses),
      ok: figures.wrongStatuses === 0,
    },
  ];
  if (budget.minRatio !== undefined) {
    verdicts.push({
      scenario: figures.name,
      check: "ratio to compliant forwarder",
      limit: `≥ ${budget.minRatio.toFixed(2)}`,
      actual: figures.ratio.toFixed(3),
      ok: figures.ratio >= budget.minRatio,
    });
  }
  if (budget.maxKvReads !== undefined) {
    verdicts.push({
      scenario: figures.name,
      check: "KV reads (run total)",
      limit: `≤ ${budget.maxKvReads}`,
      actual: String(totals.kvReads),
      ok: totals.kvReads <= budget.maxKvReads,
    });
  }
  if (budget.maxJwksFetches !== undefined) {
    verdicts.push({
      scenario: figures.name,
      check: "JWKS fetches (run total)",
      limit: `≤ ${budget.maxJwksFetches}`,
      actual: String(totals.jwksFetches),
      ok: totals.jwksFetches <= budget.maxJwksFetches,
    });
  }
  return verdicts;
}

/** Render rows as a Markdown table (also readable in a terminal); columns named in `left` are left-aligned, the first always is. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], left: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const isLeft = (i: number) => i === 0 || left.has(i);
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (isLeft(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (isLeft(i) ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}
