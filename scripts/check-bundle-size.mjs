#!/usr/bin/env node
// Bundle-size gate: builds the worker exactly as `wrangler deploy` would (dry run, no network, no
// account) and fails when the gzip size of what would be uploaded exceeds the limit.
//
//   node scripts/check-bundle-size.mjs [--env production] [--limit-kib 100] [--outdir dir]
//   node scripts/check-bundle-size.mjs --dir dist/production     (measure a build already made)
//   node scripts/check-bundle-size.mjs --dashboard dashboard/dist/production [--limit-kib 30]
//                                    (the dashboard page's JavaScript, as built by scripts/build-dashboard.mjs)
//
// Run it through npm/npx so that Node 22 (the `node` devDependency) runs wrangler.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

/** The limit the CI holds the production bundle to. */
export const DEFAULT_LIMIT_KIB = 100;
/** The limit the CI holds the dashboard page's JavaScript to. */
export const DASHBOARD_LIMIT_KIB = 30;

const root = fileURLToPath(new URL("..", import.meta.url));

/**
 * Run `wrangler deploy [script] --dry-run --outdir <outdir>` for an environment and return the
 * output directory (`script` overrides the config's `main`, for experiments). Throws with
 * wrangler's own output when the build fails.
 */
export function dryRunBuild({ outdir, env = "production", config = "wrangler.toml", script = undefined }) {
  const manifest = createRequire(join(root, "package.json")).resolve("wrangler/package.json");
  const wrangler = join(dirname(manifest), JSON.parse(readFileSync(manifest, "utf8")).bin.wrangler);
  const args = [wrangler, "deploy", ...(script ? [script] : []), "--dry-run", "--outdir", outdir, "--config", config];
  if (env) args.push("--env", env);
  const run = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
    timeout: 120_000,
  });
  if (run.status !== 0) {
    throw new Error(`wrangler deploy --dry-run failed (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
  return outdir;
}

/** Raw and gzip sizes, in bytes, of the modules wrangler would upload (source maps and README excluded). */
export function bundleSize(outdir) {
  let bytes = 0;
  let gzipBytes = 0;
  const files = [];
  for (const name of readdirSync(outdir, { recursive: true }).map(String).sort()) {
    if (name.endsWith(".map") || name === "README.md") continue;
    let content;
    try {
      content = readFileSync(join(outdir, name));
    } catch {
      continue; // a directory
    }
    const gz = gzipSync(content, { level: 9 }).length;
    bytes += content.length;
    gzipBytes += gz;
    files.push({ name, bytes: content.length, gzipBytes: gz });
  }
  if (files.length === 0) throw new Error(`no modules found in ${outdir}`);
  return { bytes, gzipBytes, files };
}

function parseArgs(argv) {
  const options = { env: "production", limitKiB: undefined, outdir: undefined, dir: undefined, dashboard: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === "--env" && value !== undefined) (options.env = value), i++;
    else if (flag === "--limit-kib" && value !== undefined) (options.limitKiB = Number(value)), i++;
    else if (flag === "--outdir" && value !== undefined) (options.outdir = value), i++;
    else if (flag === "--dir" && value !== undefined) (options.dir = value), i++;
    else if (flag === "--dashboard" && value !== undefined) (options.dashboard = value), i++;
    else throw new Error(`unknown argument: ${flag}`);
  }
  options.limitKiB ??= options.dashboard ? DASHBOARD_LIMIT_KIB : DEFAULT_LIMIT_KIB;
  if (!(options.limitKiB > 0)) throw new Error("--limit-kib must be a positive number");
  return options;
}

/** The gzip size of the dashboard page's JavaScript (every .js under the assets directory). */
export function dashboardSize(assetsDir) {
  const files = readdirSync(assetsDir, { recursive: true }).map(String).filter((name) => name.endsWith(".js"));
  if (files.length === 0) throw new Error(`no JavaScript found in ${assetsDir}: run npm run build:dashboard`);
  let bytes = 0;
  let gzipBytes = 0;
  for (const name of files) {
    const content = readFileSync(join(assetsDir, name));
    bytes += content.length;
    gzipBytes += gzipSync(content, { level: 9 }).length;
  }
  return { bytes, gzipBytes, files };
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.dashboard) {
    const size = dashboardSize(options.dashboard);
    const verdict = size.gzipBytes <= options.limitKiB * 1024 ? "ok" : "TOO LARGE";
    console.log(
      `dashboard page JS (${options.dashboard}): ${(size.bytes / 1024).toFixed(2)} KiB, gzip ${(size.gzipBytes / 1024).toFixed(2)} KiB ` +
        `(limit ${options.limitKiB} KiB): ${verdict}`,
    );
    if (verdict !== "ok") process.exitCode = 1;
    return;
  }
  const outdir = options.dir ?? options.outdir ?? mkdtempSync(join(tmpdir(), "agntix-bundle-"));
  try {
    if (!options.dir) dryRunBuild({ outdir, env: options.env });
    const size = bundleSize(outdir);
    const kib = (n) => (n / 1024).toFixed(2);
    const verdict = size.gzipBytes <= options.limitKiB * 1024 ? "ok" : "TOO LARGE";
    console.log(
      `bundle (${options.dir ?? (options.env || "top level")}): ${kib(size.bytes)} KiB, gzip ${kib(size.gzipBytes)} KiB ` +
        `(limit ${options.limitKiB} KiB): ${verdict}`,
    );
    if (verdict !== "ok") process.exitCode = 1;
  } finally {
    if (!options.dir && !options.outdir) rmSync(outdir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    main();
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
