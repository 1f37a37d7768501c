/**
 * All I/O with the revocation log (the `REVOCATION_LOG` Durable Object, src/revocation/durable-object.ts).
 * Every failure — the object throwing, unreachable, or slower than the timeout — is one error:
 * 503 `revocation_log_unavailable`. Callers decide what that means: the management API refuses
 * the revocation (nothing done), the feed keeps the isolate on what it already knows.
 */
import { GatewayError } from "../errors";
import { FEED_PAGE_MAX, type FeedPage, REVOCATION_LOG_NAME, type RevocationInput, type RevocationLog } from "./durable-object";

export type { FeedEntry, FeedPage, RevocationInput, RevocationKind, RevocationReason } from "./durable-object";

/** The log as the gateway uses it. */
export interface RevocationLogClient {
  /** Append atomically; resolves with the last sequence number once the log holds every entry. */
  append(entries: readonly RevocationInput[]): Promise<number>;
  /** Entries after `seq` (one page). */
  since(seq: number): Promise<FeedPage>;
  /** When the log refuses this key from (epoch ms), or null (see `RevocationLog.refusedFrom`). */
  refusedFrom(hash: string, orgId: string, createdAt: number): Promise<number | null>;
}

export interface RevocationLogOptions {
  /** How long the log keeps an entry past its `not_after`. */
  readonly retentionMs: number;
  /** Longest wait for the object before giving up (it cannot be aborted, only abandoned). */
  readonly timeoutMs: number;
}

/** A client for the log behind this binding. */
export function revocationLog(namespace: DurableObjectNamespace<RevocationLog>, options: RevocationLogOptions): RevocationLogClient {
  // A fresh stub per call: a stub that saw an exception may stay broken.
  const stub = () => namespace.get(namespace.idFromName(REVOCATION_LOG_NAME));
  return {
    append: (entries) => call(async () => (await stub().append([...entries], options.retentionMs)).seq, options.timeoutMs),
    since: (seq) => call(async () => (await stub().since(seq, FEED_PAGE_MAX)) as FeedPage, options.timeoutMs),
    refusedFrom: (hash, orgId, createdAt) => call(async () => (await stub().refusedFrom(hash, orgId, createdAt)) as number | null, options.timeoutMs),
  };
}

async function call<T>(operation: () => Promise<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`revocation log did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([operation(), timeout]);
  } catch (cause) {
    throw new GatewayError("revocation_log_unavailable", {
      detail: "The revocation log is unavailable; nothing was revoked. Retry shortly.",
      cause,
    });
  } finally {
    clearTimeout(timer);
  }
}
