/**
 * What `/healthz` and `/readyz` say. `/healthz` is cheap: the deployed version and what this
 * isolate saw of each dependency (noted where its I/O already happens: no extra calls). `/readyz`
 * checks them live, for deploy smoke checks. Neither names a namespace, URL, key or error message.
 */
import { AuditStore } from "../audit/store";
import type { Bindings, Config } from "../env";
import { checkPepper, type PepperVerdict } from "../keys/pepper";
import { KeyStore, kvFromBinding } from "../keys/store";
import { feedFor } from "../revocation/feed";
import { resetSeenForTests, seenHealth, seenOf } from "./seen";

/** The deployed version (version metadata binding), or nulls where it is not bound. */
export function versionOf(env: Bindings): { id: string | null; tag: string | null; timestamp: string | null } {
  const meta = (env as { CF_VERSION_METADATA?: WorkerVersionMetadata }).CF_VERSION_METADATA;
  return { id: meta?.id || null, tag: meta?.tag || null, timestamp: meta?.timestamp || null };
}

/** `/healthz`'s body: no I/O beyond what the revocation feed does for itself. */
export async function healthReport(env: Bindings, config: Config, now = Date.now()) {
  const feed = feedFor(env, config);
  if (config.revocation.feed) await feed.refresh();
  const revocationFeed = feed.health();
  const dependencies = {
    kv: seenHealth(seenOf("kv"), now),
    jwks: config.clerk.jwtKey ? { status: "off" as const, last_ok_seconds_ago: null } : seenHealth(seenOf("jwks"), now),
    audit: seenHealth(seenOf("audit"), now),
  };
  const degraded = revocationFeed.status === "unavailable" || Object.values(dependencies).some((d) => d.status === "failing");
  return { status: degraded ? "degraded" : "ok", version: versionOf(env), revocation_feed: revocationFeed, dependencies };
}

/** One live check's outcome. */
export type CheckResult = "ok" | "failing" | "off";

export interface ReadyReport {
  readonly status: "ready" | "not_ready";
  readonly version: ReturnType<typeof versionOf>;
  readonly checks: {
    readonly kv: CheckResult;
    /** Whether the Worker's pepper is the one KV's keys are hashed under (mismatch: not ready). */
    readonly pepper: PepperVerdict | "unknown";
    readonly jwks: CheckResult;
    readonly revocation_log: CheckResult;
    readonly audit: CheckResult;
  };
}

const READY_CHECK_TIMEOUT_MS = 3_000;
/** Concurrent or back-to-back `/readyz` calls share one round of checks: it cannot be used to multiply I/O. */
const READY_REUSE_MS = 2_000;
let lastReady: { at: number; report: Promise<ReadyReport> } | undefined;

/** `/readyz`: every dependency checked now (shared for 2 s). Never throws. */
export function readyReport(env: Bindings, config: Config, now = Date.now()): Promise<ReadyReport> {
  if (lastReady && now - lastReady.at < READY_REUSE_MS) return lastReady.report;
  const report = runChecks(env, config);
  lastReady = { at: now, report };
  return report;
}

/** Forget the shared `/readyz` result and what was noted (tests). */
export function resetHealthForTests(): void {
  lastReady = undefined;
  resetSeenForTests();
}

async function runChecks(env: Bindings, config: Config): Promise<ReadyReport> {
  const [pepper, jwks, revocationLog, audit] = await Promise.all([
    bounded(checkPepper(new KeyStore(kvFromBinding(env.API_KEYS)), config.apiKeys.pepper).then((r) => r.verdict)),
    config.clerk.jwtKey ? Promise.resolve<CheckResult>("off") : bounded(fetchJwksLive(config.clerk.jwksUrl)),
    config.revocation.feed ? bounded(feedFor(env, config).refresh({ force: true }).then(() => feedFor(env, config).health().status === "ok")) : Promise.resolve<CheckResult>("off"),
    bounded(new AuditStore(env.AUDIT_DB).ping()),
  ]);
  const kv: CheckResult = pepper === "failing" ? "failing" : "ok";
  const checks = {
    kv,
    pepper: pepper === "failing" ? ("unknown" as const) : pepper,
    jwks: typeof jwks === "boolean" ? (jwks ? "ok" : "failing") : jwks,
    revocation_log: typeof revocationLog === "boolean" ? (revocationLog ? "ok" : "failing") : revocationLog,
    audit: typeof audit === "boolean" ? (audit ? "ok" : "failing") : audit,
  } as const;
  const ready = checks.kv === "ok" && checks.pepper !== "mismatch" && [checks.jwks, checks.revocation_log, checks.audit].every((c) => c !== "failing");
  return { status: ready ? "ready" : "not_ready", version: versionOf(env), checks };
}

/** The check's value, or "failing" when it throws or takes longer than the bound. */
async function bounded<T>(check: Promise<T>): Promise<T | "failing"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"failing">((resolve) => (timer = setTimeout(() => resolve("failing"), READY_CHECK_TIMEOUT_MS)));
  try {
    return await Promise.race([check.catch(() => "failing" as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function fetchJwksLive(url: string): Promise<boolean> {
  const res = await fetch(url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(READY_CHECK_TIMEOUT_MS) });
  if (!res.ok) {
    await res.body?.cancel();
    return false;
  }
  const body = (await res.json()) as { keys?: unknown };
  return Array.isArray(body.keys) && body.keys.length > 0;
}
