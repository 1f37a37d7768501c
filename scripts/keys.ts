#!/usr/bin/env tsx
/**
 * `npm run keys -- <command> …`: the operator CLI for API keys (see `npm run keys -- --help` and
 * docs/api-keys.md). This file parses the command line with the shared parser (scripts/lib/cli.ts)
 * and connects the CLI core (src/keys/cli.ts) to a KV namespace:
 *
 * - default: local KV, through wrangler's `getPlatformProxy` with the state `wrangler dev` uses
 *   (`.wrangler/state`), and the pepper from `.dev.vars` (or `.dev.vars.example`);
 * - `--env staging|production`: that deployment's namespace through the Cloudflare REST API, with
 *   `API_KEY_PEPPER`, `CLOUDFLARE_API_TOKEN` and `CLOUDFLARE_ACCOUNT_ID` from the environment.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname } from "node:path";
import { type CliDeps, KEYS_OPTIONS, keysCommandLineError, runKeysCommand } from "../src/keys/cli";
import { issuePrefixFor } from "../src/keys/format";
import { type KvLike, type KvListPage, kvFromBinding } from "../src/keys/store";
import { operatorRevocationSink } from "../src/revocation/operator";
import { parseLimitSpecs } from "../src/ratelimit/policy";
import { main, parseCommandLine, UsageError } from "./lib/cli";

const CONFIG_PATH = "wrangler.toml";
const DEV_KEY_FILE = ".wrangler/dev-key.txt";

/** A variable from a dotenv-style file (`NAME="value"`), or undefined. */
function readDevVar(file: string, name: string): string | undefined {
  if (!existsSync(file)) return undefined;
  for (const line of readFileSync(file, "utf8").split(/\r?\n/)) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m?.[1] === name) return m[2]!.replace(/^"(.*)"$|^'(.*)'$/, "$1$2");
  }
  return undefined;
}

/** The namespace id behind a deployed Worker's KV binding (Workers script settings API). */
async function deployedKvNamespace(accountId: string, script: string, binding: string, token: string): Promise<string> {
  const url = `https://api.cloudflare.com/client/v4/accounts/${accountId}/workers/scripts/${encodeURIComponent(script)}/settings`;
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`cannot read ${script}'s bindings (Cloudflare API ${res.status}); is it deployed, and may the token read Workers scripts?`);
  const body = (await res.json()) as { result?: { bindings?: { type: string; name: string; namespace_id?: string }[] } };
  const id = body.result?.bindings?.find((b) => b.type === "kv_namespace" && b.name === binding)?.namespace_id;
  if (!id) throw new Error(`${script} has no ${binding} KV binding: deploy it first (docs/operations.md, first deploy)`);
  return id;
}

/** KV over the Cloudflare REST API (one namespace of one account). */
function restKv(accountId: string, namespaceId: string, token: string): KvLike {
  const base = `https://api.cloudflare.com/client/v4/accounts/${accountId}/storage/kv/namespaces/${namespaceId}`;
  const call = async (path: string, init: RequestInit = {}): Promise<Response> => {
    const res = await fetch(base + path, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } });
    if (!res.ok && res.status !== 404) throw new Error(`Cloudflare API ${init.method ?? "GET"} ${res.status}`);
    return res;
  };
  const value = (key: string) => `/values/${encodeURIComponent(key)}`;
  const kv: KvLike = {
    async get(key) {
      const res = await call(value(key));
      return res.status === 404 ? null : res.text();
    },
    async getMany(keys) {
      return new Map(await Promise.all(keys.map(async (key) => [key, await kv.get(key)] as const)));
    },
    async put(key, text, options) {
      const form = new FormData();
      form.set("value", text);
      if (options?.metadata !== undefined) form.set("metadata", JSON.stringify(options.metadata));
      const query = options?.expiration === undefined ? "" : `?expiration=${options.expiration}`;
      await call(value(key) + query, { method: "PUT", body: form });
    },
    async delete(key) {
      await call(value(key), { method: "DELETE" });
    },
    async list({ prefix, limit, cursor }) {
      // The REST API lists at least 10 keys a page.
      const query = new URLSearchParams({ prefix, limit: String(Math.max(10, limit)), ...(cursor ? { cursor } : {}) });
      const body = (await (await call(`/keys?${query}`)).json()) as {
        result: { name: string; metadata?: unknown }[];
        result_info?: { cursor?: string };
      };
      const next = body.result_info?.cursor || undefined;
      return { keys: body.result, list_complete: next === undefined, ...(next ? { cursor: next } : {}) } satisfies KvListPage;
    },
  };
  return kv;
}

let dispose = async () => {};

await main("keys", async () => {
  const line = parseCommandLine(process.argv.slice(2), KEYS_OPTIONS);
  const env = typeof line.values["env"] === "string" ? line.values["env"] : undefined;
  // Help and a wrong command or option need no KV: answer them without starting wrangler.
  const deps = keysCommandLineError(line) === undefined ? await connect(env) : offlineDeps();
  try {
    const result = await runKeysCommand(line, deps);
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    return result.code;
  } finally {
    await dispose();
  }
});

/** Tier names of a `RATE_LIMIT_TIERS` value, lowest first (the worker checks the rest of it). */
function tierNames(value: unknown): string[] {
  const tiers = parseLimitSpecs("RATE_LIMIT_TIERS", typeof value === "string" ? value : undefined);
  if (!tiers.ok) throw new Error(tiers.message);
  return tiers.specs.map((t) => t.name);
}

/** Deps for commands that never touch KV (help, usage errors). */
function offlineDeps(): CliDeps {
  const kv = new Proxy({}, { get: () => () => Promise.reject(new Error("no KV for this command")) }) as KvLike;
  return { kv, pepper: "", prefix: issuePrefixFor("development"), target: "local", operator: "cli" };
}

async function connect(env: string | undefined): Promise<CliDeps> {
  const operator = process.env["KEYS_OPERATOR"] ?? userInfo().username ?? "cli";

  // Wrangler logs informational lines on stdout, which `--json` output must not carry.
  process.env["WRANGLER_LOG"] ??= "warn";

  if (env === undefined || env === "local" || env === "development") {
    const { getPlatformProxy } = await import("wrangler");
    // The development secrets come from .dev.vars, or from the example file `npm run dev` copies it from.
    const envFiles = [existsSync(".dev.vars") ? ".dev.vars" : ".dev.vars.example"];
    const proxy = await getPlatformProxy<{ API_KEYS: KVNamespace; RATE_LIMIT_TIERS?: string }>({ configPath: CONFIG_PATH, persist: true, remoteBindings: false, envFiles });
    dispose = () => proxy.dispose();
    const pepper = readDevVar(".dev.vars", "API_KEY_PEPPER") ?? readDevVar(".dev.vars.example", "API_KEY_PEPPER");
    if (!pepper) throw new Error("API_KEY_PEPPER is missing from .dev.vars and .dev.vars.example");
    const gatewayUrl = `http://127.0.0.1:${process.env["PORT"] ?? "8787"}`;
    const toLocalGateway = operatorRevocationSink({ baseUrl: gatewayUrl, pepper, operator });
    return {
      kv: kvFromBinding(proxy.env.API_KEYS),
      pepper,
      prefix: issuePrefixFor("development"),
      target: "local",
      operator,
      gatewayUrl,
      rateLimitTiers: tierNames(proxy.env.RATE_LIMIT_TIERS),
      // Locally the gateway may not be running (seed-dev runs before it starts): then KV only.
      revocations: {
        append: (entries) =>
          toLocalGateway.append(entries).catch(() => {
            process.stderr.write(`note: no gateway at ${gatewayUrl}; the revocation went to local KV only\n`);
          }),
      },
      devKeyFile: {
        read: async () => (existsSync(DEV_KEY_FILE) ? readFileSync(DEV_KEY_FILE, "utf8") : null),
        write: async (text) => {
          mkdirSync(dirname(DEV_KEY_FILE), { recursive: true });
          writeFileSync(DEV_KEY_FILE, text, { mode: 0o600 });
        },
      },
    };
  }
  if (env === "staging" || env === "production") {
    const pepper = process.env["API_KEY_PEPPER"];
    const token = process.env["CLOUDFLARE_API_TOKEN"];
    const accountId = process.env["CLOUDFLARE_ACCOUNT_ID"];
    if (!pepper || pepper.length < 32) throw new UsageError(`set API_KEY_PEPPER to the ${env} pepper (≥ 32 characters) to act on ${env}`);
    if (!token || !accountId) throw new UsageError("set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID to act on a deployment");
    const { unstable_readConfig } = await import("wrangler");
    const config = unstable_readConfig({ config: CONFIG_PATH, env }, { hideWarnings: true });
    // Without an id in wrangler.toml the namespace was provisioned by the first deploy: the
    // deployed Worker's own binding says which it is.
    const namespaceId =
      (config.kv_namespaces as { binding: string; id?: string }[]).find((ns) => ns.binding === "API_KEYS")?.id ??
      (await deployedKvNamespace(accountId, config.name!, "API_KEYS", token));
    // The revocation log is reached through the deployed gateway (signed with the pepper): a
    // revoke, rotate or revoke-all fails, with nothing changed, if it cannot be.
    const route = (config.routes as { pattern: string }[] | undefined)?.[0]?.pattern;
    const baseUrl = process.env["AGNTIX_GATEWAY_URL"] ?? (route ? `https://${route}` : undefined);
    if (!baseUrl) throw new Error(`no route for env ${env} in ${CONFIG_PATH}; set AGNTIX_GATEWAY_URL`);
    return {
      kv: restKv(accountId, namespaceId, token),
      pepper,
      prefix: issuePrefixFor(env),
      target: env,
      operator,
      rateLimitTiers: tierNames((config.vars as Record<string, unknown> | undefined)?.["RATE_LIMIT_TIERS"]),
      revocations: operatorRevocationSink({ baseUrl, pepper, operator }),
    };
  }
  throw new UsageError(`--env must be staging or production (got ${JSON.stringify(env)}); leave it out for local KV`);
}
