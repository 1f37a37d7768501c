/**
 * The pepper guard. Keys hashed under a pepper other than the deployment's never verify, so
 * issuing one is a silent failure (a mistyped pepper in the CLI, a secret re-uploaded from a stale
 * copy). KV holds the fingerprint of the pepper its keys are hashed under; nothing issues a key
 * under a pepper whose fingerprint differs. The first issuance in an empty namespace records it.
 */
import { GatewayError } from "../errors";
import { pepperFingerprint } from "./hash";
import type { KeyStore } from "./store";

/** How the pepper in hand compares with the namespace's recorded fingerprint. */
export type PepperVerdict = "match" | "unset" | "mismatch";

/** Pure comparison of the recorded fingerprint (null: none yet) with the pepper's own. */
export function comparePepper(recorded: string | null, mine: string): PepperVerdict {
  if (recorded === null) return "unset";
  return recorded === mine ? "match" : "mismatch";
}

/** Check the pepper against the store's fingerprint; one KV read. */
export async function checkPepper(store: KeyStore, pepper: string): Promise<{ verdict: PepperVerdict; fingerprint: string }> {
  const [recorded, fingerprint] = await Promise.all([store.pepperFingerprint(), pepperFingerprint(pepper)]);
  return { verdict: comparePepper(recorded, fingerprint), fingerprint };
}

/**
 * Refuse to issue a key under a pepper that does not match the namespace's fingerprint (503
 * `key_issuance_unavailable`, logged as `pepper_mismatch`); record it when there is none yet.
 */
export async function assertPepperMatches(store: KeyStore, pepper: string, now: number, setBy: string): Promise<void> {
  const { verdict, fingerprint } = await checkPepper(store, pepper);
  if (verdict === "unset") await store.setPepperFingerprint(fingerprint, new Date(now).toISOString(), setBy);
  if (verdict === "mismatch") {
    console.error(JSON.stringify({ level: "error", event: "pepper_mismatch" }));
    throw new GatewayError("key_issuance_unavailable", { detail: "API keys cannot be issued right now; existing keys are unaffected." });
  }
}
