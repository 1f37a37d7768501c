// The load generator: autocannon against one worker's socket on 127.0.0.1, bounded in time.
import autocannon from "autocannon";

/** One HTTP request the load generator sends (prebuilt, so every scenario costs the client alike). */
export interface LoadRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** What one bounded run measured. */
export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly reqPerSec: number;
  /** Response latencies in milliseconds, every response (not only 2xx). */
  readonly latenciesMs: Float64Array;
  readonly statuses: Readonly<Record<string, number>>;
  /** Connection errors and timeouts. */
  readonly errors: number;
}

export interface LoadOptions {
  readonly baseUrl: string;
  /** A cycle of requests; each connection walks it in order. */
  readonly requests: readonly LoadRequest[];
  readonly seconds: number;
  readonly connections: number;
}

/** Drive one socket for `seconds`; autocannon stops by itself, and a watchdog stops it if it does not. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    let latencies = new Float64Array(1 << 16);
    let count = 0;
    const started = performance.now();
    const instance = autocannon(
      {
        url: options.baseUrl,
        connections: options.connections,
        pipelining: 1,
        duration: options.seconds,
        timeout: 10,
        requests: options.requests.map((r) => ({
          method: r.method as autocannon.Request["method"],
          path: r.path,
          headers: { ...r.headers },
        })),
      },
      (error: Error | null, result: autocannon.Result) => {
        clearTimeout(watchdog);
        if (error) return reject(error);
        const seconds = (performance.now() - started) / 1000;
        const statuses: Record<string, number> = {};
        for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = stat.count ?? 0;
        resolve({
          requests: count,
          seconds,
          reqPerSec: count / seconds,
          latenciesMs: latencies.slice(0, count),
          statuses,
          errors: result.errors + result.timeouts,
        });
      },
    );
    instance.on("response", (_client: unknown, _status: number, _bytes: number, responseTimeMs: number) => {
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = responseTimeMs;
    });
    const watchdog = setTimeout(() => instance.stop(), (options.seconds + 15) * 1000);
  });
}
