/**
 * The dashboard's development-only sign-in (POST /dashboard/dev-session): tokens the local gateway
 * accepts, shaped like Clerk's, for the admin and member personas; refused at config parse by
 * staging and production; absent (404) wherever its key is not set.
 */
import { compactVerify, importSPKI } from "jose";
import { describe, expect, it } from "vitest";
import devPrivatePem from "../../examples/dev-keys/development-only.private.pem?raw";
import devPublicPem from "../../examples/dev-keys/development-only.public.pem?raw";
import wranglerToml from "../../wrangler.toml?raw";
import { checkDevSessionRequest, DEV_SESSION_TTL_SECONDS } from "../../src/dashboard/dev-session";
import { bearer, gatewayWith, problem } from "../helpers/jwt";

// The local gateway as `npm run dev` runs it: the development public key verifies what the
// development private key signs, with no network.
const devGateway = () =>
  gatewayWith({
    CLERK_JWT_KEY: devPublicPem,
    CLERK_ISSUER: "https://clerk.agntix.localhost",
    CLERK_AUTHORIZED_PARTIES: "http://localhost:3000",
    DASHBOARD_DEV_SIGN_IN_KEY: devPrivatePem,
  });

async function signIn(gateway: ReturnType<typeof devGateway>, body: unknown): Promise<Response> {
  return gateway.fetch("/dashboard/dev-session", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

async function claimsOf(token: string): Promise<Record<string, unknown>> {
  const { payload } = await compactVerify(token, await importSPKI(devPublicPem, "RS256"));
  return JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
}

describe("POST /dashboard/dev-session (development only)", () => {
  it("signs an admin session for org_dev that the management API accepts", async () => {
    const gateway = devGateway();
    const res = await signIn(gateway, { role: "admin" });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const { token, expires_at } = (await res.json()) as { token: string; expires_at: string };
    const claims = await claimsOf(token);
    expect(claims).toMatchObject({ iss: "https://clerk.agntix.localhost", azp: "http://localhost:3000", v: 2, o: { id: "org_dev", rol: "admin" } });
    expect((claims["exp"] as number) - (claims["iat"] as number)).toBe(DEV_SESSION_TTL_SECONDS);
    expect(Date.parse(expires_at)).toBe((claims["exp"] as number) * 1000);

    const created = await gateway.fetch("/v1/chat/api-keys", {
      method: "POST",
      body: JSON.stringify({ name: "From the dashboard", scopes: ["read-only"] }),
      ...bearer(token, { "content-type": "application/json" }),
    });
    expect(created.status).toBe(201);
  });

  it("signs a member who may read the key list but not write to it", async () => {
    const gateway = devGateway();
    const { token } = (await (await signIn(gateway, { role: "member", org: "org_devmember" })).json()) as { token: string };
    expect(await claimsOf(token)).toMatchObject({ fea: "o:api-keys", o: { id: "org_devmember", rol: "member", per: "read", fpm: "1" } });
    expect((await gateway.fetch("/v1/chat/api-keys", bearer(token))).status).toBe(200);
    const refused = await gateway.fetch("/v1/chat/api-keys", {
      method: "POST",
      body: JSON.stringify({ name: "x", scopes: ["read-only"] }),
      ...bearer(token, { "content-type": "application/json" }),
    });
    expect(refused.status).toBe(403);
    expect((await problem(refused)).code).toBe("insufficient_scope");
  });

  it("signs a session with no active organisation on request (org: null): 403 no_active_organization", async () => {
    const gateway = devGateway();
    const { token } = (await (await signIn(gateway, { role: "admin", org: null })).json()) as { token: string };
    expect(await claimsOf(token)).not.toHaveProperty("o");
    const res = await gateway.fetch("/v1/chat/api-keys", bearer(token));
    expect(res.status).toBe(403);
    expect((await problem(res)).code).toBe("no_active_organization");
  });

  it.each([[{}], [{ role: "owner" }], [{ role: "admin", org: "acme" }], [{ role: "admin", extra: 1 }], [[]]])(
    "refuses %j: 400 validation_failed",
    async (body) => {
      const res = await signIn(devGateway(), body);
      expect(res.status).toBe(400);
      expect((await problem(res)).code).toBe("validation_failed");
    },
  );

  it("does not exist where its key is not set: 404", async () => {
    const res = await signIn(gatewayWith({ DASHBOARD_DEV_SIGN_IN_KEY: "" }), { role: "admin" });
    expect(res.status).toBe(404);
    expect((await problem(res)).code).toBe("not_found");
  });

  it.each(["staging", "production"])("%s refuses DASHBOARD_DEV_SIGN_IN_KEY at config parse: 503 gateway_misconfigured", async (environment) => {
    const gateway = gatewayWith({ ENVIRONMENT: environment, DASHBOARD_DEV_SIGN_IN_KEY: devPrivatePem });
    for (const path of ["/healthz", "/dashboard/dev-session"]) {
      const res = await gateway.fetch(path, { method: path === "/healthz" ? "GET" : "POST", body: path === "/healthz" ? undefined : '{"role":"admin"}' });
      expect(res.status).toBe(503);
      const body = await problem(res);
      expect(body.code).toBe("gateway_misconfigured");
      expect(JSON.stringify(body)).not.toContain("PRIVATE KEY");
    }
  });

  it("is configured in wrangler.toml for local development only, with the committed development key", () => {
    const [topLevel, ...environments] = wranglerToml.split(/^\[env\./m);
    const value = /^DASHBOARD_DEV_SIGN_IN_KEY = """\n([\s\S]*?)"""/m.exec(topLevel!)?.[1];
    expect(value?.trim()).toBe(devPrivatePem.trim());
    for (const section of environments) expect(section).not.toContain("DASHBOARD_DEV_SIGN_IN_KEY");
  });
});

describe("checkDevSessionRequest", () => {
  it.each([
    [{ role: "admin" }, { role: "admin", org: "org_dev" }],
    [{ role: "member", org: "org_x1" }, { role: "member", org: "org_x1" }],
    [{ role: "admin", org: null }, { role: "admin", org: null }],
    [{ role: "admin", org: "org_" }, undefined],
    [{ role: "admin", org: 5 }, undefined],
    [null, undefined],
  ])("%j → %j", (body, expected) => {
    expect(checkDevSessionRequest(body)).toEqual(expected);
  });
});
