/**
 * `npm run bench`: what the gateway costs, side by side with a passthrough floor.
 *
 * Builds the gateway with `wrangler deploy --dry-run` (the bundle that deploys), runs it on workerd
 * through Miniflare's API next to a passthrough worker that hands every request to the same
 * example origin, and drives each with autocannon on 127.0.0.1 in interleaved rounds. Prints a
 * table, checks the budgets of docs/performance.md and writes JSON to bench/results/.
 *
 *   npm run bench                      # ~5 minutes: 5 rounds × 7 scenarios × 8 s
 *   npm run bench -- --quick           # ~35 s smoke run
 *   npm run bench -- --rounds 3 --duration 5 --connections 10 --scenarios warm-key,warm-token
 *   npm run bench -- --entry path/to/variant.ts   # experiment: build another entry as the gateway
 *   npm run bench -- --compare a.ts,b.ts          # A/B: run these next to the gateway, same rounds
 *   npm run bench -- --limits-off --scenarios warm-key   # A/B: rate limits on (the gateway) vs off
 *
 * Exit code: 0 when every budget holds, 1 when one is missed, 2 when the bench itself failed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { KEY_CACHE_ENTRIES } from "../src/keys/cache";
import { type Cluster, GATEWAY, ROOT } from "./lib/cluster";
import { type LoadResult, runLoad } from "./lib/load";
import { machineCpuMs, processCpuMs, processMemory } from "./lib/proc";
import { JWKS_FRESH_MS, periods, sanityCheck, type Scenario, scenarios, scenarioUrl, variantScenarios } from "./lib/scenarios";
import { type Counters, readCounters, setUpBench } from "./lib/setup";
import { judge, markdownTable, median, per1k, quantile, type Verdict } from "./lib/stats";

// ----------------------------------------------------------------------------------------------
// Options

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    duration: { type: "string" },
    warmup: { type: "string" },
    connections: { type: "string" },
    scenarios: { type: "string" },
    "unknown-keys": { type: "string" },
    env: { type: "string", default: "production" },
    entry: { type: "string" },
    compare: { type: "string" },
    "limits-off": { type: "boolean", default: false },
    out: { type: "string" },
    "max-minutes": { type: "string", default: "8" },
  },
  strict: true,
});

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
  return n;
}

const options = {
  rounds: Math.floor(positive("rounds", flags.rounds, flags.quick ? 2 : 5)),
  seconds: positive("duration", flags.duration, flags.quick ? 2 : 8),
  warmupSeconds: positive("warmup", flags.warmup, flags.quick ? 1 : 3),
  connections: Math.floor(positive("connections", flags.connections, 10)),
  unknownKeys: Math.floor(positive("unknown-keys", flags["unknown-keys"], 1000)),
  env: flags.env,
  entry: flags.entry,
  /** Entries run side by side with the gateway, interleaved in the same rounds (A/B experiments). */
  compare: flags.compare ? flags.compare.split(",").map((e) => e.trim()).filter(Boolean) : [],
  /** Also run the gateway with rate limits off, same rounds (`<scenario>@limits-off`). */
  limitsOff: flags["limits-off"],
  /** Hard bound on the whole run: no round starts that would end after it. */
  maxMs: positive("max-minutes", flags["max-minutes"], 8) * 60_000,
};
if (options.unknownKeys > KEY_CACHE_ENTRIES / 2) {
  throw new Error(`--unknown-keys must stay well under the key cache's ${KEY_CACHE_ENTRIES} entries`);
}

// ----------------------------------------------------------------------------------------------
// Measurement

/** One scenario run (a warm-up or one round). */
interface RunRecord {
  readonly round: number;
  readonly scenario: string;
  readonly load: LoadResult;
  readonly counters: Counters;
  /** workerd CPU time per request, in µs (every worker of the process: floor or gateway, plus the origin). */
  readonly workerdCpuUsPerRequest: number;
  /** The load generator's own CPU use, in % of one core. */
  readonly clientCpuPercent: number;
  /** CPU used by everything else on the machine during the run, in % of one core (noise). */
  readonly otherCpuPercent: number;
  readonly workerdRssKiB: number;
  readonly startedAt: number;
  readonly endedAt: number;
}

async function measure(cluster: Cluster, scenario: Scenario, seconds: number, round: number, connections: number): Promise<RunRecord> {
  const requests = await scenario.requests();
  // The floor has no counters: read the gateway's (they stay at zero while the floor runs).
  const countersOf = scenario.target === "floor" ? GATEWAY : scenario.worker;
  await readCounters(cluster, true, countersOf);
  const pid = cluster.workerdPid;
  const workerdBefore = pid ? processCpuMs(pid) : undefined;
  const clientBefore = process.cpuUsage();
  const machineBefore = machineCpuMs();
  const startedAt = Date.now();
  const load = await runLoad({
    baseUrl: scenarioUrl(cluster, scenario),
    requests,
    seconds,
    connections,
  });
  const endedAt = Date.now();
  const machine = machineCpuMs();
  const clientMs = (() => {
    const c = process.cpuUsage(clientBefore);
    return (c.user + c.system) / 1000;
  })();
  const workerdAfter = pid ? processCpuMs(pid) : undefined;
  const workerdMs = workerdBefore !== undefined && workerdAfter !== undefined ? workerdAfter - workerdBefore : NaN;
  const counters = await readCounters(cluster, false, countersOf);
  const wallMs = endedAt - startedAt;
  return {
    round,
    scenario: scenario.name,
    load,
    counters,
    workerdCpuUsPerRequest: load.requests > 0 ? (workerdMs * 1000) / load.requests : NaN,
    clientCpuPercent: (clientMs / wallMs) * 100,
    otherCpuPercent: Math.max(0, ((machine.busy - machineBefore.busy - workerdMs - clientMs) / wallMs) * 100),
    workerdRssKiB: (pid ? processMemory(pid)?.rssKiB : undefined) ?? NaN,
    startedAt,
    endedAt,
  };
}

// ----------------------------------------------------------------------------------------------
// Report

/** One scenario over every round, as printed and written. */
interface ScenarioReport {
  readonly name: string;
  readonly description: string;
  readonly expectedStatus: number;
  readonly rounds: number;
  readonly requests: number;
  /** Median over rounds. */
  readonly reqPerSec: number;
  /** Over every response of every round. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Median over rounds of req/s ÷ the floor's req/s in the same round. */
  readonly ratio: number;
  readonly ratioMin: number;
  readonly ratioMax: number;
  readonly wrongStatuses: number;
  readonly statuses: Record<string, number>;
  readonly kvReadsPer1k: number;
  readonly kvReadCallsPer1k: number;
  readonly kvListsPer1k: number;
  readonly kvWritesPer1k: number;
  readonly jwksFetchesPer1k: number;
  /** Counts over the warm-up and every round, for the absolute budgets. */
  readonly totals: { kvReads: number; kvLists: number; kvWrites: number; jwksFetches: number };
  readonly workerdCpuUsPerRequest: number;
  readonly clientCpuPercent: number;
  readonly otherCpuPercent: number;
  readonly workerdRssKiBAtEnd: number;
  readonly spanMs: number;
}

function summarise(scenario: Scenario, warmup: RunRecord, runs: readonly RunRecord[], floorByRound: ReadonlyMap<number, number>): ScenarioReport {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let requests = 0;
  let wrong = 0;
  const sum = { kvReads: 0, kvReadCalls: 0, kvLists: 0, kvWrites: 0, jwksFetches: 0 };
  for (const run of runs) {
    for (const l of run.load.latenciesMs) latencies.push(l);
    requests += run.load.requests;
    wrong += run.load.errors;
    for (const [code, count] of Object.entries(run.load.statuses)) {
      statuses[code] = (statuses[code] ?? 0) + count;
      if (Number(code) !== scenario.expectedStatus) wrong += count;
    }
    for (const name of Object.keys(sum) as (keyof typeof sum)[]) sum[name] += run.counters[name];
  }
  const all = [warmup, ...runs];
  const total = (name: "kvReads" | "kvLists" | "kvWrites" | "jwksFetches") => all.reduce((n, r) => n + r.counters[name], 0);
  const ratios = runs.map((r) => r.load.reqPerSec / (floorByRound.get(r.round) ?? NaN));
  return {
    name: scenario.name,
    description: scenario.description,
    expectedStatus: scenario.expectedStatus,
    rounds: runs.length,
    requests,
    reqPerSec: median(runs.map((r) => r.load.reqPerSec)),
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    ratio: median(ratios),
    ratioMin: Math.min(...ratios),
    ratioMax: Math.max(...ratios),
    wrongStatuses: wrong,
    statuses,
    kvReadsPer1k: per1k(sum.kvReads, requests),
    kvReadCallsPer1k: per1k(sum.kvReadCalls, requests),
    kvListsPer1k: per1k(sum.kvLists, requests),
    kvWritesPer1k: per1k(sum.kvWrites, requests),
    jwksFetchesPer1k: per1k(sum.jwksFetches, requests),
    totals: { kvReads: total("kvReads"), kvLists: total("kvLists"), kvWrites: total("kvWrites"), jwksFetches: total("jwksFetches") },
    workerdCpuUsPerRequest: median(runs.map((r) => r.workerdCpuUsPerRequest)),
    clientCpuPercent: median(runs.map((r) => r.clientCpuPercent)),
    otherCpuPercent: median(runs.map((r) => r.otherCpuPercent)),
    workerdRssKiBAtEnd: runs.reduce((latest, r) => (r.endedAt > latest.endedAt ? r : latest)).workerdRssKiB,
    spanMs: Math.max(...runs.map((r) => r.endedAt)) - warmup.startedAt,
  };
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const mib = (kib: number | undefined) => fmt((kib ?? NaN) / 1024, 0);

function resultsTable(reports: readonly ScenarioReport[]): string {
  return markdownTable(
    ["scenario", "req/s", "p50 ms", "p99 ms", "ratio to floor (min–max)", "wrong statuses", "KV reads/1k", "JWKS fetches/1k", "workerd CPU µs/req", "workerd RSS MiB"],
    reports.map((r) => [
      r.name,
      fmt(r.reqPerSec),
      fmt(r.p50Ms, 2),
      fmt(r.p99Ms, 2),
      r.name === "floor" ? "1.00" : `${fmt(r.ratio, 2)} (${fmt(r.ratioMin, 2)}–${fmt(r.ratioMax, 2)})`,
      String(r.wrongStatuses),
      fmt(r.kvReadsPer1k, 1),
      fmt(r.jwksFetchesPer1k, 2),
      fmt(r.workerdCpuUsPerRequest),
      mib(r.workerdRssKiBAtEnd),
    ]),
  );
}

function verdictTable(verdicts: readonly Verdict[]): string {
  return markdownTable(
    ["scenario", "check", "limit", "actual", "met"],
    verdicts.map((v) => [v.scenario, v.check, v.limit, v.actual, v.ok ? "yes" : "**NO**"]),
    new Set([1]),
  );
}

// ----------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const startedAt = Date.now();
  const deadline = startedAt + options.maxMs;
  const log = (message: string) => console.log(`[bench ${fmt((Date.now() - startedAt) / 1000).padStart(3)} s] ${message}`);

  log(`building with wrangler deploy --dry-run --env ${options.env}; starting workerd; seeding keys`);
  const { build, cluster, fixtures } = await setUpBench({
    env: options.env,
    unknownKeys: options.unknownKeys,
    ...(options.entry ? { entry: options.entry } : {}),
    compare: options.compare,
    limitsOff: options.limitsOff,
  });
  if (options.entry) log(`EXPERIMENT: built ${options.entry} instead of wrangler.toml's main; not a budget run`);
  let disposed = false;
  const stop = async () => {
    if (disposed) return;
    disposed = true;
    await cluster.dispose().catch(() => undefined);
  };
  process.once("SIGINT", () => void stop().then(() => process.exit(130)));
  try {
    log(`bundle ${fmt(build.bytes / 1024, 1)} KiB (gzip ${fmt(build.gzipBytes / 1024, 1)} KiB); workerd pid ${cluster.workerdPid ?? "?"}`);

    const all = scenarios(fixtures);
    const wanted = flags.scenarios?.split(",").map((s) => s.trim());
    for (const name of wanted ?? []) if (!all.some((s) => s.name === name)) throw new Error(`unknown scenario ${name}`);
    // The floor always runs: every ratio is against the floor of the same round.
    const chosen = all.filter((s) => s.name === "floor" || !wanted || wanted.includes(s.name));
    const selected = [
      ...chosen,
      ...[...cluster.urls.keys()].filter((w) => w.startsWith("variant:")).flatMap((w) => variantScenarios(chosen, w)),
    ];

    for (const scenario of selected) {
      try {
        await sanityCheck(cluster, scenario);
      } catch (error) {
        // An experimental entry may answer differently on purpose: say so, measure anyway.
        if (!options.entry && !scenario.variant) throw error;
        log(`EXPERIMENT: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    log(`one request of each scenario checked in full: ${selected.map((s) => s.name).join(", ")}`);

    const warmups = new Map<string, RunRecord>();
    for (const scenario of selected) {
      warmups.set(scenario.name, await measure(cluster, scenario, options.warmupSeconds, -1, options.connections));
    }
    const afterWarmup = cluster.workerdPid ? processMemory(cluster.workerdPid) : undefined;
    log(`warm-up done (${options.warmupSeconds} s per scenario)`);

    const runs = new Map<string, RunRecord[]>(selected.map((s) => [s.name, []]));
    const floorByRound = new Map<number, number>();
    for (let round = 0; round < options.rounds; round++) {
      if (Date.now() + selected.length * (options.seconds + 1) * 1000 > deadline) {
        log(`stopping before round ${round + 1}: it would end after --max-minutes`);
        break;
      }
      // Rotate the order each round so drift and position hit every scenario alike.
      const order = selected.map((_, i) => selected[(i + round) % selected.length]!);
      for (const scenario of order) {
        const record = await measure(cluster, scenario, options.seconds, round, options.connections);
        runs.get(scenario.name)!.push(record);
        if (scenario.name === "floor") floorByRound.set(round, record.load.reqPerSec);
      }
      log(`round ${round + 1}/${options.rounds}: ${order.map((s) => `${s.name} ${fmt(runs.get(s.name)!.at(-1)!.load.reqPerSec)}`).join(", ")} req/s`);
    }
    if (floorByRound.size === 0) throw new Error("no round completed");

    const reports = selected.map((s) => summarise(s, warmups.get(s.name)!, runs.get(s.name)!, floorByRound));
    const verdicts: Verdict[] = selected.filter((s) => !s.variant).flatMap((scenario) => {
      const report = reports.find((r) => r.name === scenario.name)!;
      return judge(report, report.totals, scenario.budget(report.spanMs));
    });

    // JWKS: at most one fetch per isolate (one here) per cache period, over the whole run.
    const end = await readCounters(cluster, false);
    const runMs = Date.now() - startedAt;
    const jwksLimit = periods(runMs, JWKS_FRESH_MS);
    verdicts.push({
      scenario: "whole run",
      check: "JWKS fetches",
      limit: `≤ ${jwksLimit}`,
      actual: String(end.totals.jwksFetches),
      ok: end.totals.jwksFetches <= jwksLimit,
    });
    // The revocation log's load: polls of this one location (≈ one per REVOCATION_POLL_MS, 2 s),
    // never one per request; the whole run's requests are in the table above.
    const logLimit = periods(runMs, 2_000) + 1;
    verdicts.push({
      scenario: "whole run",
      check: "revocation log calls",
      limit: `≤ ${logLimit} (${fmt(end.totals.revocationLogCalls / (runMs / 1000), 2)}/s)`,
      actual: String(end.totals.revocationLogCalls),
      ok: end.totals.revocationLogCalls <= logLimit,
    });
    const idpServed = ((await (await fetch(`${cluster.idpUrl}/__bench/served`)).json()) as { served: number }).served;
    const endMemory = cluster.workerdPid ? processMemory(cluster.workerdPid) : undefined;
    const measured = [...runs.values()].flat();
    const background = {
      medianPercent: median(measured.map((r) => r.otherCpuPercent)),
      maxPercent: Math.max(...measured.map((r) => r.otherCpuPercent)),
    };
    const machine = {
      cpu: cpus()[0]?.model ?? "unknown",
      cores: cpus().length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      loadAverageAtEnd: loadavg(),
    };

    console.log(`\n${resultsTable(reports)}\n\n${verdictTable(verdicts)}\n`);
    console.log(
      `bundle gzip ${fmt(build.gzipBytes / 1024, 1)} KiB · workerd RSS ${mib(afterWarmup?.rssKiB)} MiB after warm-up, ` +
        `${mib(endMemory?.rssKiB)} MiB at end (peak ${mib(endMemory?.peakRssKiB)} MiB) · JWKS fetched ${end.totals.jwksFetches}× ` +
        `(IdP served ${idpServed}) · env objects ${end.envObjects} · ${machine.cores} × ${machine.cpu} · ${fmt(runMs / 1000)} s`,
    );
    console.log(
      `other processes used ${fmt(background.medianPercent)} % of a core during the median run (max ${fmt(background.maxPercent)} %): ` +
        "above ~10 %, the machine was shared and the ratios are noisier",
    );

    const result = {
      schema: 1,
      startedAt: new Date(startedAt).toISOString(),
      durationSeconds: runMs / 1000,
      command: ["npm run bench", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" "),
      machine,
      backgroundCpu: background,
      options,
      bundle: { env: build.env, experimentalEntry: build.experimentalEntry, bytes: build.bytes, gzipBytes: build.gzipBytes },
      workerd: { pid: cluster.workerdPid, rssKiBAfterWarmup: afterWarmup?.rssKiB, rssKiBAtEnd: endMemory?.rssKiB, peakRssKiB: endMemory?.peakRssKiB },
      gatewayIsolate: { totals: end.totals, envObjects: end.envObjects, jwksServedByIdp: idpServed },
      scenarios: reports,
      verdicts,
      runs: [...warmups.values(), ...[...runs.values()].flat()].map(({ load, ...run }) => ({
        ...run,
        requests: load.requests,
        seconds: load.seconds,
        reqPerSec: load.reqPerSec,
        statuses: load.statuses,
        errors: load.errors,
      })),
    };
    const out = flags.out ?? join(ROOT, "bench", "results", `bench-${new Date(startedAt).toISOString().replace(/[:.]/g, "-")}.json`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    log(`results written to ${out}`);
    const missed = verdicts.filter((v) => !v.ok);
    if (missed.length > 0) log(`budgets missed: ${missed.map((v) => `${v.scenario} ${v.check}`).join("; ")}`);
    return missed.length > 0 ? 1 : 0;
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(2);
  },
);
