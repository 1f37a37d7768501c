/**
 * Mint a DEVELOPMENT session token, shaped like Clerk's v2 session claims and signed with the
 * committed development key (examples/dev-keys/), which `npm run dev` trusts via CLERK_JWT_KEY.
 * Staging and production refuse that key, so these tokens work on a local gateway only.
 *
 *   npm run token -- --org org_dev --role admin [--ttl 3600] [--permissions voice:write,org:chat:read]
 *                    [--user user_dev] [--azp http://localhost:3000] [--v1] [--pending] [--json]
 *
 * With `--template agntix`, a JWT-template token instead, as `getToken({ template: "agntix" })`
 * returns it: Clerk's default claims (no sid) plus aud "agntix" and org_id / org_slug / org_role /
 * org_permissions (docs/authentication.md). Its --ttl defaults to 60 s (Clerk's default) and may
 * not exceed 600 s, the gateway's default CLERK_TEMPLATE_MAX_LIFETIME_SECONDS.
 *
 *   npm run token -- --template agntix [--org org_dev] [--role member] [--ttl 60] [--no-org] [--json]
 *
 * Prints the token (or, with --json, `{"token", "expires_at", "claims"}`) on stdout.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { importPKCS8, SignJWT } from "jose";
import { encodeOrgPermissions, JWT_CATEGORY_JWT_TEMPLATE, JWT_CATEGORY_SESSION_TOKEN } from "../src/auth/jwt-claims";

const ROOT = new URL("../", import.meta.url);
const PRIVATE_KEY = new URL("examples/dev-keys/development-only.private.pem", ROOT);
const DEV_KID = "ins_development_only";
const MAX_TTL = 7 * 24 * 3600;
/** The gateway's default CLERK_TEMPLATE_MAX_LIFETIME_SECONDS. */
const MAX_TEMPLATE_TTL = 600;

/** A var of wrangler.toml's top level (local development), e.g. CLERK_ISSUER. */
function devVar(name: string): string | undefined {
  const toml = readFileSync(new URL("wrangler.toml", ROOT), "utf8");
  const topLevel = toml.split(/^\[env\./m)[0] ?? "";
  return new RegExp(`^${name}\\s*=\\s*"([^"]*)"`, "m").exec(topLevel)?.[1];
}

function fail(message: string): never {
  process.stderr.write(`token: ${message}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    org: { type: "string", default: "org_dev" },
    role: { type: "string", default: "admin" },
    permissions: { type: "string", default: "" },
    ttl: { type: "string" },
    template: { type: "string" },
    user: { type: "string", default: "user_dev" },
    session: { type: "string", default: "sess_dev" },
    azp: { type: "string" },
    issuer: { type: "string" },
    v1: { type: "boolean", default: false },
    pending: { type: "boolean", default: false },
    "no-org": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});

if (values.help) {
  process.stdout.write(readFileSync(new URL(import.meta.url), "utf8").split("*/")[0]!.replace(/^\/\*\*?|^ \* ?/gm, ""));
  process.exit(0);
}

const template = values.template;
if (template !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(template)) fail("--template must be a template name, e.g. agntix");
const maxTtl = template ? MAX_TEMPLATE_TTL : MAX_TTL;
const ttl = Number(values.ttl ?? (template ? "60" : "3600"));
if (!Number.isSafeInteger(ttl) || ttl <= 0 || ttl > maxTtl) fail(`--ttl must be 1…${maxTtl} seconds`);
if (!/^org_[A-Za-z0-9]{1,64}$/.test(values.org)) fail("--org must look like org_xxx (letters and digits)");
if (!/^user_[A-Za-z0-9]{1,64}$/.test(values.user)) fail("--user must look like user_xxx (letters and digits)");
if (!/^sess_[A-Za-z0-9]{1,64}$/.test(values.session)) fail("--session must look like sess_xxx (letters and digits)");

const issuer = values.issuer ?? devVar("CLERK_ISSUER") ?? fail("no --issuer and no CLERK_ISSUER in wrangler.toml");
const azp = values.azp ?? devVar("CLERK_AUTHORIZED_PARTIES")?.split(",")[0]?.trim() ?? "http://localhost:3000";
const role = values.role.replace(/^org:/, "");
const permissions = values.permissions
  .split(",")
  .map((p) => p.trim())
  .filter(Boolean)
  .map((p) => (p.startsWith("org:") ? p : `org:${p}`));

const now = Math.floor(Date.now() / 1000);
const base: Record<string, unknown> = { iss: issuer, sub: values.user, sid: values.session, azp, iat: now, nbf: now - 5, exp: now + ttl };
if (values.pending) base["sts"] = "pending";

let claims: Record<string, unknown>;
if (template) {
  // What Clerk mints from the template: default claims without sid, then the template's claims;
  // with no active organisation the shortcodes give null.
  const { sid: _sid, ...defaults } = base;
  const org = values["no-org"];
  claims = {
    ...defaults,
    jti: crypto.randomUUID().replaceAll("-", "").slice(0, 20),
    aud: template,
    org_id: org ? null : values.org,
    org_slug: org ? null : values.org,
    org_role: org ? null : `org:${role}`,
    org_permissions: org ? null : permissions,
  };
} else if (values.v1) {
  claims = values["no-org"]
    ? base
    : { ...base, org_id: values.org, org_role: `org:${role}`, org_slug: values.org, org_permissions: permissions };
} else {
  const { fea, per, fpm } = encodeOrgPermissions(permissions);
  claims = { ...base, v: 2, fva: [0, -1] };
  if (fea) claims["fea"] = fea;
  if (!values["no-org"]) claims["o"] = { id: values.org, rol: role, slg: values.org, ...(per ? { per, fpm } : {}) };
}

const key = await importPKCS8(readFileSync(PRIVATE_KEY, "utf8"), "RS256");
const token = await new SignJWT(claims)
  .setProtectedHeader({ alg: "RS256", kid: DEV_KID, typ: "JWT", cat: template ? JWT_CATEGORY_JWT_TEMPLATE : JWT_CATEGORY_SESSION_TOKEN })
  .sign(key);

if (values.json) {
  process.stdout.write(`${JSON.stringify({ token, expires_at: new Date((now + ttl) * 1000).toISOString(), claims })}\n`);
} else {
  process.stdout.write(`${token}\n`);
}
