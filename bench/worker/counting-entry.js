// Bench-only entry: the deployed gateway bundle, unmodified, behind a wrapper that counts KV
// calls and outbound fetches and answers `/__bench/*` itself. Module order matters: counters.js
// must be evaluated before the gateway (imports are evaluated in source order).
import { counts, countingDurableObjects, countingKv, memoryLimiter, resetCounts } from "./counters.js";
import gateway from "./gateway.js";

// The gateway's Durable Object classes (the usage ledger, the revocation log) must be exported by
// the entry that runs them.
export * from "./gateway.js";

// The runtime hands the same env object to every request of an isolate; keep one wrapped env
// per original so the gateway's per-env memoisation (config, caches) behaves as deployed.
const wrappedEnvs = new WeakMap();

function wrapEnv(env) {
  let wrapped = wrappedEnvs.get(env);
  if (!wrapped) {
    wrapped = { ...env, API_KEYS: countingKv(env.API_KEYS), REVOCATION_LOG: countingDurableObjects(env.REVOCATION_LOG) };
    // The Rate Limiting bindings: by default an in-isolate counter (what Cloudflare's binding keeps
    // on the machine that runs the Worker); `BENCH_LIMITER=rpc` keeps the cluster's stand-in, a
    // JS RPC to another worker per call (bench/worker/limiter.js).
    if (env.BENCH_LIMITER !== "rpc") {
      for (const name of Object.keys(env)) if (name.startsWith("RL_")) wrapped[name] = memoryLimiter();
    }
    wrappedEnvs.set(env, wrapped);
    counts.envObjects++;
  }
  return wrapped;
}

export default {
  async fetch(request, env, ctx) {
    // A substring test, not `new URL`: the floors pay no URL parse, and neither should the gateway
    // pay one for the bench's own routes.
    if (request.url.includes("/__bench/")) {
      const { pathname } = new URL(request.url);
      if (pathname === "/__bench/counters") return Response.json(counts);
      if (pathname === "/__bench/reset" && request.method === "POST") {
        resetCounts();
        return Response.json(counts);
      }
    }
    return gateway.fetch(request, wrapEnv(env), ctx);
  },
};
