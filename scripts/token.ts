/**
 * `npm run -s token -- …`: mint a DEVELOPMENT session token, shaped like Clerk's v2 session claims
 * and signed with the committed development key (examples/dev-keys/), which `npm run dev` trusts
 * via CLERK_JWT_KEY. Staging and production refuse that key, so these tokens work locally only.
 *
 * With `--template agntix`, a JWT-template token instead, as `getToken({ template: "agntix" })`
 * returns it: Clerk's default claims (no sid) plus aud "agntix" and org_id / org_slug / org_role /
 * org_permissions (docs/authentication.md). Its --ttl defaults to 60 s (Clerk's default) and may
 * not exceed 600 s, the gateway's default CLERK_TEMPLATE_MAX_LIFETIME_SECONDS.
 *
 * Prints only the token (or, with --json, `{"token", "expires_at", "claims"}`); see USAGE below.
 */
import { readFileSync } from "node:fs";
import { importPKCS8, SignJWT } from "jose";
import { encodeOrgPermissions, JWT_CATEGORY_JWT_TEMPLATE, JWT_CATEGORY_SESSION_TOKEN } from "../src/auth/jwt-claims";
import { main, parseCommandLine, UsageError } from "./lib/cli";

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

const OPTIONS = {
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
} as const;

const USAGE = `Usage: npm run -s token -- [options]

Mint a DEVELOPMENT session token (Clerk v2 claims, signed with the committed development key, which
only \`npm run dev\` trusts). Prints only the token, so it can be captured:

  export AGNTIX_TOKEN=$(npm run -s token -- --org org_dev --role member)

(-s keeps npm's own "> agntix-gateway token" lines out of the output.)

Options:
  --org ORG              active organisation (default org_dev)
  --role ROLE            organisation role: admin or member (default admin)
  --permissions P1,P2    extra organisation permissions, e.g. voice:write,org:chat:read
  --ttl SECONDS          lifetime, 1…${MAX_TTL} (default 3600; with --template 1…${MAX_TEMPLATE_TTL}, default 60)
  --template NAME        a JWT-template token instead (aud NAME, org_* claims), as
                         getToken({ template: "agntix" }) returns it: --template agntix
  --user USER            subject, user_… (default user_dev)
  --session SID          session id, sess_… (default sess_dev)
  --azp ORIGIN           authorized party (default: the first of CLERK_AUTHORIZED_PARTIES)
  --issuer URL           iss (default: CLERK_ISSUER of wrangler.toml's top level)
  --v1                   Clerk's v1 claim shape instead of v2
  --pending              a pending session (sts: pending), which the gateway refuses
  --no-org               no active organisation
  --json                 print {"token", "expires_at", "claims"} instead
  -h, --help             this help
`;

type Options = { -readonly [K in keyof typeof OPTIONS]: (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string } & {
  ttl?: string;
  template?: string;
  azp?: string;
  issuer?: string;
};

await main("token", async () => {
  const { values } = parseCommandLine(process.argv.slice(2), OPTIONS, { positionals: false });
  if (values["help"]) {
    process.stdout.write(USAGE);
    return 0;
  }
  await mint(values as unknown as Options);
  return 0;
});

async function mint(values: Options): Promise<void> {
  const template = values.template;
  if (template !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(template)) {
    throw new UsageError(`--template must be a template name, e.g. --template agntix (got ${JSON.stringify(template)})`);
  }
  const maxTtl = template ? MAX_TEMPLATE_TTL : MAX_TTL;
  const ttlText = values.ttl ?? (template ? "60" : "3600");
  const ttl = /^\d+$/.test(ttlText) ? Number(ttlText) : NaN;
  if (!(ttl >= 1 && ttl <= maxTtl)) {
    throw new UsageError(`--ttl must be a number of seconds from 1 to ${maxTtl}${template ? " for a template token" : ""} (got ${JSON.stringify(ttlText)})`);
  }
  const shaped = (name: string, value: string, prefix: string) => {
    if (!new RegExp(`^${prefix}[A-Za-z0-9]{1,64}$`).test(value)) {
      throw new UsageError(`--${name} must look like ${prefix}abc123 (letters and digits after ${prefix}; got ${JSON.stringify(value)})`);
    }
  };
  shaped("org", values.org, "org_");
  shaped("user", values.user, "user_");
  shaped("session", values.session, "sess_");

  const issuer = values.issuer ?? devVar("CLERK_ISSUER");
  if (!issuer) throw new UsageError("no CLERK_ISSUER in wrangler.toml's [vars]: pass --issuer https://…");
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

  process.stdout.write(values.json ? `${JSON.stringify({ token, expires_at: new Date((now + ttl) * 1000).toISOString(), claims })}\n` : `${token}\n`);
}
