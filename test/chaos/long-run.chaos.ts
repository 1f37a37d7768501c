// The long chaos run behind `npm run chaos -- --seed N --ops 5000` (scripts/chaos.mjs passes its
// arguments as the CHAOS_ARGS binding). Prints the figures, a JSON report line, and on failure the
// seed with the shortest reproducing sequence found.
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import type { PlantedBug } from "./lib/faults";
import { generateProgram } from "./lib/program";
import { describeFailure, type RunOptions, runChaos, shrinkFailure, summarise } from "./lib/runner";

interface ChaosArgs {
  seed: number;
  ops: number;
  rate: number;
  clients: number;
  plant?: PlantedBug;
  only?: number[];
  shrink: boolean;
  budget: number;
  retentionMs?: number;
}

const args = JSON.parse((env as unknown as { CHAOS_ARGS: string }).CHAOS_ARGS) as ChaosArgs;

it(`chaos: seed ${args.seed}, ${args.ops} operations, ${args.rate * 100} % faults`, async () => {
  const only = args.only ? new Set(args.only) : undefined;
  const options: RunOptions = {
    seed: args.seed,
    ops: args.ops,
    clients: args.clients,
    faults: { rate: args.rate, ...(args.plant ? { planted: args.plant } : {}), ...(args.retentionMs ? { retentionMs: args.retentionMs } : {}) },
    compactBodies: true,
    ...(only ? { program: generateProgram(args.seed, args.ops, args.clients).filter((op) => only.has(op.index)) } : {}),
  };
  const report = await runChaos(options);
  console.log(summarise(report, 30));
  // Outcomes by kind of operation: a run whose operations were mostly refused proves little.
  const outcomes = new Map<string, number>(); // kind, status, code → count
  for (const op of report.history.ops) {
    const k = `${op.kind} ${op.status}${op.code ? ` ${op.code}` : ""}`;
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  }
  console.log("outcomes: " + JSON.stringify(Object.fromEntries([...outcomes].sort(([a], [b]) => a.localeCompare(b)))));
  console.log(
    "CHAOS_REPORT " +
      JSON.stringify({
        seed: report.seed,
        ops: report.program.length,
        rate: args.rate,
        clients: args.clients,
        plant: args.plant ?? null,
        operations: report.operations,
        requests: report.requests,
        duration_ms: report.durationMs,
        binding_calls: report.bindingCalls,
        faults_total: report.faultTotal,
        faults: report.faults,
        invariants: report.results.map((r) => ({ invariant: r.invariant, name: r.name, checks: r.checks, violations: r.violations.length })),
        violations: report.violations.slice(0, 50),
        log_lines: report.history.logs.length,
        outcomes: Object.fromEntries(outcomes),
      }),
  );
  // What happened to each key a violation names (first ten): its operations in invoke order.
  for (const v of report.violations.slice(0, 10)) {
    const id = /key_[A-Za-z0-9]{24}\b/.exec(v.message)?.[0];
    if (!id) continue;
    const ops = report.history.ops
      .filter(
        (op) =>
          op.keyId === id ||
          op.keyIds?.includes(id) ||
          op.minted?.some((m) => m.id === id || m.rotatedFrom === id) ||
          op.shown?.some((s) => s.id === id) ||
          (op.kind === "kill_switch" && report.history.ops.some((o) => o.minted?.some((m) => m.id === id && m.org === op.org))),
      )
      .sort((a, b) => a.invoke - b.invoke)
      // The first operations (how it began) and the last (how it ended), not the middle.
      .filter((_, i, all) => i < 10 || i >= all.length - 50)
      .map((op) => `    #${op.index} c${op.client} ${op.phase} ${op.kind} [${op.invoke}-${op.complete}] ${op.status} ${op.code ?? ""}${op.faults ? ` faults=${op.faults.join(",")}` : ""}${op.keyId && op.keyId !== id ? ` key=${op.keyId}` : ""}`);
    console.log(`  history of ${id}:\n${ops.join("\n")}`);
  }
  if (report.violations.length && args.shrink) {
    const { program: _program, ...rest } = options;
    console.log(describeFailure(report, await shrinkFailure(report, only ? options : rest, args.budget)));
  } else if (report.violations.length) {
    console.log(`seed ${report.seed} failed; shrink it with: npm run chaos -- --seed ${report.seed} --ops ${args.ops} --rate ${args.rate} --shrink`);
  }
  expect(report.violations).toEqual([]);
});
