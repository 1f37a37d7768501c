// The scenarios of the benchmark: what each sends, what it must answer, and what it must meet.
import { JWKS_FRESH_MS } from "../../src/auth/jwks-cache";
import { UNKNOWN_TTL_MS } from "../../src/keys/cache";
import { type Cluster, COMPLIANT, FLOOR, type FeatureSwitch, GATEWAY } from "./cluster";
import type { Fixtures } from "./fixtures";
import type { LoadRequest } from "./load";
import type { Budget } from "./stats";

export { JWKS_FRESH_MS };

/** One load scenario. */
export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** `floor`: the passthrough; `compliant`: the minimal compliant forwarder (the budgets' floor). */
  readonly target: "floor" | "compliant" | "gateway";
  /** The worker the load goes to: a floor, the gateway, or an A/B variant of it. */
  readonly worker: string;
  /** True for a variant's copy of a scenario: informational, no budget. */
  readonly variant?: boolean;
  /** The status every response must have. */
  readonly expectedStatus: number;
  /** The problem `code` a refusal carries (checked once before the load). */
  readonly expectedCode?: string;
  /** The budget, given how long the scenario ran from its first request to its last (ms). */
  budget(spanMs: number): Budget;
  /** The cycle of requests for one run (called before every run: tokens are minted fresh). */
  requests(): Promise<LoadRequest[]>;
}

export const CHAT_PATH = "/v1/chat/completions";

/** Cache periods that a span of `spanMs` can touch: a fresh fetch at the start and one per period after. */
export const periods = (spanMs: number, periodMs: number) => Math.floor(spanMs / periodMs) + 1;

/** Every scenario, the two floors first. */
export function scenarios(f: Fixtures): Scenario[] {
  const get = (headers: Record<string, string>, path = CHAT_PATH): LoadRequest => ({ method: "GET", path, headers });
  return [
    {
      name: "floor",
      description: "passthrough worker → origin (no auth, no routing)",
      target: "floor",
      worker: FLOOR,
      expectedStatus: 200,
      budget: () => ({}),
      // Same bytes on the wire as the warm-key scenario.
      requests: async () => [get({ "x-api-key": f.chatKey })],
    },
    {
      name: "compliant",
      description: "minimal compliant forwarder → origin (strip, identity headers, request id, re-wrap; no auth)",
      target: "compliant",
      worker: COMPLIANT,
      expectedStatus: 200,
      budget: () => ({}),
      requests: async () => [get({ "x-api-key": f.chatKey })],
    },
    {
      name: "warm-key",
      description: "x-api-key, valid, cached in the isolate",
      target: "gateway",
      worker: GATEWAY,
      expectedStatus: 200,
      budget: () => ({ minRatio: 0.9 }),
      requests: async () => [get({ "x-api-key": f.chatKey })],
    },
    {
      name: "warm-token",
      description: "Bearer session token (RS256, JWKS over fetch), reused",
      target: "gateway",
      worker: GATEWAY,
      expectedStatus: 200,
      budget: () => ({ minRatio: 0.9 }),
      requests: async () => [get({ authorization: `Bearer ${await f.sessionToken()}` })],
    },
    {
      name: "unknown-keys",
      description: `well-formed keys never issued (${f.unknownKeys.length} distinct, cycled)`,
      target: "gateway",
      worker: GATEWAY,
      expectedStatus: 401,
      expectedCode: "invalid_api_key",
      // One KV read per distinct key per isolate (one here) per negative-cache period.
      budget: (spanMs) => ({ minRatio: 0.9, maxKvReads: f.unknownKeys.length * periods(spanMs, UNKNOWN_TTL_MS) }),
      requests: async () => f.unknownKeys.map((key) => get({ "x-api-key": key })),
    },
    {
      name: "malformed-keys",
      description: "keys with a bad checksum",
      target: "gateway",
      worker: GATEWAY,
      expectedStatus: 401,
      expectedCode: "invalid_api_key",
      budget: () => ({ maxKvReads: 0 }),
      requests: async () => f.malformedKeys.map((key) => get({ "x-api-key": key })),
    },
    {
      name: "key-list",
      description: `GET /v1/chat/api-keys (${f.orgKeyCount} keys in the org)`,
      target: "gateway",
      worker: GATEWAY,
      expectedStatus: 200,
      budget: () => ({}),
      requests: async () => [get({ "x-api-key": f.listKey }, "/v1/chat/api-keys")],
    },
  ];
}

/**
 * Features on the request path, each switched off by its var in a copy of the gateway that runs
 * in the same rounds: `warm-key@no-<feature>` against `warm-key` is the feature's cost. `all-off`
 * switches every one of them off at once.
 */
export const FEATURE_SWITCHES: readonly FeatureSwitch[] = (() => {
  const features: FeatureSwitch[] = [
    { label: "no-usage", bindings: { USAGE_COUNTING: "off" } },
    { label: "no-revocation-feed", bindings: { REVOCATION_FEED: "off" } },
    { label: "no-rate-limits", bindings: { RATE_LIMITS_ENABLED: "false" } },
    { label: "no-access-log", bindings: { ACCESS_LOG: "off" } },
  ];
  const allOff = Object.assign({}, ...features.map((f) => f.bindings)) as Record<string, string>;
  // Not a feature: the Rate Limiting bindings reached by a JS RPC per call instead of the
  // in-isolate counter (bench/worker/counters.js), the pessimistic bound of what a call costs.
  const rpcLimiter = { label: "rpc-limiter", bindings: { BENCH_LIMITER: "rpc" } };
  return [...features, ...(features.length > 1 ? [{ label: "all-off", bindings: allOff }] : []), rpcLimiter];
})();

/** The scenarios a feature switch is measured on. */
export const SWITCHED_SCENARIOS = new Set(["warm-key", "warm-token"]);

/** The gateway scenarios again, against an A/B variant worker (`warm-key@fast-path`), without budgets. */
export function variantScenarios(base: readonly Scenario[], worker: string): Scenario[] {
  const label = worker.replace(/^variant:/, "");
  const isSwitch = FEATURE_SWITCHES.some((f) => f.label === label);
  return base
    .filter((s) => s.target === "gateway" && (!isSwitch || SWITCHED_SCENARIOS.has(s.name)))
    .map((s) => ({ ...s, name: `${s.name}@${label}`, worker, variant: true, budget: () => ({}) }));
}

/** The socket a scenario's load goes to. */
export function scenarioUrl(cluster: Cluster, scenario: Scenario): string {
  const url = cluster.urls.get(scenario.worker);
  if (!url) throw new Error(`no worker ${scenario.worker}`);
  return url;
}

/** One request of the scenario, checked in full (status, problem code, identity headers at the origin). */
export async function sanityCheck(cluster: Cluster, scenario: Scenario): Promise<void> {
  const [request] = await scenario.requests();
  const response = await fetch(scenarioUrl(cluster, scenario) + request!.path, { method: request!.method, headers: request!.headers });
  const text = await response.text();
  const fail = (why: string) => {
    throw new Error(`scenario ${scenario.name}: ${why} (status ${response.status}, body ${text.slice(0, 300)})`);
  };
  if (response.status !== scenario.expectedStatus) fail(`expected status ${scenario.expectedStatus}`);
  const body = JSON.parse(text) as Record<string, unknown>;
  if (scenario.expectedCode !== undefined) {
    if (body["code"] !== scenario.expectedCode) fail(`expected code ${scenario.expectedCode}`);
    if (!response.headers.get("www-authenticate")?.startsWith("Bearer ")) fail("401 without WWW-Authenticate");
  }
  if (scenario.target === "gateway" && !response.headers.get("x-request-id")) fail("no x-request-id");
  if (scenario.target === "gateway" && scenario.expectedStatus === 200 && request!.path === CHAT_PATH) {
    // The echo origin returns the headers it received: the gateway's identity, never the credential.
    const seen = body["headers"] as Record<string, string>;
    if (seen["x-agntix-org-id"] === undefined) fail("origin did not receive x-agntix-org-id");
    if (seen["x-api-key"] !== undefined || seen["authorization"] !== undefined) fail("credential forwarded to the origin");
  }
}

