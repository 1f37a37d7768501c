/**
 * The fault injector: wraps the gateway's bindings (KV, origin Fetchers) and the outbound fetch of
 * the JWKS so that a call throws, hangs past its timeout, succeeds slowly, or (origins) resets
 * mid-stream, at a configurable rate. Decisions come from a stream seeded by (seed, operation),
 * so an operation meets the same faults however the others interleave (as far as its own calls go).
 *
 * Nothing here touches production code: the runner passes `wrapEnv(env)` to the app's `fetch`.
 */
import { Random } from "./prng";

/** What an injected failure looks like to the caller: a name the gateway may log, and a marker it must never echo. */
export const INTERNAL_MARKER = "chaos-internal-detail-7f3a";

/** Fault kinds per store, as counted in a run's figures. */
export type FaultMode = "throw" | "hang" | "slow" | "reset" | "applied-then-timeout" | "limited";

/** Test-only planted bugs: each makes the system under test wrong in one way an invariant must notice. */
export type PlantedBug =
  /** KV deletes of hash entries and appends to the revocation log are acknowledged and lost (invariant 1). */
  | "lose-revocation"
  /** Writes of the organisation index are silently lost: keys work but are never listed (invariant 2). */
  | "drop-index"
  /** A list of one organisation reads another's index (invariant 4). */
  | "cross-org-list"
  /** The origin receives another organisation's id in `x-agntix-org-id` (invariant 4). */
  | "wrong-identity"
  /** Creates fail after their management entries are written, and their rollback is lost (invariant 5). */
  | "no-rollback";

export interface FaultOptions {
  /** Probability that one binding call fails in some way (0 disables faults). */
  readonly rate: number;
  /** How long a hanging call waits before it fails as timed out (ms). */
  readonly hangMs: number;
  /** Largest delay of a slow call (ms). */
  readonly slowMaxMs: number;
  readonly planted?: PlantedBug;
  /** For `cross-org-list` and `wrong-identity`: the organisation whose data leaks in. */
  readonly otherOrg?: string;
  /**
   * Compressed time: the retention the gateway's appends ask of the revocation log (ms), so that
   * a short run sees entries swept and pruned (the deployed 600 s would outlast it).
   */
  readonly retentionMs?: number;
}

export const DEFAULT_FAULTS: FaultOptions = { rate: 0.05, hangMs: 40, slowMaxMs: 15 };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function timeoutError(what: string): Error {
  const error = new Error(`chaos: ${what} timed out (${INTERNAL_MARKER})`);
  error.name = "TimeoutError";
  return error;
}

/** Counts of injected faults by kind (`kv.put.throw`, `origin.reset`, …). */
export class FaultCounts {
  readonly byKind = new Map<string, number>();
  calls = 0;
  add(kind: string): void {
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
  }
  get total(): number {
    let n = 0;
    for (const v of this.byKind.values()) n += v;
    return n;
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.byKind].sort(([a], [b]) => a.localeCompare(b)));
  }
}

/**
 * One client's view of the injector: its bindings draw from the stream of the operation it is
 * running (`begin(op)`), so faults are reproducible per operation.
 */
export class FaultScope {
  #random: Random;
  enabled = true;
  /** The faults injected since `begin` (what the current operation met). */
  injected: string[] = [];

  constructor(
    readonly seed: number,
    readonly stream: number,
    readonly options: FaultOptions,
    readonly counts: FaultCounts,
  ) {
    this.#random = new Random(seed, stream);
  }

  /** Start drawing from operation `op`'s stream. */
  begin(op: number): void {
    this.#random = new Random(this.seed, this.stream, op);
    this.injected = [];
  }

  /** The fault for the next call on `store.method`, if any (counted). */
  decide(store: string, method: string, modes: readonly FaultMode[], scale = 1): FaultMode | undefined {
    this.counts.calls++;
    if (!this.enabled || this.options.rate <= 0) return undefined;
    if (!this.#random.chance(this.options.rate * scale)) return undefined;
    const mode = this.#random.pick(modes);
    this.counts.add(`${store}.${method}.${mode}`);
    this.injected.push(`${store}.${method}.${mode}`);
    return mode;
  }

  slowDelay(): number {
    return 1 + this.#random.int(this.options.slowMaxMs);
  }
}

type Method = (...args: unknown[]) => Promise<unknown>;

const READ_MODES: readonly FaultMode[] = ["throw", "hang", "slow"];
const WRITE_MODES: readonly FaultMode[] = ["throw", "hang", "slow", "applied-then-timeout"];

/** KV's keys named in a call's first argument (a key or an array of keys). */
const keysOf = (arg: unknown): string[] => (Array.isArray(arg) ? (arg as string[]) : typeof arg === "string" ? [arg] : []);

/** A KV namespace whose calls fail as `scope` decides. */
export function faultyKv(inner: KVNamespace, scope: FaultScope): KVNamespace {
  const { planted, otherOrg } = scope.options;
  const call = (name: "get" | "getWithMetadata" | "put" | "delete" | "list", write: boolean) =>
    async function (...args: unknown[]): Promise<unknown> {
      const run = () => (inner[name] as unknown as Method).apply(inner, args);
      const key = keysOf(args[0])[0] ?? "";
      if (planted === "lose-revocation" && name === "delete" && key.startsWith("h:")) return undefined;
      if (planted === "drop-index" && name === "put" && key.startsWith("o:")) return undefined;
      if (planted === "no-rollback") {
        if (name === "delete" && (key.startsWith("k:") || key.startsWith("o:"))) return undefined;
        if (name === "put" && key.startsWith("h:")) throw new Error("chaos: planted hash write failure");
      }
      if (planted === "cross-org-list" && name === "list" && otherOrg) {
        const options = { ...(args[0] as KVNamespaceListOptions) };
        if (options.prefix?.startsWith("o:") && !options.prefix.startsWith(`o:${encodeURIComponent(otherOrg)}:`)) {
          options.prefix = `o:${encodeURIComponent(otherOrg)}:`;
          return inner.list(options);
        }
      }
      const mode = scope.decide("kv", name, write ? WRITE_MODES : READ_MODES);
      switch (mode) {
        case undefined:
          return run();
        case "throw":
          throw new Error(`chaos: KV ${name} failed (${INTERNAL_MARKER})`);
        case "hang":
          await sleep(scope.options.hangMs);
          throw timeoutError(`KV ${name}`);
        case "applied-then-timeout":
          // The write reached the store, but its caller only learns that it timed out.
          await run();
          await sleep(scope.options.hangMs);
          throw timeoutError(`KV ${name}`);
        case "slow": {
          await sleep(scope.slowDelay());
          return run();
        }
        default:
          return run();
      }
    };
  return {
    get: call("get", false),
    getWithMetadata: call("getWithMetadata", false),
    put: call("put", true),
    delete: call("delete", true),
    list: call("list", false),
  } as unknown as KVNamespace;
}

const ORIGIN_MODES: readonly FaultMode[] = ["throw", "hang", "slow", "reset"];

/** A body that delivers its first chunk and then fails, as a connection reset mid-stream would. */
function resetAfterFirstChunk(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let sent = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent) {
        await reader.cancel().catch(() => undefined);
        controller.error(new Error(`chaos: connection reset (${INTERNAL_MARKER})`));
        return;
      }
      const { done, value } = await reader.read();
      if (done || !value) {
        controller.error(new Error(`chaos: connection reset (${INTERNAL_MARKER})`));
        return;
      }
      sent = true;
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/** An origin service binding whose calls fail as `scope` decides. */
export function faultyFetcher(inner: Fetcher, name: string, scope: FaultScope): Fetcher {
  const { planted, otherOrg } = scope.options;
  return {
    async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
      if (planted === "wrong-identity" && otherOrg && init?.headers) {
        const headers = new Headers(init.headers);
        headers.set("x-agntix-org-id", otherOrg);
        init = { ...init, headers };
      }
      const mode = scope.decide("origin", name, ORIGIN_MODES);
      switch (mode) {
        case "throw":
          throw new Error(`chaos: ${name} origin exploded (${INTERNAL_MARKER})`);
        case "hang": {
          // Until the gateway gives up (its abort signal), or the hang time if it never does.
          const signal = init?.signal ?? undefined;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.max(scope.options.hangMs, 5_000));
            signal?.addEventListener("abort", () => {
              clearTimeout(timer);
              resolve();
            });
          });
          if (signal?.aborted) throw signal.reason ?? new DOMException("aborted", "AbortError");
          throw timeoutError(`${name} origin`);
        }
        case "slow":
          await sleep(scope.slowDelay());
          return inner.fetch(input as RequestInfo, init);
        case "reset": {
          const response = await inner.fetch(input as RequestInfo, init);
          if (!response.body || response.status === 101) return response;
          return new Response(resetAfterFirstChunk(response.body), response);
        }
        default:
          return inner.fetch(input as RequestInfo, init);
      }
    },
    connect: inner.connect.bind(inner),
  } as Fetcher;
}

const RPC_MODES: readonly FaultMode[] = ["throw", "hang", "slow", "applied-then-timeout"];

/**
 * A Durable Object namespace whose stubs' RPC calls fail as `scope` decides (`do.<name>.<method>`).
 * `applied-then-timeout`: the object did the work, its caller hears a timeout. With the
 * `lose-revocation` plant, appends to the revocation log are acknowledged and dropped.
 */
export function faultyDurableObjects<N extends DurableObjectNamespace<never>>(inner: N, name: string, scope: FaultScope): N {
  const wrapStub = (stub: Record<string | symbol, unknown>) =>
    new Proxy(stub, {
      get(target, prop) {
        const value = target[prop];
        if (typeof value !== "function" || typeof prop !== "string" || prop === "then") return value;
        return async (...args: unknown[]) => {
          if (name === "revocation_log" && prop === "append" && scope.options.retentionMs !== undefined) args = [args[0], scope.options.retentionMs, ...args.slice(2)];
          const call = () => (target[prop] as (...a: unknown[]) => Promise<unknown>)(...args);
          if (scope.options.planted === "lose-revocation" && name === "revocation_log" && prop === "append") return { seq: 0 };
          const mode = scope.decide("do", `${name}.${prop}`, RPC_MODES);
          switch (mode) {
            case "throw":
              throw new Error(`chaos: Durable Object ${name}.${prop} failed (${INTERNAL_MARKER})`);
            case "hang":
              await sleep(scope.options.hangMs);
              throw timeoutError(`Durable Object ${name}.${prop}`);
            case "applied-then-timeout":
              await call();
              await sleep(scope.options.hangMs);
              throw timeoutError(`Durable Object ${name}.${prop}`);
            case "slow":
              await sleep(scope.slowDelay());
              return call();
            default:
              return call();
          }
        };
      },
    });
  return new Proxy(inner, {
    get(target, prop) {
      const value = (target as unknown as Record<string | symbol, unknown>)[prop];
      if (prop === "get") return (id: DurableObjectId, options?: unknown) => wrapStub(target.get(id, options as never) as unknown as Record<string | symbol, unknown>);
      if (prop === "getByName") return (n: string, options?: unknown) => wrapStub(target.get(target.idFromName(n), options as never) as unknown as Record<string | symbol, unknown>);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A D1 database whose statements (`run`, `first`, `all`, `raw`) and batches fail as `scope` decides (`d1.<method>`). */
export function faultyD1(inner: D1Database, scope: FaultScope): D1Database {
  const innerOf = new WeakMap<object, D1PreparedStatement>();
  const fault = async <T>(method: string, call: () => Promise<T>, write: boolean): Promise<T> => {
    const mode = scope.decide("d1", method, write ? RPC_MODES : READ_MODES);
    switch (mode) {
      case "throw":
        throw new Error(`chaos: D1 ${method} failed (${INTERNAL_MARKER})`);
      case "hang":
        await sleep(scope.options.hangMs);
        throw timeoutError(`D1 ${method}`);
      case "applied-then-timeout": {
        await call();
        await sleep(scope.options.hangMs);
        throw timeoutError(`D1 ${method}`);
      }
      case "slow":
        await sleep(scope.slowDelay());
        return call();
      default:
        return call();
    }
  };
  const isWrite = (sql: string) => !/^\s*select\b/i.test(sql);
  const wrapStatement = (statement: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const wrapped = {
      bind: (...values: unknown[]) => wrapStatement(statement.bind(...values), sql),
      first: (column?: string) => fault("first", () => (column === undefined ? statement.first() : statement.first(column)), false),
      run: () => fault("run", () => statement.run(), isWrite(sql)),
      all: () => fault("all", () => statement.all(), isWrite(sql)),
      raw: (options?: { columnNames?: boolean }) => fault("raw", () => statement.raw(options as never), isWrite(sql)),
    } as unknown as D1PreparedStatement;
    innerOf.set(wrapped, statement);
    return wrapped;
  };
  return {
    prepare: (sql: string) => wrapStatement(inner.prepare(sql), sql),
    batch: (statements: D1PreparedStatement[]) => fault("batch", () => inner.batch(statements.map((s) => innerOf.get(s) ?? s)), true),
    exec: (sql: string) => fault("exec", () => inner.exec(sql), true),
    dump: () => inner.dump(),
    withSession: (...args: unknown[]) => (inner as unknown as { withSession: (...a: unknown[]) => unknown }).withSession(...args),
  } as unknown as D1Database;
}

const RATE_LIMIT_MODES: readonly FaultMode[] = ["limited", "throw", "slow"];
/**
 * Limiter calls fail at a tenth of the rate: a "limited" answer is remembered by the isolate for a
 * second for the whole counter (an organisation's, say), so at the full rate most of the run
 * would be 429s and judge nothing else.
 */
const RATE_LIMIT_SCALE = 0.1;

/**
 * A Rate Limiting binding (`RL_…`) that lets every call through unless `scope` decides on a fault:
 * `limited` (the binding answers "over the limit": a 429), `throw` (the limiter is down: the
 * gateway fails open for traffic, closed with 503 for key-API writes), `slow`. It never asks the
 * real binding: locally a limit is per binding, not per key, and the run's volume would exhaust it.
 */
export function faultyRateLimit(name: string, scope: FaultScope): RateLimit {
  return {
    async limit(_options: RateLimitOptions): Promise<RateLimitOutcome> {
      const mode = scope.decide("ratelimit", name, RATE_LIMIT_MODES, RATE_LIMIT_SCALE);
      if (mode === "limited") return { success: false };
      if (mode === "throw") throw new Error(`chaos: rate limiter ${name} failed (${INTERNAL_MARKER})`);
      if (mode === "slow") await sleep(scope.slowDelay());
      return { success: true };
    },
  } as RateLimit;
}

/** The gateway's bindings with every store and origin behind the injector. */
export function faultyBindings<E extends { API_KEYS: KVNamespace; CHAT: Fetcher; VOICE: Fetcher }>(env: E, scope: FaultScope): E {
  const e = env as E & { REVOCATION_LOG?: DurableObjectNamespace<never>; USAGE?: DurableObjectNamespace<never>; AUDIT_DB?: D1Database };
  const limiters = Object.fromEntries(
    Object.keys(env)
      .filter((name) => name.startsWith("RL_"))
      .map((name) => [name, faultyRateLimit(name, scope)]),
  );
  return {
    ...env,
    ...limiters,
    API_KEYS: faultyKv(env.API_KEYS, scope),
    CHAT: faultyFetcher(env.CHAT, "chat", scope),
    VOICE: faultyFetcher(env.VOICE, "voice", scope),
    ...(e.REVOCATION_LOG ? { REVOCATION_LOG: faultyDurableObjects(e.REVOCATION_LOG, "revocation_log", scope) } : {}),
    ...(e.USAGE ? { USAGE: faultyDurableObjects(e.USAGE, "usage", scope) } : {}),
    ...(e.AUDIT_DB ? { AUDIT_DB: faultyD1(e.AUDIT_DB, scope) } : {}),
  };
}

const JWKS_MODES: readonly FaultMode[] = ["throw", "hang", "slow"];

/**
 * Wrap the global `fetch` (the gateway's only outbound call is the JWKS) so that requests to
 * `jwksUrl` fail as `scope` decides. Returns the function that restores the original.
 */
export function faultyJwksFetch(jwksUrl: string, scope: FaultScope): () => void {
  const original = globalThis.fetch;
  globalThis.fetch = async function chaosFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (url !== jwksUrl) return original(input, init);
    const mode = scope.decide("jwks", "fetch", JWKS_MODES);
    if (mode === "throw") throw new TypeError(`chaos: network error (${INTERNAL_MARKER})`);
    if (mode === "hang") {
      const signal = init?.signal ?? undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, scope.options.hangMs);
        signal?.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      throw signal?.aborted ? (signal.reason ?? new DOMException("aborted", "AbortError")) : timeoutError("JWKS fetch");
    }
    if (mode === "slow") await sleep(scope.slowDelay());
    return original(input, init);
  } as typeof fetch;
  return () => {
    globalThis.fetch = original;
  };
}

const CACHE_MODES: readonly FaultMode[] = ["throw", "hang", "slow"];

/**
 * Put the location's Cache API (`caches.default`: revocation markers, persisted JWKS) behind the
 * injector, by replacing `match` and `put` on the one Cache object the gateway uses. With the
 * `lose-revocation` plant, writes of revocation markers are silently dropped. Returns the restorer.
 */
export function faultyCacheApi(scope: FaultScope): () => void {
  const cache = caches.default as Cache & Record<string, unknown>;
  const match = cache.match;
  const put = cache.put;
  const decide = async (method: string): Promise<void> => {
    const mode = scope.decide("cache", method, CACHE_MODES);
    if (mode === "throw") throw new Error(`chaos: Cache API ${method} failed (${INTERNAL_MARKER})`);
    if (mode === "hang") {
      await sleep(scope.options.hangMs);
      throw timeoutError(`Cache API ${method}`);
    }
    if (mode === "slow") await sleep(scope.slowDelay());
  };
  const urlOf = (request: RequestInfo | URL) => (typeof request === "string" ? request : request instanceof URL ? request.href : request.url);
  Object.defineProperty(cache, "match", {
    configurable: true,
    writable: true,
    value: async function chaosMatch(request: RequestInfo | URL, options?: CacheQueryOptions) {
      await decide("match");
      return match.call(cache, request, options);
    },
  });
  Object.defineProperty(cache, "put", {
    configurable: true,
    writable: true,
    value: async function chaosPut(request: RequestInfo | URL, response: Response) {
      if (scope.options.planted === "lose-revocation" && urlOf(request).startsWith("https://revoked-api-keys.")) {
        await response.body?.cancel();
        return undefined;
      }
      await decide("put");
      return put.call(cache, request, response);
    },
  });
  return () => {
    Reflect.deleteProperty(cache, "match");
    Reflect.deleteProperty(cache, "put");
  };
}
