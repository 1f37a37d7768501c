// The pepper guard: KV records the fingerprint of the pepper its keys are hashed under, and
// neither the gateway nor the CLI issues a key under a pepper that does not match it.
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { type Bindings, getConfig } from "../../src/env";
import { type CliDeps, type KeysCommandLine, runKeysCommand } from "../../src/keys/cli";
import { PEPPER_FINGERPRINT_LABEL } from "../../src/keys/hash";
import { kvFromBinding } from "../../src/keys/store";
import { seedKey } from "../helpers/keys";

const config = getConfig(env as unknown as Bindings);
const GATEWAY_PEPPER = config.apiKeys.pepper;
const OTHER_PEPPER = "a-mistyped-pepper-0123456789abcdef0123456789";
const FINGERPRINT_KEY = "meta:pepper-fingerprint";

/** HMAC-SHA256(pepper, label) in hex, computed here independently of the code under test. */
async function fingerprintOf(pepper: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(pepper), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(PEPPER_FINGERPRINT_LABEL));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const recorded = async () => JSON.parse((await env.API_KEYS.get(FINGERPRINT_KEY)) ?? "null") as { fingerprint: string } | null;

function cli(pepper: string) {
  const deps: CliDeps = { kv: kvFromBinding(env.API_KEYS), pepper, prefix: config.apiKeys.issuePrefix, target: "local", operator: "alice" };
  return (positionals: string[], values: KeysCommandLine["values"] = {}) => runKeysCommand({ positionals, values }, deps);
}

const createVia = (key: string, name: string) =>
  exports.default.fetch("https://api.agntix.test/v1/chat/api-keys", {
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/json" },
    body: JSON.stringify({ name, scopes: ["chat:read"] }),
  });

beforeEach(() => env.API_KEYS.delete(FINGERPRINT_KEY));

describe("the first key issued records the pepper's fingerprint", () => {
  it("records HMAC(pepper, fixed label), never the pepper", async () => {
    expect(await recorded()).toBeNull();
    await seedKey("org_pep1");
    const stored = await env.API_KEYS.get(FINGERPRINT_KEY);
    expect(JSON.parse(stored!)).toMatchObject({ fingerprint: await fingerprintOf(GATEWAY_PEPPER) });
    expect(stored).not.toContain(GATEWAY_PEPPER);
  });
});

describe("a pepper that does not match is refused", () => {
  it("the CLI with a mistyped pepper creates nothing and says why", async () => {
    await seedKey("org_pep2"); // the gateway's pepper is recorded
    const result = await cli(OTHER_PEPPER)(["create"], { org: "org_pep2", name: "never verifies", scopes: "chat:read" });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^keys: key_issuance_unavailable: /);
    expect(result.stderr).toMatch(/pepper-check/);
    const listed = JSON.parse((await cli(GATEWAY_PEPPER)(["list"], { org: "org_pep2", json: true })).stdout) as { data: { name: string }[] };
    expect(listed.data.map((k) => k.name)).toEqual(["test key"]);
  });

  it("the gateway answers 503 key_issuance_unavailable, and existing keys keep working", async () => {
    const admin = await seedKey("org_pep3");
    await env.API_KEYS.put(FINGERPRINT_KEY, JSON.stringify({ fingerprint: await fingerprintOf(OTHER_PEPPER) }));
    const res = await createVia(admin.key, "refused");
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    const body = (await res.json()) as { code: string; detail: string };
    expect(body.code).toBe("key_issuance_unavailable");
    expect(JSON.stringify(body)).not.toContain("pepper");
    expect((await exports.default.fetch("https://api.agntix.test/v1/chat/agents", { headers: { "x-api-key": admin.key } })).status).toBe(200);
  });
});

describe("pepper-check and pepper-set", () => {
  it("check: unset, match (exit 0) and mismatch (exit 1)", async () => {
    expect(JSON.parse((await cli(GATEWAY_PEPPER)(["pepper-check"], { json: true })).stdout)).toMatchObject({ verdict: "unset" });
    await seedKey("org_pep4");
    const match = await cli(GATEWAY_PEPPER)(["pepper-check"]);
    expect(match.code).toBe(0);
    expect(match.stdout).toMatch(/^The pepper matches the fingerprint recorded in local KV/);
    const mismatch = await cli(OTHER_PEPPER)(["pepper-check"]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/^keys: key_issuance_unavailable: /);
  });

  it("set needs --yes, then records the new pepper so that issuing works under it", async () => {
    await seedKey("org_pep5");
    expect((await cli(OTHER_PEPPER)(["pepper-set"])).code).toBe(2);
    expect(await recorded()).toMatchObject({ fingerprint: await fingerprintOf(GATEWAY_PEPPER) });
    const set = await cli(OTHER_PEPPER)(["pepper-set"], { yes: true });
    expect(set.code).toBe(0);
    expect(await recorded()).toMatchObject({ fingerprint: await fingerprintOf(OTHER_PEPPER) });
    expect((await cli(OTHER_PEPPER)(["create"], { org: "org_pep5", name: "after rotation", scopes: "chat:read" })).code).toBe(0);
  });
});
