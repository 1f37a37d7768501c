/**
 * `POST /v1/chat/api-keys/revocations`: the operator CLI's signed revocations (signature and body
 * format: src/revocation/operator.ts), appended to the revocation log like the management API's.
 */
import type { Context } from "hono";
import { readCapped } from "../body";
import { type AppEnv, getConfig } from "../env";
import { GatewayError } from "../errors";
import { edgeRevocationSink } from "./feed";
import {
  checkOperatorEntries,
  MAX_OPERATOR_BODY_BYTES,
  OPERATOR_SIGNATURE_HEADER,
  OPERATOR_SIGNATURE_WINDOW_MS,
  operatorSignature,
  timingSafeEqualHex,
} from "./operator";

/** Append an operator's revocations to the log; 401 without a valid signature. */
export async function operatorRevocationsHandler(c: Context<AppEnv>): Promise<Response> {
  if (c.req.method !== "POST") {
    throw new GatewayError("method_not_allowed", { detail: "This path accepts POST.", headers: { allow: "POST" } });
  }
  const config = getConfig(c.env);
  const header = c.req.header(OPERATOR_SIGNATURE_HEADER) ?? "";
  const m = /^t=(\d{1,16}),v1=([0-9a-f]{64})$/.exec(header);
  const bytes = await readCapped(c.req.raw.body, MAX_OPERATOR_BODY_BYTES);
  if (!bytes) throw new GatewayError("payload_too_large", { detail: `Operator revocations are limited to ${MAX_OPERATOR_BODY_BYTES} bytes.` });
  const body = new TextDecoder().decode(bytes);
  const t = m ? Number(m[1]) : NaN;
  const valid =
    m !== null &&
    Math.abs(Date.now() - t) <= OPERATOR_SIGNATURE_WINDOW_MS &&
    timingSafeEqualHex(await operatorSignature(config.apiKeys.pepper, t, body), m[2]!);
  if (!valid) throw new GatewayError("missing_credentials", { detail: "This path needs an operator's signature." });
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new GatewayError("invalid_json", { detail: "The request body is not valid JSON." });
  }
  const input = checkOperatorEntries(parsed);
  if (!input) throw new GatewayError("validation_failed", { detail: "The body must be {operator, entries: [revocation…]}." });
  await edgeRevocationSink(c.env, config, c.executionCtx, `operator:${input.operator}`).append(input.entries);
  return c.json({ appended: input.entries.length }, 200, { "cache-control": "no-store" });
}

