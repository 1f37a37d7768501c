// The deploy smoke check (scripts/smoke.mjs), run as the workflow runs it, against the gateway
// under `wrangler dev` with its own state in a temporary directory: the audit schema applied and a
// smoke key created beforehand, as the runbook's first deploy does.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runKeysCommand } from "../../src/keys/cli";
import { issuePrefixFor } from "../../src/keys/format";
import { kvFromBinding } from "../../src/keys/store";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = (name: string) => join(root, "node_modules/.bin", name);
const PEPPER = "smoke-test-pepper-0123456789abcdef0123456789";

const state = mkdtempSync(join(tmpdir(), "agntix-smoke-"));
let dev: ChildProcess | undefined;
let base = "";
let smokeKey = "";

/** A free TCP port on 127.0.0.1 (the OS picks; released before wrangler takes it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function smoke(args: string[], key = smokeKey) {
  const run = spawnSync(process.execPath, ["scripts/smoke.mjs", "--url", base, "--attempts", "1", ...args], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, SMOKE_API_KEY: key },
    timeout: 60_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

beforeAll(async () => {
  const envFile = join(state, "secrets.env");
  writeFileSync(envFile, `API_KEY_PEPPER="${PEPPER}"\n`);
  // No API_KEY_PEPPER from this process (vitest.config.ts sets the tests' one): wrangler would let
  // it override the env file's.
  const { API_KEY_PEPPER: _inherited, ...inherited } = process.env;
  // (Cast: worker-configuration.d.ts types process.env with the worker's vars, pepper included.)
  const env = { ...inherited, CI: "1", NO_COLOR: "1", WRANGLER_LOG: "warn", WRANGLER_SEND_METRICS: "false" } as unknown as NodeJS.ProcessEnv;
  const migrated = spawnSync(bin("wrangler"), ["d1", "migrations", "apply", "AUDIT_DB", "--local", "--persist-to", state], { cwd: root, env, encoding: "utf8" });
  expect(migrated.status, migrated.stderr).toBe(0);

  // The smoke key, created with the operator CLI's core in the state wrangler dev will serve.
  const { getPlatformProxy } = await import("wrangler");
  const proxy = await getPlatformProxy<{ API_KEYS: KVNamespace }>({ configPath: join(root, "wrangler.toml"), persist: { path: join(state, "v3") /* wrangler dev --persist-to adds v3 */ }, envFiles: [envFile] });
  try {
    const created = await runKeysCommand(
      { positionals: ["create"], values: { org: "org_smoke", name: "Deploy smoke check", scopes: "api-keys:read", json: true } },
      { kv: kvFromBinding(proxy.env.API_KEYS), pepper: PEPPER, prefix: issuePrefixFor("development"), target: "local", operator: "smoke-test" },
    );
    expect(created.code, created.stderr).toBe(0);
    smokeKey = (JSON.parse(created.stdout) as { key: string }).key;
  } finally {
    await proxy.dispose();
  }

  const [port, inspector] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${port}`;
  const args = ["dev", "-c", "wrangler.toml", "-c", "examples/origins/chat.toml", "-c", "examples/origins/voice.toml"];
  args.push("--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector), "--persist-to", state, "--env-file", envFile);
  args.push("--show-interactive-dev-session=false");
  // WRANGLER_LOG stays at info here: "Ready on" is an info line.
  dev = spawn(bin("wrangler"), args, { cwd: root, env: { ...env, WRANGLER_LOG: "info" }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk;
      if (/Ready on/.test(output)) resolve();
    };
    dev!.stdout!.on("data", onData);
    dev!.stderr!.on("data", onData);
    dev!.once("exit", (code) => reject(new Error(`wrangler dev exited (${code}):\n${output}`)));
  });
});

afterAll(() => {
  if (dev?.pid) {
    try {
      process.kill(-dev.pid, "SIGTERM"); // its own process group: wrangler and its workerd
    } catch {
      // already gone
    }
  }
  rmSync(state, { recursive: true, force: true });
});

describe("scripts/smoke.mjs against wrangler dev", () => {
  it("passes: /healthz ok, /readyz ready, the smoke key's call 200", () => {
    const result = smoke([]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/^smoke: ok \(http:\/\/127\.0\.0\.1:\d+; \/healthz, \/readyz, \/v1\/chat\/api-keys\?limit=1\)\n$/);
    expect(result.code).toBe(0);
  });

  it("fails on a key the gateway refuses, naming the check and never printing the key", () => {
    const wrong = `${smokeKey.slice(0, -6)}AAAAAA`;
    const result = smoke([], wrong);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("smoke: FAILED GET /v1/chat/api-keys?limit=1 with the smoke key: HTTP 401 invalid_api_key\n");
    expect(result.stderr + result.stdout).not.toContain(wrong.slice(8));
  });

  it("fails when the gateway does not serve the expected version", () => {
    const result = smoke(["--expect-version", "00000000-0000-0000-0000-000000000000"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^smoke: FAILED \/healthz: serves version [\w-]+, not 00000000-0000-0000-0000-000000000000\n/);
  });

  it("refuses to run without a smoke key (exit 2)", () => {
    const result = smoke([], "");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^smoke: SMOKE_API_KEY must be set/);
  });
});
