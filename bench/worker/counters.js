// Bench-only instrumentation, evaluated before the gateway bundle (see counting-entry.js) so that
// even a `fetch` captured at the gateway's module scope goes through the counting wrapper.
// Never part of the production bundle: `npm run bench` loads it next to the unmodified
// `wrangler deploy --dry-run` output.

const zero = () => ({ kvReads: 0, kvReadCalls: 0, kvLists: 0, kvWrites: 0, outboundFetches: 0, jwksFetches: 0, revocationLogCalls: 0 });

/** Counts since the last reset, and since the isolate started (`totals`). */
export const counts = {
  ...zero(),
  totals: zero(),
  /** Distinct `env` objects seen: more than one would defeat per-env memoisation. */
  envObjects: 0,
};

/** Zero the since-reset counters (not the totals). */
export function resetCounts() {
  Object.assign(counts, zero());
}

function count(name, n = 1) {
  counts[name] += n;
  counts.totals[name] += n;
}

const realFetch = globalThis.fetch;
globalThis.fetch = function countingFetch(input, init) {
  count("outboundFetches");
  const url = input instanceof Request ? input.url : String(input);
  if (url.endsWith("/jwks.json")) count("jwksFetches");
  return realFetch(input, init);
};

const KV_READS = new Set(["get", "getWithMetadata"]);
const KV_WRITES = new Set(["put", "delete"]);

/** A KV namespace that counts its calls (a bulk `get([...])` is one call and one read per key). */
export function countingKv(kv) {
  return new Proxy(kv, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      return function countedKvCall(...args) {
        if (KV_READS.has(property)) {
          count("kvReadCalls");
          count("kvReads", Array.isArray(args[0]) ? args[0].length : 1);
        } else if (property === "list") count("kvLists");
        else if (KV_WRITES.has(property)) count("kvWrites");
        return value.apply(target, args);
      };
    },
  });
}

/** A Durable Object namespace whose stubs count every RPC call (the revocation log's load). */
export function countingDurableObjects(namespace) {
  return {
    idFromName: (name) => namespace.idFromName(name),
    get(id) {
      const stub = namespace.get(id);
      // RPC methods are called on the real stub; the wrapper only counts.
      return new Proxy(
        {},
        {
          get: (_, method) =>
            (...args) => {
              count("revocationLogCalls");
              return stub[method](...args);
            },
        },
      );
    },
  };
}

/**
 * A stand-in for one Rate Limiting binding, in the gateway's isolate: a fixed-window counter per
 * key in a Map, as Cloudflare describes its binding (counters cached on the machine running the
 * Worker, synchronised with the location in the background). It counts every call and allows
 * every one, so the load is never refused: what it measures is the gateway's side of a call plus
 * a counter update. The JS RPC stand-in (`BENCH_LIMITER=rpc`) is the pessimistic bound.
 */
export function memoryLimiter(periodSeconds = 60) {
  const windows = new Map();
  return {
    async limit({ key }) {
      const window = Math.floor(Date.now() / (periodSeconds * 1000));
      const counter = windows.get(key);
      if (counter === undefined || counter.window !== window) windows.set(key, { window, count: 1 });
      else counter.count++;
      return { success: true };
    },
  };
}
