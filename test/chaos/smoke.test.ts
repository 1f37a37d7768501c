import { expect, it } from "vitest";
import { runChaos, summarise } from "./lib/runner";

for (const seed of [3]) {
  it(`smoke ${seed}`, async () => {
    const report = await runChaos({ seed, ops: 1000 });
    console.log(summarise(report, 40));
    for (const v of report.violations.filter((v) => v.invariant === 2)) {
      const id = /key (key_\w+)/.exec(v.message)![1]!;
      console.log("STORY", id);
      for (const op of report.history.ops) {
        if (op.keyId === id || op.keyIds?.includes(id) || op.minted?.some((m) => m.id === id || m.rotatedFrom === id))
          console.log(JSON.stringify({ ...op, body: op.body.slice(0, 150), minted: undefined, shown: op.shown?.filter((s) => s.id === id) }));
      }
    }
    console.log(report.history.logs.filter((l) => l.includes("warn")).join("\n"));
    expect(report.operations).toBeGreaterThan(0);
  }, 300_000);
}
