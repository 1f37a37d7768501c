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
}

const args = JSON.parse((env as unknown as { CHAOS_ARGS: string }).CHAOS_ARGS) as ChaosArgs;

it(`chaos: seed ${args.seed}, ${args.ops} operations, ${args.rate * 100} % faults`, async () => {
  const only = args.only ? new Set(args.only) : undefined;
  const options: RunOptions = {
    seed: args.seed,
    ops: args.ops,
    clients: args.clients,
    faults: { rate: args.rate, ...(args.plant ? { planted: args.plant } : {}) },
    compactBodies: true,
    ...(only ? { program: generateProgram(args.seed, args.ops, args.clients).filter((op) => only.has(op.index)) } : {}),
  };
  const report = await runChaos(options);
  console.log(summarise(report, 30));
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
      }),
  );
  if (report.violations.length && args.shrink) {
    const { program: _program, ...rest } = options;
    console.log(describeFailure(report, await shrinkFailure(report, only ? options : rest, args.budget)));
  } else if (report.violations.length) {
    console.log(`seed ${report.seed} failed; shrink it with: npm run chaos -- --seed ${report.seed} --ops ${args.ops} --rate ${args.rate} --shrink`);
  }
  expect(report.violations).toEqual([]);
});
