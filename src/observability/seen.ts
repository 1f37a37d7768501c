/**
 * What this isolate saw of each dependency, noted where its I/O already happens (the KV store's,
 * the audit store's and the JWKS cache's own wrappers): two numbers per dependency, no I/O.
 */

/** Dependencies whose answers are noted. */
export type Dependency = "kv" | "jwks" | "audit";

/** When a dependency last answered and last failed (epoch ms; 0 = never). */
export interface Seen {
  okAt: number;
  failedAt: number;
}

const seen = new Map<Dependency, Seen>();

/** Note that a dependency answered (or failed). */
export function noteDependency(dependency: Dependency, ok: boolean, now = Date.now()): void {
  let entry = seen.get(dependency);
  if (!entry) seen.set(dependency, (entry = { okAt: 0, failedAt: 0 }));
  if (ok) entry.okAt = now;
  else entry.failedAt = now;
}

/** What was noted of a dependency. */
export function seenOf(dependency: Dependency): Seen | undefined {
  return seen.get(dependency);
}

/** Forget what was noted (tests). */
export function resetSeenForTests(): void {
  seen.clear();
}

/** One dependency as seen by this isolate: failing if its latest call failed. */
export interface SeenHealth {
  readonly status: "ok" | "failing" | "unknown";
  /** Seconds since it last answered, or null when it has not in this isolate. */
  readonly last_ok_seconds_ago: number | null;
}

/** Pure: the health of one dependency from what was noted. */
export function seenHealth(entry: Seen | undefined, now: number): SeenHealth {
  if (!entry || (entry.okAt === 0 && entry.failedAt === 0)) return { status: "unknown", last_ok_seconds_ago: null };
  return {
    status: entry.failedAt > entry.okAt ? "failing" : "ok",
    last_ok_seconds_ago: entry.okAt ? Math.max(0, Math.round((now - entry.okAt) / 1000)) : null,
  };
}
