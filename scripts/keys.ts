#!/usr/bin/env tsx
/**
 * `npm run keys -- <command> …`: the operator CLI for API keys (see `npm run keys -- help` and
 * docs/api-keys.md). This file only connects the CLI core (src/keys/cli.ts) to a KV namespace:
 *
 * - default: local KV, through wrangler's `getPlatformProxy` with the state `wrangler dev` uses
 *   (`.wrangler/state`), and the pepper from `.dev.vars` (or `.dev.vars.example`);
 * - `--env staging|production`: that deployment's namespace through the Cloudflare REST API, with
 *   `API_KEY_PEPPER`, `CLOUDFLARE_API_TOKEN` and `CLOUDFLARE_ACCOUNT_ID` from the environment.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname } from "node:path";
import { type CliDeps, runKeysCommand } from "../src/keys/cli";
import { issuePrefixFor } from "../src/keys/format";
import { type KvLike, type KvListPage, kvFromBinding } from "../src/keys/store";

const CONFIG_PATH = "wrangler.toml";
const DEV_KEY_FILE = ".wrangler/dev-key.txt";

function takeEnvOption(argv: string[]): { env: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let env: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--env") env = argv[++i];
    else if (arg.startsWith("--env=")) env = arg.slice(6);
    else rest.push(arg);
  }
  return { env, rest };
}

/** A variable from a dotenv-style file (`NAME="value"`), or undefined. */
function readDevVar(file: string, name: string): string | undefined {
  if (!existsSync(file)) return undefined;
  for (const line of readFileSync(file, "utf8").split(/\r?\n/)) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m?.[1] === name) return m[2]!.replace(/^"(.*)"$|^'(.*)'$/, "$1$2");
  }
  return undefined;
}

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
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

async function main(): Promise<void> {
  const { env, rest } = takeEnvOption(process.argv.slice(2));
  const operator = process.env["KEYS_OPERATOR"] ?? userInfo().username ?? "cli";
  let deps: CliDeps;
  let dispose = async () => {};

  // Wrangler logs informational lines on stdout, which `--json` output must not carry.
  process.env["WRANGLER_LOG"] ??= "warn";

  if (env === undefined || env === "local" || env === "development") {
    const { getPlatformProxy } = await import("wrangler");
    const proxy = await getPlatformProxy<{ API_KEYS: KVNamespace }>({ configPath: CONFIG_PATH, persist: true, remoteBindings: false });
    dispose = () => proxy.dispose();
    const pepper = readDevVar(".dev.vars", "API_KEY_PEPPER") ?? readDevVar(".dev.vars.example", "API_KEY_PEPPER");
    if (!pepper) fail("API_KEY_PEPPER is missing from .dev.vars and .dev.vars.example");
    deps = {
      kv: kvFromBinding(proxy.env.API_KEYS),
      pepper,
      prefix: issuePrefixFor("development"),
      target: "local",
      operator,
      gatewayUrl: `http://127.0.0.1:${process.env["PORT"] ?? "8787"}`,
      devKeyFile: {
        read: async () => (existsSync(DEV_KEY_FILE) ? readFileSync(DEV_KEY_FILE, "utf8") : null),
        write: async (text) => {
          mkdirSync(dirname(DEV_KEY_FILE), { recursive: true });
          writeFileSync(DEV_KEY_FILE, text, { mode: 0o600 });
        },
      },
    };
  } else if (env === "staging" || env === "production") {
    const pepper = process.env["API_KEY_PEPPER"];
    const token = process.env["CLOUDFLARE_API_TOKEN"];
    const accountId = process.env["CLOUDFLARE_ACCOUNT_ID"];
    if (!pepper || pepper.length < 32) fail(`API_KEY_PEPPER (the ${env} secret) must be set to act on ${env}`);
    if (!token || !accountId) fail("CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID must be set to act on a deployment");
    const { unstable_readConfig } = await import("wrangler");
    const config = unstable_readConfig({ config: CONFIG_PATH, env }, { hideWarnings: true });
    const namespaceId = (config.kv_namespaces as { binding: string; id?: string }[]).find((ns) => ns.binding === "API_KEYS")?.id;
    if (!namespaceId) fail(`no API_KEYS namespace for env ${env} in ${CONFIG_PATH}`);
    deps = { kv: restKv(accountId, namespaceId, token), pepper, prefix: issuePrefixFor(env), target: env, operator };
  } else {
    fail(`--env must be staging or production (got ${env})`);
  }

  const result = await runKeysCommand(rest, deps);
  await dispose();
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  process.exitCode = result.code;
}

await main();
