// The workerd side of the benchmark: the production bundle behind the bench-only counting entry,
// the passthrough floor, the example origins, the stand-in IdP and any A/B variants, all in one
// Miniflare (one workerd process), each load target on its own direct socket on 127.0.0.1.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { unstable_readConfig } from "wrangler";
// @ts-expect-error: plain ESM script without types; shared with the CI gate so both measure alike.
import { bundleSize, dryRunBuild } from "../../scripts/check-bundle-size.mjs";
import { workerdChildren } from "./proc";

export const ROOT = join(import.meta.dirname, "..", "..");
const BUILD_ROOT = join(ROOT, "node_modules", ".cache", "agntix-bench");

/** Names of the workers, as the gateway's service bindings and the scenarios refer to them. */
export const GATEWAY = "agntix-gateway";
export const FLOOR = "bench-passthrough";
/** The second floor: a minimal forwarder that does what the contract requires and nothing else. */
export const COMPLIANT = "bench-compliant";
const CHAT_ORIGIN = "agntix-chat-origin";
const VOICE_ORIGIN = "agntix-voice-origin";
const IDP = "bench-idp";
const LIMITER = "bench-limiter";

/** What `wrangler deploy --dry-run` produced, and the config it was built from. */
export interface GatewayBuild {
  readonly dir: string;
  readonly entry: string;
  readonly env: string;
  /** The entry built, when it is not wrangler.toml's `main` (an experiment). */
  readonly experimentalEntry: string | undefined;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly compatibilityDate: string;
  readonly compatibilityFlags: readonly string[];
  /** The environment's vars, exactly as wrangler.toml declares them. */
  readonly vars: Readonly<Record<string, string>>;
  /** The environment's Rate Limiting bindings (`[[ratelimits]]`). */
  readonly ratelimits: readonly { name: string }[];
}

/**
 * Build the gateway as it deploys (dry run of `wrangler.toml` for `env`) and read its config.
 * `entry` replaces the config's `main`: for A/B experiments only, never for the budgets.
 */
export function buildGateway(env: string, entry?: string): GatewayBuild {
  const dir = join(BUILD_ROOT, entry ? `variant-${variantName(entry)}` : `gateway-${env}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  dryRunBuild({ outdir: dir, env, script: entry });
  const size = bundleSize(dir) as { bytes: number; gzipBytes: number; files: { name: string }[] };
  const config = unstable_readConfig({ config: join(ROOT, "wrangler.toml"), env }, { hideWarnings: true });
  const vars: Record<string, string> = {};
  for (const [name, value] of Object.entries(config.vars ?? {})) vars[name] = String(value);
  if (!config.compatibility_date) throw new Error("wrangler.toml has no compatibility_date");
  return {
    dir,
    entry: join(dir, mainModule(dir)),
    env,
    experimentalEntry: entry,
    bytes: size.bytes,
    gzipBytes: size.gzipBytes,
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    vars,
    ratelimits: (config.ratelimits ?? []) as GatewayBuild["ratelimits"],
  };
}

/** The short name of an experimental entry: its file name without extension (`fast-path`), or its folder's for an `index`. */
export function variantName(entry: string): string {
  const parts = entry.split(/[\\/]/).filter(Boolean);
  const file = basename(entry).replace(/\.[cm]?[jt]sx?$/, "");
  if (file !== "index") return file;
  return parts.slice(0, -1).reverse().find((part) => part !== "src") ?? file;
}

/** The bundle's main module: wrangler names it after the entry (`index.js` for `src/index.ts`). */
function mainModule(dir: string): string {
  const modules = readdirSync(dir).filter((name) => /\.m?js$/.test(name));
  if (modules.length === 1) return modules[0]!;
  if (modules.includes("index.js")) return "index.js";
  throw new Error(`cannot tell the main module among ${modules.join(", ")}`);
}

/** A running set of workers and the sockets the load generator drives. */
export interface Cluster {
  readonly mf: Miniflare;
  readonly gatewayUrl: string;
  readonly floorUrl: string;
  readonly compliantUrl: string;
  readonly idpUrl: string;
  /** Socket of every load target, by worker name (gateway, floor, variants). */
  readonly urls: ReadonlyMap<string, string>;
  readonly workerdPid: number | undefined;
  dispose(): Promise<void>;
}

export interface ClusterOptions {
  readonly build: GatewayBuild;
  /** Other builds run side by side with the gateway (A/B experiments), each as worker `variant:<name>`. */
  readonly variants?: readonly GatewayBuild[];
  /** Secrets and overrides on top of the environment's vars. */
  readonly extraBindings: Readonly<Record<string, string>>;
  /** JSON text of the JWKS the IdP serves. */
  readonly jwks: string;
  /** Start workerd's V8 inspector on this port (profiling only). */
  readonly inspectorPort?: number;
  /**
   * The gateway's own build again, with some vars overridden: one worker `variant:<label>` each.
   * This is how a feature is measured on vs off in the same run (docs/performance.md).
   */
  readonly switches?: readonly FeatureSwitch[];
  /** Keep KV and the Cache API in this folder, so that a later workerd finds them (cold starts). */
  readonly persistDir?: string;
}

/** The gateway with some of its vars overridden (a feature switched off), run as `variant:<label>`. */
export interface FeatureSwitch {
  readonly label: string;
  readonly bindings: Readonly<Record<string, string>>;
}

/**
 * Every `RL_*` Rate Limiting binding of the build, bound to bench/worker/limiter.js instead: an
 * always-allowing stand-in reached by JS RPC. Miniflare's own binding is a Durable Object writing
 * SQLite on every call, one object for every key: it measures the emulator (≈ 5× fewer requests a second than
 * the stand-in here), where Cloudflare's binding is a service local to the location. The stand-in
 * measures what the gateway's side of a binding call costs, and allows everything, so the load
 * is never refused.
 */
function limiterStandIns(build: GatewayBuild) {
  return Object.fromEntries(build.ratelimits.map((r) => [r.name, { name: LIMITER, entrypoint: "Limiter" }]));
}

/** The worker name of an A/B variant. */
export const variantWorker = (build: GatewayBuild) => `variant:${variantName(build.experimentalEntry ?? build.entry)}`;

/** The bundle behind the bench-only counting entry, as Miniflare modules (the bundle itself untouched). */
function countingModules(build: GatewayBuild, name: string) {
  // The counting entry imports "./gateway.js": copy the bundle next to it.
  const dir = join(BUILD_ROOT, `counting-${name.replace(/[^\w-]/g, "_")}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const file of ["counting-entry.js", "counters.js"]) copyFileSync(join(ROOT, "bench", "worker", file), join(dir, file));
  copyFileSync(build.entry, join(dir, "gateway.js"));
  return ["counting-entry.js", "counters.js", "gateway.js"].map((file) => ({
    type: "ESModule" as const,
    path: join(dir, file),
    contents: readFileSync(join(dir, file)),
  }));
}

/** Start workerd with the gateway (wrapped for counting), any variants, the floor, the origins and the IdP. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { build } = options;
  const compat = { compatibilityDate: build.compatibilityDate, compatibilityFlags: [...build.compatibilityFlags] };
  const direct = [{ host: "127.0.0.1", port: 0 }];
  const echo = join(ROOT, "examples", "origins", "echo.js");
  const gatewayLike = (name: string, b: GatewayBuild, overrides: Readonly<Record<string, string>> = {}) => ({
    name,
    modules: countingModules(b, name),
    ...compat,
    bindings: { ...build.vars, ...options.extraBindings, ...overrides },
    // One namespace id: every gateway-like worker sees the same seeded keys.
    kvNamespaces: { API_KEYS: "bench-api-keys" },
    // The audit log: no request of the bench writes it, but the config requires the binding.
    d1Databases: { AUDIT_DB: "bench-audit" },
    // Durable Objects (usage ledgers, the revocation log): each gateway-like worker runs its own
    // classes (Durable Objects belong to a worker), as a deployment does.
    durableObjects: {
      USAGE: { className: "UsageLedger", useSQLite: true },
      REVOCATION_LOG: { className: "RevocationLog", useSQLite: true },
    },
    serviceBindings: {
      CHAT: CHAT_ORIGIN,
      VOICE: VOICE_ORIGIN,
      ...limiterStandIns(b),
    },
    // Every outbound fetch (the JWKS) goes to the stand-in IdP: nothing leaves the machine.
    outboundService: IDP,
    unsafeDirectSockets: direct,
  });
  const variants = [
    ...(options.variants ?? []).map((v) => ({ name: variantWorker(v), build: v, overrides: {} })),
    ...(options.switches ?? []).map((f) => ({ name: `variant:${f.label}`, build, overrides: f.bindings })),
  ];

  const before = new Set(workerdChildren());
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      // The access log (one info line per request) is dropped here, not printed: the terminal
      // would be the bottleneck. Warnings and errors (the log events) are still shown.
      handleStructuredLogs(log: { level: string; message: string }) {
        if (log.level === "info" || log.level === "log" || log.level === "debug") return;
        process.stderr.write(`${log.message}\n`);
      },
      ...(options.inspectorPort ? { inspectorPort: options.inspectorPort, inspectorHost: "127.0.0.1" } : {}),
      ...(options.persistDir ? { resourcePersistencePath: options.persistDir } : {}),
      workers: [
        gatewayLike(GATEWAY, build),
        ...variants.map((v) => gatewayLike(v.name, v.build, v.overrides)),
        { name: LIMITER, modules: true, scriptPath: join(ROOT, "bench", "worker", "limiter.js"), ...compat },
        {
          name: FLOOR,
          modules: true,
          scriptPath: join(ROOT, "bench", "passthrough.js"),
          ...compat,
          serviceBindings: { CHAT: CHAT_ORIGIN },
          unsafeDirectSockets: direct,
        },
        {
          name: COMPLIANT,
          modules: true,
          scriptPath: join(ROOT, "bench", "compliant.js"),
          ...compat,
          serviceBindings: { CHAT: CHAT_ORIGIN },
          unsafeDirectSockets: direct,
        },
        { name: CHAT_ORIGIN, modules: true, scriptPath: echo, ...compat, bindings: { SERVICE: "chat" } },
        { name: VOICE_ORIGIN, modules: true, scriptPath: echo, ...compat, bindings: { SERVICE: "voice" } },
        {
          name: IDP,
          modules: true,
          scriptPath: join(ROOT, "bench", "worker", "idp.js"),
          ...compat,
          bindings: { JWKS: options.jwks },
          unsafeDirectSockets: direct,
        },
      ],
    }),
  );
  await mf.ready;
  const url = async (name: string) => (await mf.unsafeGetDirectURL(name)).href.replace(/\/$/, "");
  const names = [GATEWAY, FLOOR, COMPLIANT, IDP, ...variants.map((v) => v.name)];
  const urls = new Map(await Promise.all(names.map(async (name) => [name, await url(name)] as const)));
  const workerdPid = workerdChildren().find((pid) => !before.has(pid));
  return {
    mf,
    gatewayUrl: urls.get(GATEWAY)!,
    floorUrl: urls.get(FLOOR)!,
    compliantUrl: urls.get(COMPLIANT)!,
    idpUrl: urls.get(IDP)!,
    urls,
    workerdPid,
    dispose: () => mf.dispose(),
  };
}
