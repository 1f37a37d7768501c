/**
 * `POST /v1/chat/api-keys/revocations`: how the operator CLI (`npm run keys -- revoke|rotate|
 * revoke-all --env …`) reaches the revocation log, which only a Worker can call. Signed with the
 * environment's `API_KEY_PEPPER` (the CLI needs it anyway to hash keys): header
 * `x-agntix-operator-signature: t=<epoch ms>,v1=<hex HMAC-SHA256(pepper, "operator-revocations.<t>.<body>")>`,
 * accepted within 5 minutes of `t`. A replay within that window appends the same revocations
 * again, which changes nothing.
 */
// No runtime import of the worker's modules beyond errors: the operator CLI (Node) loads this file.
import { GatewayError } from "../errors";
import type { RevocationInput } from "./durable-object";

/** The header carrying the signature. */
export const OPERATOR_SIGNATURE_HEADER = "x-agntix-operator-signature";
/** How far a signature's time may be from the gateway's clock. */
export const OPERATOR_SIGNATURE_WINDOW_MS = 5 * 60_000;

const encoder = new TextEncoder();
/** Largest signed body: 1,000 entries of about 200 bytes. */
export const MAX_OPERATOR_BODY_BYTES = 256 * 1024;
/** Most entries one signed call carries (the log's `APPEND_MAX`). */
const MAX_ENTRIES = 1000;

/** Hex HMAC-SHA256 of the signed string (the same in Node and workerd). */
export async function operatorSignature(pepper: string, t: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(pepper), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`operator-revocations.${t}.${body}`));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const KINDS = new Set(["key", "org", "grants"]);
const REASONS = new Set(["delete", "rotate", "leaked", "org", "edit"]);

/** Pure: the entries of a signed body, or null when any is malformed. */
export function checkOperatorEntries(body: unknown): { operator: string; entries: RevocationInput[] } | null {
  if (typeof body !== "object" || body === null) return null;
  const { entries, operator } = body as { entries?: unknown; operator?: unknown };
  if (typeof operator !== "string" || operator.length === 0 || operator.length > 64) return null;
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > MAX_ENTRIES) return null;
  for (const e of entries as Record<string, unknown>[]) {
    if (typeof e !== "object" || e === null) return null;
    if (!KINDS.has(e["kind"] as string) || !REASONS.has(e["reason"] as string)) return null;
    if (typeof e["subject"] !== "string" || e["subject"].length === 0 || e["subject"].length > 200) return null;
    if (typeof e["not_after"] !== "number" || !Number.isFinite(e["not_after"])) return null;
    if (e["key_id"] !== undefined && typeof e["key_id"] !== "string") return null;
    if (e["grants"] !== undefined && !(Array.isArray(e["grants"]) && e["grants"].every((g) => typeof g === "string"))) return null;
  }
  return { operator, entries: entries as RevocationInput[] };
}

/** Compare two hex strings without an early exit. */
export function timingSafeEqualHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The CLI's sink: signs and posts revocations to a gateway (`baseUrl`). */
export function operatorRevocationSink(options: {
  readonly baseUrl: string;
  readonly pepper: string;
  readonly operator: string;
  readonly fetch?: typeof fetch;
}): { append(entries: readonly RevocationInput[]): Promise<void> } {
  const send = options.fetch ?? fetch;
  return {
    async append(entries) {
      const body = JSON.stringify({ operator: options.operator.slice(0, 64), entries });
      const t = Date.now();
      const signature = await operatorSignature(options.pepper, t, body);
      let res: Response;
      try {
        res = await send(`${options.baseUrl.replace(/\/+$/, "")}/v1/chat/api-keys/revocations`, {
          method: "POST",
          headers: { "content-type": "application/json", [OPERATOR_SIGNATURE_HEADER]: `t=${t},v1=${signature}` },
          body,
        });
      } catch (cause) {
        throw new GatewayError("revocation_log_unavailable", { detail: `The gateway at ${options.baseUrl} could not be reached; the revocation may not have been recorded: run the same command again.`, cause });
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new GatewayError("revocation_log_unavailable", {
          detail: `The gateway at ${options.baseUrl} answered ${res.status}; the revocation may not have been recorded (the KV records were left as they were): run the same command again.`,
          cause: new Error(`HTTP ${res.status}`),
        });
      }
      await res.body?.cancel();
    },
  };
}
