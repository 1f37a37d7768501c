/**
 * Starts the gateway the browser tests use: `wrangler dev` on this project's wrangler.toml (whose
 * [build] command builds the dashboard's development assets) with the two example origins, a
 * throwaway local KV, and a test pepper, exactly as `npm run dev` serves it. Ports come from
 * BROWSER_TEST_PORT / BROWSER_TEST_INSPECTOR_PORT, or are free ports the OS picks. Local D1 gets the
 * audit log's migrations first, as `npm run dev` does.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    gatewayUrl: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const port = Number(process.env["BROWSER_TEST_PORT"] ?? (await freePort()));
  const inspectorPort = Number(process.env["BROWSER_TEST_INSPECTOR_PORT"] ?? (await freePort()));
  const state = mkdtempSync(join(tmpdir(), "agntix-browser-"));
  const url = `http://127.0.0.1:${port}`;
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", CI: "true" };
  const wranglerBin = join(process.cwd(), "node_modules/.bin/wrangler");
  // The audit log's schema in this throwaway local D1, as `npm run dev` applies it.
  const migrated = spawnSync(wranglerBin, ["d1", "migrations", "apply", "AUDIT_DB", "--local", "--persist-to", state], { env, encoding: "utf8" });
  if (migrated.status !== 0) throw new Error(`wrangler d1 migrations apply failed:\n${migrated.stdout}\n${migrated.stderr}`);
  let output = "";
  const wrangler: ChildProcess = spawn(
    wranglerBin,
    [
      "dev",
      ...["-c", "wrangler.toml", "-c", "examples/origins/chat.toml", "-c", "examples/origins/voice.toml"],
      ...["--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort)],
      ...["--persist-to", state, "--show-interactive-dev-session=false", "--log-level", "warn"],
      ...["--var", "API_KEY_PEPPER:browser-test-pepper-0123456789abcdef0123456789"],
    ],
    { env, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  wrangler.stdout?.on("data", (chunk) => (output += String(chunk)));
  wrangler.stderr?.on("data", (chunk) => (output += String(chunk)));

  const stop = async () => {
    if (wrangler.exitCode === null && wrangler.pid) {
      const exited = new Promise((resolve) => wrangler.once("exit", resolve));
      process.kill(-wrangler.pid, "SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (wrangler.exitCode === null) process.kill(-wrangler.pid, "SIGKILL");
    }
    rmSync(state, { recursive: true, force: true });
  };

  // Ready when /healthz answers (generous: the first start builds the page and compiles the worker).
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (wrangler.exitCode !== null) throw new Error(`wrangler dev exited (${wrangler.exitCode}):\n${output}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not become ready on ${url}:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  project.provide("gatewayUrl", url);
  return stop;
}
