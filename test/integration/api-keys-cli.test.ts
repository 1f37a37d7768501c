// The operator CLI's core against this file's real KV binding, with the gateway's own pepper:
// keys the CLI creates work at the gateway, and keys it revokes or rotates stop working.
// (scripts/keys.ts parses argv and connects this core to a KV; test/node/cli.test.ts runs it as a process.)
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Bindings } from "../../src/env";
import { getConfig } from "../../src/env";
import { resetKeyCaches } from "../../src/keys/cache";
import { type CliDeps, DEV_ORG, type KeysCommandLine, runKeysCommand } from "../../src/keys/cli";
import { kvFromBinding } from "../../src/keys/store";

const config = getConfig(env as unknown as Bindings);
const gw = (path: string, key: string) => exports.default.fetch(`https://api.agntix.test${path}`, { headers: { "x-api-key": key } });

function cli(overrides: Partial<CliDeps> = {}) {
  const deps: CliDeps = {
    kv: kvFromBinding(env.API_KEYS),
    pepper: config.apiKeys.pepper,
    prefix: config.apiKeys.issuePrefix,
    target: "local",
    operator: "alice",
    ...overrides,
  };
  // The command line as the shared parser (scripts/lib/cli.ts, node:util parseArgs) hands it over.
  return (positionals: string[], values: KeysCommandLine["values"] = {}) => runKeysCommand({ positionals, values }, deps);
}

async function jsonOf<T = Record<string, unknown>>(run: Promise<{ code: number; stdout: string; stderr: string }>): Promise<T> {
  const result = await run;
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

beforeEach(() => resetKeyCaches());

describe("create, list, get", () => {
  it("bootstraps an organisation's first key, which the gateway accepts", async () => {
    const created = await jsonOf<{ key: string; id: string; org_id: string; created_by: unknown }>(
      cli()(["create"], { org: "org_boot", name: "Bootstrap admin", scopes: "*", json: true }),
    );
    expect(created.org_id).toBe("org_boot");
    expect(created.created_by).toEqual({ method: "operator", id: "alice" });
    const res = await gw("/v1/chat/api-keys", created.key);
    expect(res.status).toBe(200);
    const listed = (await res.json()) as { data: { id: string }[] };
    expect(listed.data.map((k) => k.id)).toEqual([created.id]);
  });

  it("prints human-readable output with the key once, and a warning on stderr", async () => {
    const result = await cli()(["create"], { org: "org_human", name: "CI bot", scopes: "chat:write,agents:read" });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Created in local:\nFIELD +VALUE\nid +key_\w{24}\norg +org_human\nname +CI bot\nscopes +chat:write,agents:read\n/);
    expect(result.stdout).toMatch(/\nkey +pk_test_\w{36}\n$/);
    expect(result.stderr).toMatch(/shown only now/);
    const listed = await cli()(["list"], { org: "org_human" });
    expect(listed.stdout).toContain("CI bot");
    expect(listed.stdout).not.toMatch(/pk_test_\w{36}/);
  });

  it("sets any configured tier with --rate-limit (an operator has no ceiling), and refuses an unknown one", async () => {
    const tiers = config.rateLimits.tiers.map((t) => t.name);
    const top = tiers.at(-1)!;
    const created = await jsonOf<{ id: string; rate_limit: string }>(
      cli({ rateLimitTiers: tiers })(["create"], { org: "org_tier", name: "big", scopes: "chat:read", "rate-limit": top, json: true }),
    );
    expect(created.rate_limit).toBe(top);
    expect((await cli()(["get", created.id], {})).stdout).toMatch(new RegExp(`\\nrate limit +${top}\\n`));
    const unknown = await cli({ rateLimitTiers: tiers })(["create"], { org: "org_tier", name: "x", scopes: "chat:read", "rate-limit": "gold" });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/validation_failed[\s\S]*rate_limit must be one of/);
  });

  it("lists every page with --all, and get shows one record", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await jsonOf<{ id: string }>(cli()(["create"], { org: "org_pages", name: `k${i}`, scopes: "chat:read", json: true }))).id);
    const one = await jsonOf<{ data: unknown[]; next_cursor: string | null }>(cli()(["list"], { org: "org_pages", limit: "2", json: true }));
    expect(one.data).toHaveLength(2);
    expect(one.next_cursor).toBeTruthy();
    const all = await jsonOf<{ data: { id: string }[]; next_cursor: null }>(cli()(["list"], { org: "org_pages", limit: "2", all: true, json: true }));
    expect(all.data.map((k) => k.id)).toEqual([...ids].reverse());
    expect(all.next_cursor).toBeNull();
    const got = await jsonOf<{ id: string; name: string }>(cli()(["get", ids[0]!], { json: true }));
    expect(got).toMatchObject({ id: ids[0], name: "k0" });
  });
});

describe("revoke and rotate", () => {
  it("revoke: the key is refused by the gateway afterwards", async () => {
    const { key, id } = await jsonOf<{ key: string; id: string }>(cli()(["create"], { org: "org_rev", name: "x", scopes: "*", json: true }));
    expect((await gw("/v1/chat/agents", key)).status).toBe(200);
    resetKeyCaches(); // the CLI reaches KV, not this isolate's cache: a fresh isolate's view
    expect(await jsonOf(cli()(["revoke", id], { json: true }))).toEqual({ revoked: [id] });
    expect((await gw("/v1/chat/agents", key)).status).toBe(401);
  });

  it("rotate by id with a grace period: both keys work until the end", async () => {
    const old = await jsonOf<{ key: string; id: string }>(cli()(["create"], { org: "org_crot", name: "svc", scopes: "voice-only", json: true }));
    const { data } = await jsonOf<{ data: { old_id: string; key: string; name: string; scopes: string[]; old_key_expires_at: string }[] }>(
      cli()(["rotate", old.id], { grace: "3600", json: true }),
    );
    expect(data).toHaveLength(1);
    expect(data[0]).toMatchObject({ old_id: old.id, name: "svc", scopes: ["voice-only"] });
    expect(Date.parse(data[0]!.old_key_expires_at) - Date.now()).toBeGreaterThan(3_590_000);
    expect((await gw("/v1/voice/x", old.key)).status).toBe(200);
    expect((await gw("/v1/voice/x", data[0]!.key)).status).toBe(200);
  });

  it("scheduled rotation: --older-than picks keys created before the cutoff; --dry-run changes nothing", async () => {
    const t0 = Date.now();
    const at = (ms: number) => cli({ now: () => ms });
    const old = await jsonOf<{ id: string; key: string }>(at(t0 - 100 * 86_400_000)(["create"], { org: "org_sched", name: "old", scopes: "chat:read", json: true }));
    const recent = await jsonOf<{ id: string; key: string }>(at(t0 - 10 * 86_400_000)(["create"], { org: "org_sched", name: "recent", scopes: "chat:read", json: true }));
    const dry = await jsonOf<{ would_rotate: string[] }>(at(t0)(["rotate"], { org: "org_sched", "older-than": "90d", "dry-run": true, json: true }));
    expect(dry.would_rotate).toEqual([old.id]);
    const { data } = await jsonOf<{ data: { old_id: string; key: string }[] }>(at(t0)(["rotate"], { org: "org_sched", "older-than": "90d", json: true }));
    expect(data.map((r) => r.old_id)).toEqual([old.id]);
    resetKeyCaches();
    expect((await gw("/v1/chat", old.key)).status).toBe(401);
    expect((await gw("/v1/chat", recent.key)).status).toBe(200);
    expect((await gw("/v1/chat", data[0]!.key)).status).toBe(200);
  });
});

describe("seed-dev", () => {
  it("creates the development key once, keeps its plaintext in the file, and prints it again", async () => {
    let file: string | null = null;
    const devKeyFile = { read: async () => file, write: async (text: string) => void (file = text) };
    const first = await jsonOf<{ key: string; id: string; org_id: string }>(cli({ devKeyFile })(["seed-dev"], { json: true }));
    expect(Object.keys(first).sort()).toEqual(["id", "key", "org_id"]);
    expect(first.org_id).toBe(DEV_ORG);
    expect(file).toBe(`${first.key}\n`);
    expect(await jsonOf(cli({ devKeyFile })(["seed-dev"], { json: true }))).toEqual(first);
    expect((await gw("/v1/chat/agents", first.key)).status).toBe(200);

    const human = await cli({ devKeyFile, gatewayUrl: "http://127.0.0.1:8787" })(["seed-dev"]);
    expect(human.stdout).toContain(`curl http://127.0.0.1:8787/v1/chat/agents -H "x-api-key: ${first.key}"`);

    // The file is lost: a new key, and the old one (whose plaintext nobody has) is removed.
    file = null;
    const second = await jsonOf<{ key: string; id: string }>(cli({ devKeyFile })(["seed-dev"], { json: true }));
    expect(second.id).not.toBe(first.id);
    const listed = await jsonOf<{ data: { id: string }[] }>(cli()(["list"], { org: DEV_ORG, json: true }));
    expect(listed.data.map((k) => k.id)).toEqual([second.id]);
  });

  it("refuses to run without a local key file (a deployment)", async () => {
    const result = await cli()(["seed-dev"], { json: true });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/local KV only/);
  });
});

describe("usage and errors", () => {
  it.each<[string[], KeysCommandLine["values"], number, RegExp]>([
    [[], {}, 2, /^keys: a command is needed/],
    [["frobnicate"], {}, 2, /^keys: unknown command "frobnicate"; commands: create, list/],
    [["creat"], {}, 2, /\(did you mean create\?\)/],
    [["create"], { org: "org_o", name: "n" }, 2, /^keys: create needs --scopes, e\.g\. --scopes chat:write,agents:read\n/],
    [["list"], { org: "org_o", grace: "5" }, 2, /^keys: list does not take --grace \(it takes --org, --limit, --cursor, --all\)/],
    [["list"], { org: "org_o", limit: "1000" }, 2, /^keys: --limit must be a whole number from 1 to 100 \(got "1000"\)/],
    [["rotate"], {}, 2, /^keys: rotate needs key ids/],
    [["rotate"], { org: "org_o", "older-than": "soon" }, 2, /^keys: --older-than must look like 90d, 12h, 30m or a number of seconds \(got "soon"\)/],
    [["revoke", "key_000000000000000000000000"], {}, 1, /^keys: key_not_found: /],
    [["get", "key_000000000000000000000000"], {}, 1, /^keys: key_not_found: /],
  ])("%j %j → exit %i", async (positionals, values, code, message) => {
    const result = await cli()(positionals, values);
    expect(result.code).toBe(code);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(message);
    if (code === 2) expect(result.stderr).toMatch(/\nRun `npm run -s keys -- (\w+ )?--help` for usage\.\n$/);
  });

  it("a bad scope is named, with a guess and every valid scope listed", async () => {
    const result = await cli()(["create"], { org: "org_o", name: "n", scopes: "chat:read,chat:raed,billing:read" });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^keys: --scopes: "chat:raed", "billing:read" are not scopes \(did you mean chat:read\?\); valid: \* read-only voice-only chat:\* /);
    expect(result.stderr).toContain(" api-keys:write\n");
  });

  it.each([[["help"], {}], [[], { help: true }], [["list"], { help: true }]])("help %j %j prints the usage and exits 0", async (positionals, values) => {
    const result = await cli()(positionals, values);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/^Usage: npm run -s keys -- /);
  });

  it("list prints a table for people: a header and one row per key, never the key", async () => {
    const created = await jsonOf<{ id: string; key: string }>(cli()(["create"], { org: "org_table", name: "Nightly export", scopes: "chat:read", json: true }));
    const result = await cli()(["list"], { org: "org_table" });
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^ID {28}NAME +SCOPES +HINT +CREATED +BY +LAST USED +EXPIRES$/);
    expect(lines[1]).toMatch(new RegExp(`^${created.id}  Nightly export  chat:read  pk_test_\\.\\.\\.\\w{4} +\\d{4}-\\d\\d-\\d\\dT[\\d:]{8}Z  operator:alice  -  +-$`));
    expect(result.stdout).not.toContain(created.key);
  });
});
