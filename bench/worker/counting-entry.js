// Bench-only entry: the deployed gateway bundle, unmodified, behind a wrapper that counts KV
// calls and outbound fetches and answers `/__bench/*` itself. Module order matters: counters.js
// must be evaluated before the gateway (imports are evaluated in source order).
import { counts, countingDurableObjects, countingKv, resetCounts } from "./counters.js";
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
    wrappedEnvs.set(env, wrapped);
    counts.envObjects++;
  }
  return wrapped;
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__bench/counters") return Response.json(counts);
    if (url.pathname === "/__bench/reset" && request.method === "POST") {
      resetCounts();
      return Response.json(counts);
    }
    return gateway.fetch(request, wrapEnv(env), ctx);
  },
};
