// Several gateway "locations" in one test: each has its own bindings object (so its own parsed
// config and its own isolate state), its own Cache API cache (the location copy of the feed), its
// own key caches, and a KV stand-in that serves a value it has read for 60 s (as real KV may at a
// location other than the writer's). All share the real Durable Object and the real KV behind.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Bindings } from "../../src/env";
import { getConfig } from "../../src/env";
import { createKeyCaches } from "../../src/keys/cache";
import type { RevocationLog } from "../../src/revocation/durable-object";
import { installFeed, RevocationFeed } from "../../src/revocation/feed";
import { revocationLog } from "../../src/revocation/log";
import app from "../../src/index";
import { BASE, callGateway } from "./keys";

/** How long the KV stand-in serves a value it has read, whatever happens to it meanwhile. */
export const KV_STALE_MS = 60_000;

/** A KV binding whose reads of one key return the same value for `staleMs` after the first read (by `Date.now`). */
export function staleKv(inner: KVNamespace = env.API_KEYS, staleMs = KV_STALE_MS): KVNamespace {
  const held = new Map<string, { value: string | null; until: number }>();
  return {
    async get(key: unknown, options?: unknown) {
      if (typeof key !== "string") return (inner.get as (...a: unknown[]) => unknown)(key, options);
      const now = Date.now();
      const cached = held.get(key);
      if (cached && now < cached.until) return cached.value;
      const value = (await inner.get(key, { type: "text" })) as string | null;
      held.set(key, { value, until: now + staleMs });
      return value;
    },
    put: inner.put.bind(inner),
    delete: inner.delete.bind(inner),
    list: inner.list.bind(inner),
    getWithMetadata: inner.getWithMetadata.bind(inner),
  } as unknown as KVNamespace;
}

/** Log calls made by one location, and a switch to make them fail or hang. */
export interface LogProbe {
  since: number;
  append: number;
  mode: "ok" | "throw" | "hang";
  /** Log and Cache API calls of this location still in flight (see `Location.settle`). */
  pending: number;
  /**
   * How this location's appends go wrong, whatever `mode` says: `applied-then-hang` — the log takes
   * the entries, the caller never hears back (it times out); `late` — the append reaches the log
   * only after the caller asked whether it landed (`late` holds that append's settled promise).
   */
  appendFault?: "applied-then-hang" | "late";
  late?: Promise<unknown>;
  /** Make the "did my append land?" question fail (throw) too. */
  outcomeFails?: boolean;
  /** Calls of `appendOutcome`. */
  outcome: number;
}

/** Count `call` in `probe.pending` until it settles. */
function tracked<T>(probe: LogProbe, call: () => Promise<T>): Promise<T> {
  probe.pending++;
  let promise: Promise<T>;
  try {
    promise = call();
  } catch (error) {
    probe.pending--;
    return Promise.reject(error);
  }
  return promise.finally(() => probe.pending--);
}

/** A Cache API cache whose calls are counted in `probe.pending`. */
function trackedCache(inner: Cache, probe: LogProbe): Cache {
  return {
    match: (...args: Parameters<Cache["match"]>) => tracked(probe, () => inner.match(...args)),
    put: (...args: Parameters<Cache["put"]>) => tracked(probe, () => inner.put(...args)),
    delete: (...args: Parameters<Cache["delete"]>) => tracked(probe, () => inner.delete(...args)),
  } as Cache;
}

/** The real Durable Object namespace, wrapped to count (and optionally break) one location's calls. */
export function probedLog(probe: LogProbe): DurableObjectNamespace<RevocationLog> {
  const real = env.REVOCATION_LOG;
  const heldAppends: (() => void)[] = [];
  const guard = <T>(call: () => Promise<T>): Promise<T> => {
    if (probe.mode === "throw") return Promise.reject(new Error("Durable Object unreachable (test)"));
    if (probe.mode === "hang") return new Promise<T>(() => undefined);
    return tracked(probe, call);
  };
  return {
    idFromName: (name: string) => real.idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = real.get(id);
      return {
        since: (seq: number, limit: number) => {
          probe.since++;
          return guard(() => stub.since(seq, limit) as Promise<unknown>);
        },
        append: (entries: never, retention: number, id?: string) => {
          probe.append++;
          const fault = probe.appendFault;
          if (fault === "applied-then-hang") return tracked(probe, () => stub.append(entries, retention, id) as Promise<unknown>).then(() => new Promise(() => undefined));
          if (fault === "late") {
            let release!: () => void;
            const released = new Promise<void>((resolve) => (release = resolve));
            probe.late = released.then(() => stub.append(entries, retention, id) as Promise<unknown>).then(
              (value) => ({ landed: value }),
              (error: unknown) => ({ refused: String(error) }),
            );
            heldAppends.push(release);
            return new Promise(() => undefined);
          }
          return guard(() => stub.append(entries, retention, id) as Promise<unknown>);
        },
        appendOutcome: async (id: string) => {
          probe.outcome++;
          if (probe.outcomeFails) throw new Error("Durable Object unreachable (test)");
          const answer = await guard(() => stub.appendOutcome(id) as Promise<unknown>);
          // A held (`late`) append reaches the log only now, after the question.
          for (const release of heldAppends.splice(0)) release();
          return answer;
        },
        refusedFrom: (hash: string, orgId: string, createdAt: number, exceptReason?: never) =>
          guard(() => stub.refusedFrom(hash, orgId, createdAt, exceptReason) as Promise<unknown>),
      };
    },
  } as unknown as DurableObjectNamespace<RevocationLog>;
}

/** One simulated location. */
export interface Location {
  readonly name: string;
  readonly bindings: Bindings;
  readonly feed: RevocationFeed;
  readonly probe: LogProbe;
  call(path: string, init?: RequestInit): Promise<Response>;
  /**
   * Call without waiting for the work behind the response (an open stream's watchdog runs there):
   * the response, and `done` to await once the stream has ended.
   */
  open(path: string, init?: RequestInit): Promise<{ res: Response; done: () => Promise<void> }>;
  /** Resolves once none of this location's log or Cache API calls is in flight (a simulated clock steps between them). */
  settle(): Promise<void>;
}

let counter = 0;

// Captured before any test fakes the timers: settling waits on real I/O.
const realSetTimeout = globalThis.setTimeout.bind(globalThis);
const realTick = () => new Promise<void>((resolve) => realSetTimeout(resolve, 1));

/** A new location with its own cache, key caches, stale KV and counted log calls. */
export async function makeLocation(name: string, vars: Partial<Bindings> = {}): Promise<Location> {
  const probe: LogProbe = { since: 0, append: 0, mode: "ok", pending: 0, outcome: 0 };
  // Rate limits off: every simulated location would share Miniflare's one limiter, where real
  // locations each count their own (the simulations send hundreds of requests with one key).
  const bindings: Bindings = {
    ...(env as unknown as Bindings),
    RATE_LIMITS_ENABLED: "false",
    ...vars,
    API_KEYS: staleKv(),
    REVOCATION_LOG: probedLog(probe),
  };
  const config = getConfig(bindings);
  const cache = trackedCache(await caches.open(`location-${name}-${++counter}`), probe);
  const feed = new RevocationFeed({
    config: config.revocation,
    log: () => revocationLog(bindings.REVOCATION_LOG, config.revocation),
    cache: () => cache,
    keyCaches: createKeyCaches(),
  });
  installFeed(bindings, feed);
  return {
    name,
    bindings,
    feed,
    probe,
    call: (path, init) => callGateway(bindings, path, init),
    async open(path, init) {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(`${BASE}${path}`, init), bindings, ctx);
      return { res, done: () => waitOnExecutionContext(ctx) };
    },
    async settle() {
      // A look chains its calls in microtasks: in flight is zero only between looks.
      for (let i = 0; i < 1000 && probe.pending > 0; i++) await realTick();
      await realTick();
    },
  };
}
