/**
 * Networkless mode: with CLERK_JWT_KEY (the PEM Clerk's dashboard shows) tokens are verified with
 * no JWKS fetch at all; and the committed development key pair that `npm run dev` and
 * `npm run token` use works locally and is refused by staging and production.
 */
import { exportSPKI, generateKeyPair, importJWK, importPKCS8 } from "jose";
import { describe, expect, it } from "vitest";
import devPrivatePem from "../../examples/dev-keys/development-only.private.pem?raw";
import devPublicPem from "../../examples/dev-keys/development-only.public.pem?raw";
import wranglerToml from "../../wrangler.toml?raw";
import { bearer, gatewayWith, newSigningKey, newTenant, problem, sign, type SigningKey, v2Claims } from "../helpers/jwt";

async function pemOf(key: SigningKey): Promise<string> {
  return exportSPKI((await importJWK(key.publicJwk, "RS256")) as CryptoKey);
}

describe("networkless verification (CLERK_JWT_KEY)", () => {
  it("verifies with the PEM and never fetches the JWKS, even with the IdP down", async () => {
    const key = await newSigningKey();
    const tenant = await newTenant(key);
    await tenant.mode("down");
    const gateway = gatewayWith({ CLERK_JWT_KEY: await pemOf(key), CLERK_JWKS_URL: tenant.jwksUrl });

    const res = await gateway.fetch("/v1/chat", bearer(await sign(v2Claims(), key)));
    expect(res.status).toBe(200);
    const echo = (await res.json()) as { headers: Record<string, string> };
    expect(echo.headers["x-agntix-org-id"]).toBe("org_test");
    expect(echo.headers["x-agntix-auth-method"]).toBe("jwt");
    expect(await tenant.fetches()).toBe(0);
  });

  it("refuses a token signed by any other key, whatever its kid", async () => {
    const key = await newSigningKey();
    const other = await newSigningKey(key.kid);
    const tenant = await newTenant(other);
    const gateway = gatewayWith({ CLERK_JWT_KEY: await pemOf(key), CLERK_JWKS_URL: tenant.jwksUrl });
    const res = await gateway.fetch("/v1/chat", bearer(await sign(v2Claims(), other)));
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      'Bearer realm="agntix", error="invalid_token", error_description="The token\'s signature is invalid."',
    );
    expect((await problem(res)).code).toBe("invalid_token");
    expect(await tenant.fetches()).toBe(0);
  });

  it("applies every claim rule as with the JWKS", async () => {
    const key = await newSigningKey();
    const gateway = gatewayWith({ CLERK_JWT_KEY: await pemOf(key) });
    const template = await gateway.fetch("/v1/chat", bearer(await sign(v2Claims({ sid: undefined }), key)));
    expect(template.status).toBe(401);
    expect((await problem(template)).detail).toBe("The token has no audience (aud) and no session id (sid): it is neither a JWT-template token nor a session token.");
    const noOrg = await gateway.fetch("/v1/chat", bearer(await sign(v2Claims({ o: undefined }), key)));
    expect(noOrg.status).toBe(403);
    expect((await problem(noOrg)).code).toBe("no_active_organization");
    const noKid = await gateway.fetch("/v1/chat", bearer(await sign(v2Claims(), key, { kid: undefined })));
    expect(noKid.status).toBe(401);
    expect((await problem(noKid)).detail).toBe("The token has no key id (kid).");
  });

  it("a PEM of another key type refuses RS256 tokens with a 401, not a 500", async () => {
    const ec = await generateKeyPair("ES256", { extractable: true });
    const key = await newSigningKey();
    const gateway = gatewayWith({ CLERK_JWT_KEY: await exportSPKI(ec.publicKey) });
    const res = await gateway.fetch("/v1/chat", bearer(await sign(v2Claims(), key)));
    expect(res.status).toBe(401);
    expect((await problem(res)).detail).toBe("The token's algorithm does not match its key.");
  });
});

describe("the development key pair (npm run dev / npm run token)", () => {
  /** The top level of wrangler.toml (local development), as `npm run dev` reads it. */
  const devVar = (name: string) => {
    const topLevel = wranglerToml.split(/^\[env\./m)[0]!;
    const multi = new RegExp(`^${name} = """\\n([\\s\\S]*?)"""`, "m").exec(topLevel);
    return multi ? multi[1]! : new RegExp(`^${name} = "([^"]*)"`, "m").exec(topLevel)![1]!;
  };

  it("wrangler.toml's top level trusts the committed development public key", () => {
    expect(devVar("CLERK_JWT_KEY").trim()).toBe(devPublicPem.trim());
  });

  it("a token signed with the development private key verifies under the development config", async () => {
    const devKey: SigningKey = { kid: "ins_development_only", privateKey: await importPKCS8(devPrivatePem, "RS256"), publicJwk: {} };
    const issuer = devVar("CLERK_ISSUER");
    const azp = devVar("CLERK_AUTHORIZED_PARTIES").split(",")[0]!;
    const gateway = gatewayWith({
      CLERK_ISSUER: issuer,
      CLERK_AUTHORIZED_PARTIES: devVar("CLERK_AUTHORIZED_PARTIES"),
      CLERK_JWT_KEY: devVar("CLERK_JWT_KEY"),
    });
    const token = await sign(
      v2Claims({ iss: issuer, azp, sub: "user_dev", sid: "sess_dev", o: { id: "org_dev", rol: "admin" } }),
      devKey,
      { cat: "cl_B7d4PD111AAA" },
    );
    const res = await gateway.fetch("/v1/voice", { method: "POST", body: "{}", ...bearer(token) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { headers: Record<string, string> }).headers["x-agntix-org-id"]).toBe("org_dev");
  });

  it.each(["staging", "production"])("%s refuses the development key: 503 gateway_misconfigured", async (environment) => {
    const gateway = gatewayWith({ ENVIRONMENT: environment, CLERK_JWT_KEY: devPublicPem });
    const res = await gateway.fetch("/healthz");
    expect(res.status).toBe(503);
    const body = await problem(res);
    expect(body.code).toBe("gateway_misconfigured");
    expect(JSON.stringify(body)).not.toContain("BEGIN PUBLIC KEY");
  });

  it("staging accepts its own key", async () => {
    const key = await newSigningKey();
    const gateway = gatewayWith({ ENVIRONMENT: "staging", CLERK_JWT_KEY: await pemOf(key) });
    expect((await gateway.fetch("/healthz")).status).toBe(200);
  });
});
