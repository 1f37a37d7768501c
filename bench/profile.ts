/**
 * `npm run bench:profile -- --scenario warm-key`: where a scenario's time goes inside the gateway.
 *
 * Starts the same workers as `npm run bench` with workerd's V8 inspector on 127.0.0.1, drives one
 * scenario with autocannon while the CPU profiler samples the gateway's isolate, then prints the
 * functions with the most self time and the most inclusive time, and writes the profile (open it
 * in Chrome DevTools → Performance → Load profile). The inspector slows the runtime: figures from
 * here are for finding where time goes, never for the budgets.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT } from "./lib/cluster";
import { runLoad } from "./lib/load";
import { sanityCheck, scenarios, scenarioUrl } from "./lib/scenarios";
import { setUpBench } from "./lib/setup";
import { markdownTable } from "./lib/stats";
import { connect } from "./lib/inspector";

const { values: flags } = parseArgs({
  options: {
    scenario: { type: "string", default: "warm-key" },
    duration: { type: "string", default: "6" },
    connections: { type: "string", default: "10" },
    "inspector-port": { type: "string", default: "9329" },
    top: { type: "string", default: "25" },
  },
  strict: true,
});
const seconds = Math.min(60, Math.max(1, Number(flags.duration)));
const inspectorPort = Number(flags["inspector-port"]);

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}


/** Self and inclusive time per function (name + location), in ms, from a sampled profile. */
function summariseProfile(profile: Profile): { name: string; selfMs: number; totalMs: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const label = (frame: CallFrame) => {
    const file = frame.url.split("/").at(-1) ?? "";
    return `${frame.functionName || "(anonymous)"}${file ? ` ${file}:${frame.lineNumber + 1}` : ""}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  profile.samples.forEach((nodeId, i) => {
    const ms = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    const leaf = byId.get(nodeId);
    if (!leaf) return;
    self.set(label(leaf.callFrame), (self.get(label(leaf.callFrame)) ?? 0) + ms);
    const seen = new Set<string>();
    for (let id: number | undefined = nodeId; id !== undefined; id = parent.get(id)) {
      const name = label(byId.get(id)!.callFrame);
      if (seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + ms);
    }
  });
  return [...total.entries()].map(([name, totalMs]) => ({ name, selfMs: self.get(name) ?? 0, totalMs }));
}

async function main(): Promise<void> {
  const { cluster, fixtures } = await setUpBench({ env: "production", unknownKeys: 1000, inspectorPort });
  try {
    const scenario = scenarios(fixtures).find((s) => s.name === flags.scenario);
    if (!scenario) throw new Error(`unknown scenario ${flags.scenario}`);
    await sanityCheck(cluster, scenario);
    const worker = scenario.worker;
    const cdp = await connect(`ws://127.0.0.1:${inspectorPort}/core:user:${worker}`);
    const load = async (s: number) =>
      runLoad({
        baseUrl: scenarioUrl(cluster, scenario),
        requests: await scenario.requests(),
        seconds: s,
        connections: Number(flags.connections),
      });
    await load(2); // warm caches and JIT before sampling
    await cdp.call("Runtime.enable");
    const heap = () => cdp.call<{ usedSize: number; totalSize: number }>("Runtime.getHeapUsage");
    const heapBefore = await heap();
    await cdp.call("Profiler.enable");
    await cdp.call("Profiler.setSamplingInterval", { interval: 100 });
    await cdp.call("Profiler.start");
    const result = await load(seconds);
    const { profile } = await cdp.call<{ profile: Profile }>("Profiler.stop");
    await cdp.call("HeapProfiler.collectGarbage").catch(() => undefined);
    const heapAfter = await heap();
    cdp.close();

    const rows = summariseProfile(profile);
    const sampledMs = (profile.endTime - profile.startTime) / 1000;
    const top = Number(flags.top);
    const pct = (ms: number) => `${((ms / sampledMs) * 100).toFixed(1)} %`;
    const perReq = (ms: number) => `${((ms * 1000) / result.requests).toFixed(1)}`;
    const table = (sorted: typeof rows) =>
      markdownTable(
        ["function", "self", "self µs/req", "total", "total µs/req"],
        sorted.slice(0, top).map((r) => [r.name, pct(r.selfMs), perReq(r.selfMs), pct(r.totalMs), perReq(r.totalMs)]),
      );
    console.log(`\n${scenario.name} on ${worker}: ${result.requests} requests in ${result.seconds.toFixed(1)} s (${result.reqPerSec.toFixed(0)} req/s under the inspector)\n`);
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    console.log(
      `${worker} isolate JS heap: ${mib(heapBefore.usedSize)} MiB used before the load, ` +
        `${mib(heapAfter.usedSize)} MiB after it and a GC (heap ${mib(heapAfter.totalSize)} MiB)\n`,
    );
    console.log(`By self time:\n\n${table([...rows].sort((a, b) => b.selfMs - a.selfMs))}\n`);
    console.log(`By inclusive time:\n\n${table([...rows].sort((a, b) => b.totalMs - a.totalMs))}\n`);
    const dir = join(ROOT, "bench", "results");
    mkdirSync(dir, { recursive: true });
    // `.cpuprofile.json` keeps it out of git (bench/results/*.json) and loads in DevTools.
    const file = join(dir, `profile-${scenario.name}-${new Date().toISOString().replace(/[:.]/g, "-")}.cpuprofile.json`);
    writeFileSync(file, JSON.stringify(profile));
    console.log(`profile written to ${file}`);
  } finally {
    await cluster.dispose();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(2);
  },
);
