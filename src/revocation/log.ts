/**
 * All I/O with the revocation log (the `REVOCATION_LOG` Durable Object, src/revocation/durable-object.ts).
 * Every failure — the object throwing, unreachable, or slower than the timeout — is one error:
 * 503 `revocation_log_unavailable`. Callers decide what that means: the management API refuses
 * the revocation, the feed keeps the isolate on what it already knows.
 *
 * An append whose answer is lost may still have landed (the chaos run's finding 6). So each append
 * carries an id, and a failed one is followed by the question "did it land?" (`appendOutcome`,
 * which also fences the id so it cannot land afterwards): landed → the append succeeded;
 * not landed → 503, nothing recorded; no answer → 503, outcome unknown (docs/api-keys.md).
 */
import { GatewayError } from "../errors";
import { FEED_PAGE_MAX, type FeedPage, REVOCATION_LOG_NAME, type RevocationInput, type RevocationLog, type RevocationReason } from "./durable-object";

export type { FeedEntry, FeedPage, RevocationInput, RevocationKind, RevocationReason } from "./durable-object";

/** The log as the gateway uses it. */
export interface RevocationLogClient {
  /**
   * Append atomically; resolves with the last sequence number once the log holds every entry.
   * `id` (unique per call; default a fresh UUID) lets a failed append be asked about: it rejects
   * only when the log does not hold the entries, or when it cannot say (see `AppendOutcomeUnknown`).
   */
  append(entries: readonly RevocationInput[], id?: string): Promise<number>;
  /** Entries after `seq` (one page). */
  since(seq: number): Promise<FeedPage>;
  /** When the log refuses this key from (epoch ms), or null (see `RevocationLog.refusedFrom`). */
  refusedFrom(hash: string, orgId: string, createdAt: number, exceptReason?: RevocationReason): Promise<number | null>;
}

/** The detail of a 503 when an append may have landed and the log could not say. */
export const OUTCOME_UNKNOWN_DETAIL =
  "The revocation log did not answer; the revocation may have been recorded (the key may already be refused while still listed). Retry the same call to complete it.";
/** Longest wait for the answer to "did my append land?", asked at most twice. */
export const OUTCOME_TIMEOUT_MS = 1000;

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
    async append(entries, id = crypto.randomUUID()) {
      try {
        return await call(async () => (await stub().append([...entries], options.retentionMs, id)).seq, options.timeoutMs);
      } catch (failed) {
        // Its answer is lost, not necessarily the append: ask (twice at most) whether it landed.
        const timeoutMs = Math.min(options.timeoutMs, OUTCOME_TIMEOUT_MS);
        for (let attempt = 0; attempt < 2; attempt++) {
          try {
            const outcome = (await call(async () => await stub().appendOutcome(id), timeoutMs)) as { landed: boolean; seq?: number };
            if (outcome.landed) return outcome.seq!;
            throw failed; // not landed, and now it never will: nothing was recorded
          } catch (error) {
            if (error === failed) throw failed;
          }
        }
        throw new GatewayError("revocation_log_unavailable", { detail: OUTCOME_UNKNOWN_DETAIL, cause: failed });
      }
    },
    since: (seq) => call(async () => (await stub().since(seq, FEED_PAGE_MAX)) as FeedPage, options.timeoutMs),
    refusedFrom: (hash, orgId, createdAt, exceptReason) =>
      call(async () => (await stub().refusedFrom(hash, orgId, createdAt, exceptReason)) as number | null, options.timeoutMs),
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
