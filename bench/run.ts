/**
 * `npm run bench`: what the gateway costs, side by side with two floors: a passthrough and a
 * minimal contract-compliant forwarder (the budgets are against the latter).
 *
 * Builds the gateway with `wrangler deploy --dry-run` (the bundle that deploys), runs it on workerd
 * through Miniflare's API next to a passthrough worker that hands every request to the same
 * example origin, and drives each in interleaved rounds with autocannon on 127.0.0.1, from a process
 * of its own pinned to its own core (bench/lib/load-child.mjs), so that the client never competes
 * with workerd and its own CPU use is reported. Prints a
 * table, checks the budgets of docs/performance.md and writes JSON to bench/results/.
 *
 *   npm run bench                      # ~10 minutes: 5 rounds of every scenario and feature switch, fixed rate, cold start
 *   npm run bench -- --quick           # ~35 s smoke run
 *   npm run bench -- --rounds 3 --duration 5 --connections 10 --scenarios warm-key,warm-token
 *   npm run bench -- --entry path/to/variant.ts   # experiment: build another entry as the gateway
 *   npm run bench -- --compare a.ts,b.ts          # A/B: run these next to the gateway, same rounds
 *   npm run bench -- --no-switches     # without the feature-off copies of the gateway
 *   npm run bench -- --only websocket  # only the WebSocket relay's per-message cost (bench/lib/websocket.ts)
 *   npm run bench -- --ws-sockets 20 --ws-messages 500   # its size (also run at the end of a full run; --no-websocket skips it)
 *
 * Exit code: 0 when every budget holds, 1 when one is missed, 2 when the bench itself failed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { KEY_CACHE_ENTRIES } from "../src/keys/cache";
import { type Cluster, GATEWAY, ROOT } from "./lib/cluster";
import { measureColdStarts } from "./lib/cold-start";
import { type LoadResult, pinning, pinWorkerd, runLoad } from "./lib/load";
import { machineCpuMs, processCpuMs, processMemory } from "./lib/proc";
import { FEATURE_SWITCHES, JWKS_FRESH_MS, periods, sanityCheck, type Scenario, scenarios, scenarioUrl, variantScenarios } from "./lib/scenarios";
import { type Counters, readCounters, setUpBench } from "./lib/setup";
import { judge, markdownTable, median, per1k, quantile, type Verdict } from "./lib/stats";
import { benchWebSockets, type WebSocketReport, webSocketTable } from "./lib/websocket";

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
    out: { type: "string" },
    "max-minutes": { type: "string", default: "12" },
    "cold-starts": { type: "string" },
    "fixed-rate": { type: "boolean", default: true },
    switches: { type: "boolean", default: true },
    only: { type: "string" },
    websocket: { type: "boolean", default: true },
    "ws-sockets": { type: "string" },
    "ws-messages": { type: "string" },
  },
  strict: true,
  // `--no-switches`, `--no-fixed-rate`, `--no-websocket`.
  allowNegative: true,
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
  /** Hard bound on the whole run: no round starts that would end after it. */
  maxMs: positive("max-minutes", flags["max-minutes"], 12) * 60_000,
  /** Fresh isolates whose first request is timed (0 = skip). */
  coldStarts: Math.floor(Number(flags["cold-starts"] ?? (flags.quick ? 3 : 20))),
  /** Also run every scenario at half the floor's capacity, for the latency users feel. */
  fixedRate: flags["fixed-rate"],
  /** Also run the gateway with each request-path feature switched off (FEATURE_SWITCHES). */
  switches: flags.switches,
  /** Also measure the WebSocket relay's per-message cost at the end (bench/lib/websocket.ts). */
  webSocket: flags.websocket,
};
if (flags.only !== undefined && flags.only !== "websocket") throw new Error("--only takes one value: websocket");
/** The WebSocket relay bench (bench/lib/websocket.ts): sockets at once, messages each. */
const wsSize = {
  sockets: Math.floor(positive("ws-sockets", flags["ws-sockets"], flags.quick ? 10 : 20)),
  messages: Math.floor(positive("ws-messages", flags["ws-messages"], flags.quick ? 200 : 500)),
  rounds: options.rounds,
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
  /** The load generator's own CPU use (its own process), in % of one core. */
  readonly clientCpuPercent: number;
  /** This orchestrating process's CPU use during the run, in % of one core. */
  readonly orchestratorCpuPercent: number;
  /** CPU used by everything else on the machine during the run, in % of one core (noise). */
  readonly otherCpuPercent: number;
  readonly workerdRssKiB: number;
  readonly startedAt: number;
  readonly endedAt: number;
}

async function measure(cluster: Cluster, scenario: Scenario, seconds: number, round: number, connections: number, rate?: number): Promise<RunRecord> {
  const requests = await scenario.requests();
  // The floors have no counters: read the gateway's (they stay at zero while a floor runs).
  const countersOf = scenario.target === "gateway" ? scenario.worker : GATEWAY;
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
    ...(rate ? { rate } : {}),
  });
  const endedAt = Date.now();
  const machine = machineCpuMs();
  const orchestratorMs = (() => {
    const c = process.cpuUsage(clientBefore);
    return (c.user + c.system) / 1000;
  })();
  const clientMs = load.clientCpuMs;
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
    orchestratorCpuPercent: (orchestratorMs / wallMs) * 100,
    otherCpuPercent: Math.max(0, ((machine.busy - machineBefore.busy - workerdMs - clientMs - orchestratorMs) / wallMs) * 100),
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
  /** Median over rounds of req/s ÷ the compliant forwarder's req/s in the same round (the budgets' floor). */
  readonly ratio: number;
  readonly ratioMin: number;
  readonly ratioMax: number;
  /** Median over rounds of req/s ÷ the passthrough's req/s in the same round. */
  readonly passthroughRatio: number;
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
  readonly orchestratorCpuPercent: number;
  readonly otherCpuPercent: number;
  readonly workerdRssKiBAtEnd: number;
  readonly spanMs: number;
}

function summarise(
  scenario: Scenario,
  warmup: RunRecord,
  runs: readonly RunRecord[],
  floorByRound: ReadonlyMap<number, number>,
  compliantByRound: ReadonlyMap<number, number>,
): ScenarioReport {
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
  const ratios = runs.map((r) => r.load.reqPerSec / (compliantByRound.get(r.round) ?? NaN));
  const passthroughRatios = runs.map((r) => r.load.reqPerSec / (floorByRound.get(r.round) ?? NaN));
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
    passthroughRatio: median(passthroughRatios),
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
    orchestratorCpuPercent: median(runs.map((r) => r.orchestratorCpuPercent)),
    otherCpuPercent: median(runs.map((r) => r.otherCpuPercent)),
    workerdRssKiBAtEnd: runs.reduce((latest, r) => (r.endedAt > latest.endedAt ? r : latest)).workerdRssKiB,
    spanMs: Math.max(...runs.map((r) => r.endedAt)) - warmup.startedAt,
  };
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const mib = (kib: number | undefined) => fmt((kib ?? NaN) / 1024, 0);

function resultsTable(reports: readonly ScenarioReport[]): string {
  return markdownTable(
    [
      "scenario",
      "req/s",
      "p50 ms",
      "p99 ms",
      "÷ passthrough",
      "÷ compliant (min–max)",
      "wrong statuses",
      "KV reads/1k",
      "JWKS fetches/1k",
      "workerd CPU µs/req",
      "load gen CPU %",
      "workerd RSS MiB",
    ],
    reports.map((r) => [
      r.name,
      fmt(r.reqPerSec),
      fmt(r.p50Ms, 2),
      fmt(r.p99Ms, 2),
      fmt(r.passthroughRatio, 2),
      `${fmt(r.ratio, 2)} (${fmt(r.ratioMin, 2)}–${fmt(r.ratioMax, 2)})`,
      String(r.wrongStatuses),
      fmt(r.kvReadsPer1k, 1),
      fmt(r.jwksFetchesPer1k, 2),
      fmt(r.workerdCpuUsPerRequest),
      fmt(r.clientCpuPercent),
      mib(r.workerdRssKiBAtEnd),
    ]),
  );
}

/** One scenario at the fixed offered rate. */
interface FixedRateReport {
  readonly name: string;
  readonly offeredRate: number;
  readonly achievedRate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly addedP50OverPassthroughMs: number;
  readonly addedP99OverPassthroughMs: number;
  readonly addedP50OverCompliantMs: number;
  readonly addedP99OverCompliantMs: number;
}

function fixedRateTable(rows: readonly FixedRateReport[]): string {
  const ms = (n: number) => fmt(n, 2);
  const added = (n: number) => (n >= 0 ? `+${ms(n)}` : ms(n));
  return markdownTable(
    ["at a fixed rate", "offered req/s", "achieved req/s", "p50 ms", "p99 ms", "added p50/p99 over passthrough", "added p50/p99 over compliant"],
    rows.map((r) => [
      r.name,
      fmt(r.offeredRate),
      fmt(r.achievedRate),
      ms(r.p50Ms),
      ms(r.p99Ms),
      `${added(r.addedP50OverPassthroughMs)} / ${added(r.addedP99OverPassthroughMs)}`,
      `${added(r.addedP50OverCompliantMs)} / ${added(r.addedP99OverCompliantMs)}`,
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
    switches: options.switches && flags.only === undefined ? FEATURE_SWITCHES : [],
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
    const pinned = cluster.workerdPid ? pinWorkerd(cluster.workerdPid) : false;
    log(
      `bundle ${fmt(build.bytes / 1024, 1)} KiB (gzip ${fmt(build.gzipBytes / 1024, 1)} KiB); workerd pid ${cluster.workerdPid ?? "?"}; ` +
        (pinned && pinning ? `workerd pinned to core(s) ${pinning.workerd}, load generator to core ${pinning.client}` : "nothing pinned (no taskset or one core)"),
    );

    if (flags.only === "websocket") {
      const webSockets = await benchWebSockets(cluster, { ...wsSize, apiKey: fixtures.chatKey });
      console.log(`\n${webSocketTable(webSockets)}\n`);
      const out = flags.out ?? join(ROOT, "bench", "results", `bench-websocket-${new Date(startedAt).toISOString().replace(/[:.]/g, "-")}.json`);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, `${JSON.stringify({ schema: 1, startedAt: new Date(startedAt).toISOString(), command: "npm run bench -- --only websocket", webSockets }, null, 2)}\n`);
      log(`results written to ${out}`);
      return webSockets.targets.some((t) => t.errors > 0) ? 2 : 0;
    }

    const all = scenarios(fixtures);
    const wanted = flags.scenarios?.split(",").map((s) => s.trim());
    for (const name of wanted ?? []) if (!all.some((s) => s.name === name)) throw new Error(`unknown scenario ${name}`);
    // Both floors always run: every ratio is against the floors of the same round.
    const chosen = all.filter((s) => s.target !== "gateway" || !wanted || wanted.includes(s.name));
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
    const compliantByRound = new Map<number, number>();
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
        if (scenario.target === "floor") floorByRound.set(round, record.load.reqPerSec);
        if (scenario.target === "compliant") compliantByRound.set(round, record.load.reqPerSec);
      }
      log(`round ${round + 1}/${options.rounds}: ${order.map((s) => `${s.name} ${fmt(runs.get(s.name)!.at(-1)!.load.reqPerSec)}`).join(", ")} req/s`);
    }
    if (floorByRound.size === 0) throw new Error("no round completed");

    const reports = selected.map((s) => summarise(s, warmups.get(s.name)!, runs.get(s.name)!, floorByRound, compliantByRound));

    // Each feature's cost: the gateway with it on ÷ the same build with it off, per round, median.
    const featureCosts = [...cluster.urls.keys()]
      .filter((w) => FEATURE_SWITCHES.some((f) => `variant:${f.label}` === w))
      .flatMap((w) => {
        const label = w.replace(/^variant:/, "");
        return chosen
          .filter((sc) => sc.target === "gateway" && runs.has(`${sc.name}@${label}`))
          .map((sc) => {
            const on = runs.get(sc.name)!;
            const off = runs.get(`${sc.name}@${label}`)!;
            const perRound = on.flatMap((r) => {
              const o = off.find((x) => x.round === r.round);
              return o ? [r.load.reqPerSec / o.load.reqPerSec] : [];
            });
            return {
              scenario: sc.name,
              switchedOff: label,
              onOverOff: median(perRound),
              onOverOffMin: Math.min(...perRound),
              onOverOffMax: Math.max(...perRound),
              cpuUsOn: median(on.map((r) => r.workerdCpuUsPerRequest)),
              cpuUsOff: median(off.map((r) => r.workerdCpuUsPerRequest)),
            };
          });
      });

    // Latency as users feel it: every scenario at a fixed offered rate of half the passthrough's
    // capacity, interleaved like the rounds; p50/p99 are reported as added over each floor's.
    const fixedRate: FixedRateReport[] = [];
    const rate = Math.max(50, Math.round(median([...floorByRound.values()]) / 2));
    if (options.fixedRate && Date.now() + selected.length * (options.seconds + 1) * 1000 <= deadline) {
      const latencies = new Map<string, number[]>(selected.map((s) => [s.name, []]));
      const achieved = new Map<string, number[]>(selected.map((s) => [s.name, []]));
      const fixedRounds = Math.min(2, options.rounds);
      for (let round = 0; round < fixedRounds; round++) {
        for (const scenario of selected.map((_, i) => selected[(i + round) % selected.length]!)) {
          const record = await measure(cluster, scenario, options.seconds, round, options.connections, rate);
          for (const l of record.load.latenciesMs) latencies.get(scenario.name)!.push(l);
          achieved.get(scenario.name)!.push(record.load.reqPerSec);
        }
      }
      const at = (name: string, q: number) => quantile(latencies.get(name) ?? [], q);
      const floorName = selected.find((s) => s.target === "floor")?.name ?? "floor";
      const compliantName = selected.find((s) => s.target === "compliant")?.name ?? "compliant";
      for (const scenario of selected) {
        fixedRate.push({
          name: scenario.name,
          offeredRate: rate,
          achievedRate: median(achieved.get(scenario.name)!),
          p50Ms: at(scenario.name, 0.5),
          p99Ms: at(scenario.name, 0.99),
          addedP50OverPassthroughMs: at(scenario.name, 0.5) - at(floorName, 0.5),
          addedP99OverPassthroughMs: at(scenario.name, 0.99) - at(floorName, 0.99),
          addedP50OverCompliantMs: at(scenario.name, 0.5) - at(compliantName, 0.5),
          addedP99OverCompliantMs: at(scenario.name, 0.99) - at(compliantName, 0.99),
        });
      }
      log(`fixed rate ${rate} req/s (half the passthrough's capacity): ${fixedRounds} round(s) of every scenario`);
    } else if (options.fixedRate) {
      log("fixed-rate runs skipped: they would end after --max-minutes");
    }
    let webSockets: WebSocketReport | undefined;
    if (options.webSocket && Date.now() + 60_000 <= deadline) {
      webSockets = await benchWebSockets(cluster, { ...wsSize, apiKey: fixtures.chatKey });
      log(`WebSocket relay: ${wsSize.sockets} sockets × ${wsSize.messages} messages, ${wsSize.rounds} round(s) per target`);
    }
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

    // Cold start last, in workerd processes of its own (the measured one is stopped first).
    await stop();
    const coldStart = options.coldStarts > 0 ? await measureColdStarts({ build, count: options.coldStarts, log }) : undefined;

    console.log(`\n${resultsTable(reports)}\n`);
    if (fixedRate.length > 0) console.log(`${fixedRateTable(fixedRate)}\n`);
    if (featureCosts.length > 0) {
      console.log(
        `${markdownTable(
          ["feature cost", "switched off", "req/s on ÷ off (min–max)", "workerd CPU µs/req on / off"],
          featureCosts.map((c) => [c.scenario, c.switchedOff, `${fmt(c.onOverOff, 3)} (${fmt(c.onOverOffMin, 2)}–${fmt(c.onOverOffMax, 2)})`, `${fmt(c.cpuUsOn)} / ${fmt(c.cpuUsOff)}`]),
        )}\n`,
      );
    }
    if (webSockets) console.log(`${webSocketTable(webSockets)}\n`);
    if (coldStart) {
      console.log(
        `cold start (first request of a fresh isolate, warm KV, persisted JWKS; median of ${options.coldStarts} fresh workerd processes each): ` +
          coldStart.scenarios.map((c) => `${c.name} ${fmt(c.medianMs, 1)} ms (p90 ${fmt(c.p90Ms, 1)})`).join(", ") +
          `; workerd start ${fmt(coldStart.startMedianMs)} ms\n`,
      );
    }
    console.log(`${verdictTable(verdicts)}\n`);
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
      pinning: pinned ? pinning : undefined,
      scenarios: reports,
      fixedRate,
      featureCosts,
      webSockets,
      coldStart,
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
