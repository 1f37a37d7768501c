/**
 * DEVELOPMENT-ONLY sign-in for the dashboard page: `POST /dashboard/dev-session {role, org?}`
 * answers a short-lived session token shaped like Clerk's v2 session claims, signed with the
 * committed development key pair (examples/dev-keys/), which the local gateway trusts through
 * `CLERK_JWT_KEY`. It exists so that `npm run dev` and the browser tests need no Clerk account.
 *
 * It answers 404 unless `DASHBOARD_DEV_SIGN_IN_KEY` is set, and staging and production refuse that
 * var when the configuration is parsed (src/env.ts): there the page signs in with ClerkJS.
 */
import type { Context } from "hono";
import { importPKCS8, SignJWT } from "jose";
import { type AppEnv, getConfig } from "../env";
import { GatewayError } from "../errors";
import { encodeOrgPermissions, JWT_CATEGORY_SESSION_TOKEN } from "../auth/jwt-claims";

/** Lifetime of a development session token; the page refreshes it before it ends, as ClerkJS does. */
export const DEV_SESSION_TTL_SECONDS = 600;
/** The `kid` of the development key pair (as `npm run token` signs). */
export const DEV_KEY_ID = "ins_development_only";

/** The two development personas: an organisation admin, and a member who may read the key list. */
export const DEV_PERSONAS = {
  admin: { user: "user_devadmin", role: "admin", permissions: [] as string[] },
  member: { user: "user_devmember", role: "member", permissions: ["org:api-keys:read"] },
} as const;

export type DevRole = keyof typeof DEV_PERSONAS;

const ORG_ID = /^org_[A-Za-z0-9]{1,64}$/;

/** What a sign-in asks for: a persona, and an organisation (`null` = signed in with none active). */
export interface DevSessionRequest {
  readonly role: DevRole;
  readonly org: string | null;
}

/** Check a request body: `{role: "admin" | "member", org?: "org_…" | null}` (default org `org_dev`). */
export function checkDevSessionRequest(body: unknown): DevSessionRequest | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  const { role, org = "org_dev", ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return undefined;
  if (role !== "admin" && role !== "member") return undefined;
  if (org !== null && (typeof org !== "string" || !ORG_ID.test(org))) return undefined;
  return { role, org };
}

/** The claims of a development session token (Clerk v2 shape), issued at `now` (seconds). */
export function devSessionClaims(request: DevSessionRequest, issuer: string, azp: string, now: number): Record<string, unknown> {
  const persona = DEV_PERSONAS[request.role];
  const claims: Record<string, unknown> = {
    iss: issuer,
    sub: persona.user,
    sid: `sess_dev${request.role}`,
    azp,
    iat: now,
    nbf: now - 5,
    exp: now + DEV_SESSION_TTL_SECONDS,
    v: 2,
    fva: [0, -1],
  };
  if (request.org !== null) {
    const { fea, per, fpm } = encodeOrgPermissions(persona.permissions);
    if (fea) claims["fea"] = fea;
    claims["o"] = { id: request.org, rol: persona.role, slg: request.org, ...(per ? { per, fpm } : {}) };
  }
  return claims;
}

let signingKey: { pem: string; key: Promise<CryptoKey> } | undefined;

/** `POST /dashboard/dev-session`: 200 `{token, expires_at}`, or 404 where development sign-in is off. */
export async function devSession(c: Context<AppEnv>): Promise<Response> {
  const config = getConfig(c.env);
  const pem = config.dashboard.devSignInKey;
  if (!pem) throw new GatewayError("not_found", { detail: "No route matches this path." });
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new GatewayError("invalid_json", { detail: "The request body is not valid JSON." });
  }
  const request = checkDevSessionRequest(body);
  if (!request) {
    throw new GatewayError("validation_failed", {
      detail: 'Send {"role": "admin" | "member", "org"?: "org_…" | null}.',
      extra: { errors: [{ field: "role", message: "must be admin or member" }] },
    });
  }
  // `azp` as `npm run token` sets it: the first authorised party of this (development) config.
  const azp = [...config.clerk.authorizedParties][0] ?? "http://localhost:3000";
  const now = Math.floor(Date.now() / 1000);
  if (signingKey?.pem !== pem) signingKey = { pem, key: importPKCS8(pem, "RS256") };
  const token = await new SignJWT(devSessionClaims(request, config.clerk.issuer, azp, now))
    .setProtectedHeader({ alg: "RS256", kid: DEV_KEY_ID, typ: "JWT", cat: JWT_CATEGORY_SESSION_TOKEN })
    .sign(await signingKey.key);
  const expiresAt = new Date((now + DEV_SESSION_TTL_SECONDS) * 1000).toISOString();
  return c.json({ token, expires_at: expiresAt }, 200, { "cache-control": "no-store" });
}
