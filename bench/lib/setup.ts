// One place that builds the gateway, starts workerd and seeds the credentials, for `npm run bench`
// and `npm run bench:profile` alike.
import { buildGateway, type Cluster, type FeatureSwitch, GATEWAY, type GatewayBuild, startCluster } from "./cluster";
import { createFixtures, type Fixtures } from "./fixtures";
import { createIdp } from "./tokens";

/** A started bench: the build, the running workers, and the credentials the scenarios send. */
export interface Bench {
  readonly build: GatewayBuild;
  readonly cluster: Cluster;
  readonly fixtures: Fixtures;
}

export interface BenchSetupOptions {
  /** wrangler environment whose bundle and vars are run (default `production`). */
  readonly env: string;
  readonly unknownKeys: number;
  /** Build this entry instead of wrangler.toml's `main` (A/B experiments; never for the budgets). */
  readonly entry?: string;
  /** Also build these entries and run each next to the gateway as worker `variant:<name>`. */
  readonly compare?: readonly string[];
  /** The gateway again with features switched off, each as worker `variant:<label>`. */
  readonly switches?: readonly FeatureSwitch[];
  /** Start workerd's inspector on this port (profiling only: it slows the runtime). */
  readonly inspectorPort?: number;
}

/** Build, start and seed. The caller disposes `cluster`. */
export async function setUpBench(options: BenchSetupOptions): Promise<Bench> {
  const build = buildGateway(options.env, options.entry);
  const idp = await createIdp();
  // A fresh pepper per run: the secret the deployment adds to its vars.
  const pepper = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
  // The environment's vars exactly as deployed; CLERK_JWT_KEY stays as configured (empty), so the
  // token path exercises the JWKS fetch and its cache. Outbound fetches reach the bench's IdP.
  const variants = (options.compare ?? []).map((entry) => buildGateway(options.env, entry));
  const cluster = await startCluster({
    build,
    variants,
    switches: options.switches ?? [],
    extraBindings: { API_KEY_PEPPER: pepper },
    jwks: idp.jwks,
    ...(options.inspectorPort ? { inspectorPort: options.inspectorPort } : {}),
  });
  try {
    const fixtures = await createFixtures({
      kv: await cluster.mf.getKVNamespace("API_KEYS", GATEWAY),
      environment: build.vars["ENVIRONMENT"] ?? options.env,
      pepper,
      idp,
      issuer: build.vars["CLERK_ISSUER"] ?? "",
      authorizedParty: (build.vars["CLERK_AUTHORIZED_PARTIES"] ?? "").split(",")[0]!.trim(),
      unknownKeyCount: options.unknownKeys,
      extraOrgKeys: 8,
      tokenLifetimeSeconds: 60,
    });
    return { build, cluster, fixtures };
  } catch (error) {
    await cluster.dispose();
    throw error;
  }
}

/** Counters kept by the bench-only entry around the gateway (bench/worker/counters.js). */
export interface Counters {
  kvReads: number;
  kvReadCalls: number;
  kvLists: number;
  kvWrites: number;
  outboundFetches: number;
  jwksFetches: number;
  /** RPC calls to the revocation log (Durable Object): its load under the bench. */
  revocationLogCalls: number;
  totals: Omit<Counters, "totals" | "envObjects">;
  envObjects: number;
}

/** Read a gateway-like worker's counters (the gateway's by default), zeroing the since-reset ones when `reset`. */
export async function readCounters(cluster: Cluster, reset: boolean, worker: string = GATEWAY): Promise<Counters> {
  const response = await fetch(`${cluster.urls.get(worker)}/__bench/${reset ? "reset" : "counters"}`, {
    method: reset ? "POST" : "GET",
  });
  if (!response.ok) throw new Error(`bench counters answered ${response.status}`);
  return (await response.json()) as Counters;
}
