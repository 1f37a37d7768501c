/**
 * `npm run bench:summary -- a.json b.json c.json`: the median of several `npm run bench` runs, the
 * way the budgets are judged ("the median of three runs"): per scenario, the median over runs of
 * each run's figures (req/s, ratio to each floor, p50/p99, workerd CPU µs per request, the load
 * generator's CPU), the min–max of the ratio across runs, and each feature's on ÷ off. Reads the
 * JSON files `npm run bench` writes to bench/results/; prints Markdown.
 */
import { readFileSync } from "node:fs";
import { median, markdownTable } from "./lib/stats";

interface ScenarioJson {
  name: string;
  reqPerSec: number;
  ratio: number;
  passthroughRatio: number;
  p50Ms: number;
  p99Ms: number;
  workerdCpuUsPerRequest: number;
  clientCpuPercent: number;
  wrongStatuses: number;
}
interface FeatureCostJson {
  scenario: string;
  switchedOff: string;
  onOverOff: number;
  cpuUsOn: number;
  cpuUsOff: number;
}
interface FixedRateJson {
  name: string;
  offeredRate: number;
  achievedRate: number;
  addedP50OverCompliantMs: number;
  addedP99OverCompliantMs: number;
}
interface ColdStartJson {
  scenarios: { name: string; medianMs: number; p90Ms: number }[];
}
interface RunJson {
  startedAt: string;
  command: string;
  backgroundCpu: { medianPercent: number; maxPercent: number };
  scenarios: ScenarioJson[];
  featureCosts?: FeatureCostJson[];
  fixedRate?: FixedRateJson[];
  coldStart?: ColdStartJson;
}

const files = process.argv.slice(2).filter((a) => !a.startsWith("--"));
if (files.length === 0) {
  console.error("usage: npm run bench:summary -- bench/results/bench-A.json bench/results/bench-B.json …");
  process.exit(2);
}
const runs = files.map((f) => JSON.parse(readFileSync(f, "utf8")) as RunJson);
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "–");

console.log(`${runs.length} runs: ${runs.map((r) => r.startedAt).join(", ")}`);
console.log(`other processes, median of each run's median round: ${runs.map((r) => `${fmt(r.backgroundCpu.medianPercent)} %`).join(", ")} of a core\n`);

const names = [...new Set(runs.flatMap((r) => r.scenarios.map((s) => s.name)))];
const rows = names.map((name) => {
  const found = runs.flatMap((r) => r.scenarios.filter((s) => s.name === name));
  const pick = (f: (s: ScenarioJson) => number) => median(found.map(f));
  const ratios = found.map((s) => s.ratio);
  return [
    name,
    String(found.length),
    fmt(pick((s) => s.reqPerSec)),
    fmt(pick((s) => s.p50Ms), 2),
    fmt(pick((s) => s.p99Ms), 2),
    fmt(pick((s) => s.passthroughRatio), 2),
    `${fmt(median(ratios), 2)} (${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)})`,
    fmt(pick((s) => s.workerdCpuUsPerRequest)),
    fmt(pick((s) => s.clientCpuPercent)),
    String(found.reduce((n, s) => n + s.wrongStatuses, 0)),
  ];
});
console.log(
  markdownTable(
    ["scenario", "runs", "req/s", "p50 ms", "p99 ms", "÷ passthrough", "÷ compliant, median of runs (min–max)", "workerd CPU µs/req", "load gen CPU %", "wrong statuses"],
    rows,
    new Set([0]),
  ),
);

const costs = runs.flatMap((r) => r.featureCosts ?? []);
if (costs.length > 0) {
  const keys = [...new Set(costs.map((c) => `${c.scenario}|${c.switchedOff}`))];
  console.log(
    "\n" +
      markdownTable(
        ["scenario", "variant", "req/s on ÷ off, median of runs (min–max)", "workerd CPU µs/req on / off"],
        keys.map((k) => {
          const [scenario, off] = k.split("|") as [string, string];
          const found = costs.filter((c) => c.scenario === scenario && c.switchedOff === off);
          const ratios = found.map((c) => c.onOverOff);
          return [
            scenario,
            off,
            `${fmt(median(ratios), 2)} (${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)})`,
            `${fmt(median(found.map((c) => c.cpuUsOn)))} / ${fmt(median(found.map((c) => c.cpuUsOff)))}`,
          ];
        }),
        new Set([0, 1]),
      ),
  );
}

const fixed = runs.flatMap((r) => r.fixedRate ?? []);
if (fixed.length > 0) {
  const fixedNames = [...new Set(fixed.map((f) => f.name))];
  console.log(
    "\n" +
      markdownTable(
        ["at a fixed rate", "offered req/s", "achieved req/s", "added p50 / p99 over compliant, ms"],
        fixedNames.map((name) => {
          const found = fixed.filter((f) => f.name === name);
          return [
            name,
            fmt(median(found.map((f) => f.offeredRate))),
            fmt(median(found.map((f) => f.achievedRate))),
            `${fmt(median(found.map((f) => f.addedP50OverCompliantMs)), 2)} / ${fmt(median(found.map((f) => f.addedP99OverCompliantMs)), 2)}`,
          ];
        }),
        new Set([0]),
      ),
  );
}

const cold = runs.flatMap((r) => r.coldStart?.scenarios ?? []);
if (cold.length > 0) {
  const coldNames = [...new Set(cold.map((c) => c.name))];
  console.log(
    "\ncold start, median of each run's median (its p90): " +
      coldNames
        .map((name) => {
          const found = cold.filter((c) => c.name === name);
          return `${name} ${fmt(median(found.map((c) => c.medianMs)), 1)} ms (${fmt(median(found.map((c) => c.p90Ms)), 1)})`;
        })
        .join(", "),
  );
}
