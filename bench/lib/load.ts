// The load generator, in a process of its own: bench/lib/load-child.mjs runs autocannon against one
// worker's socket on 127.0.0.1, pinned to a core of its own where `taskset` exists, and reports
// what it measured and how much CPU it used itself.
import { spawn, spawnSync } from "node:child_process";
import { cpus } from "node:os";
import { join } from "node:path";

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
  /** CPU time the load generator's process used, in ms. */
  readonly clientCpuMs: number;
}

export interface LoadOptions {
  readonly baseUrl: string;
  /** A cycle of requests; each connection walks it in order. */
  readonly requests: readonly LoadRequest[];
  readonly seconds: number;
  readonly connections: number;
  /** Offered load in requests per second across all connections; as fast as possible when absent. */
  readonly rate?: number;
}

const CHILD = join(import.meta.dirname, "load-child.mjs");

/**
 * How the machine's cores are split: workerd on every core but the last, the load generator on the
 * last. With one core, or without `taskset`, nothing is pinned (and the report says so).
 */
export const pinning = (() => {
  const cores = cpus().length;
  const taskset = spawnSync("taskset", ["--version"], { stdio: "ignore" }).status === 0;
  if (cores < 2 || !taskset) return undefined;
  return { client: String(cores - 1), workerd: cores === 2 ? "0" : `0-${cores - 2}` };
})();

/** Pin a running process and all its threads (workerd) to the cores kept for it. */
export function pinWorkerd(pid: number): boolean {
  if (!pinning) return false;
  return spawnSync("taskset", ["-a", "-p", "-c", pinning.workerd, String(pid)], { stdio: "ignore" }).status === 0;
}

/** Drive one socket for `seconds` from the load generator's own process. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const args = [CHILD, JSON.stringify({ ...options, requests: options.requests.map((r) => ({ ...r, headers: { ...r.headers } })) })];
  const child = pinning ? spawn("taskset", ["-c", pinning.client, process.execPath, ...args]) : spawn(process.execPath, args);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`load generator exited ${code}: ${stderr.trim()}`));
      try {
        const raw = JSON.parse(stdout) as Omit<LoadResult, "latenciesMs" | "reqPerSec"> & { latenciesMs: number[] };
        resolve({ ...raw, reqPerSec: raw.requests / raw.seconds, latenciesMs: Float64Array.from(raw.latenciesMs) });
      } catch (error) {
        reject(new Error(`load generator printed no result: ${String(error)} ${stderr.trim()}`));
      }
    });
  });
}
