#!/usr/bin/env node
// Build the dashboard page (dashboard/) into each environment's Workers Static Assets directory,
// as wrangler.toml's [build] command (before `wrangler dev` and `wrangler deploy`) and before the
// browser tests. The output (dashboard/dist/<environment>/) is never committed.
//
//   node scripts/build-dashboard.mjs [--env development|staging|production]... [--quiet]
//
// Per environment, from wrangler.toml: the assets directory, ENVIRONMENT, CLERK_ISSUER and
// DASHBOARD_CLERK_PUBLISHABLE_KEY. Development builds the development sign-in; staging and
// production build ClerkJS sign-in, and their Content-Security-Policy names Clerk's Frontend API.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { DASHBOARD_LIMIT_KIB } from "./check-bundle-size.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const ENVIRONMENTS = ["development", "staging", "production"];

/** Host of Clerk's Frontend API encoded in a publishable key (`pk_live_<base64("host$")>`). */
export function frontendApiHost(publishableKey) {
  const m = /^pk_(live|test)_([A-Za-z0-9+/]+={0,2})$/.exec(publishableKey);
  if (!m) throw new Error("DASHBOARD_CLERK_PUBLISHABLE_KEY must look like pk_live_… or pk_test_…");
  const decoded = Buffer.from(m[2], "base64").toString("utf8");
  if (!decoded.endsWith("$") || !/^[a-z0-9.-]+\.[a-z]{2,}$/i.test(decoded.slice(0, -1))) {
    throw new Error("DASHBOARD_CLERK_PUBLISHABLE_KEY does not encode a Frontend API host");
  }
  return decoded.slice(0, -1);
}

/** Security headers of every page and asset under /dashboard (Workers Static Assets `_headers`). */
export function securityHeaders(clerkHost) {
  const clerk = clerkHost ? ` https://${clerkHost}` : "";
  const csp = [
    "default-src 'none'",
    // ClerkJS is loaded from its Frontend API and may use Cloudflare Turnstile for bot protection.
    `script-src 'self'${clerk}${clerkHost ? " https://challenges.cloudflare.com" : ""}`,
    // Clerk's components inject their styles; the development page needs only its own stylesheet.
    `style-src 'self'${clerkHost ? " 'unsafe-inline'" : ""}`,
    `img-src 'self' data:${clerkHost ? " https://img.clerk.com" : ""}`,
    `connect-src 'self'${clerk}`,
    ...(clerkHost ? ["frame-src https://challenges.cloudflare.com", "worker-src 'self' blob:"] : []),
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return {
    "Content-Security-Policy": csp,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
  };
}

async function readEnvironment(env) {
  const { unstable_readConfig } = await import("wrangler");
  const config = unstable_readConfig({ config: join(root, "wrangler.toml"), env: env === "development" ? undefined : env }, { hideWarnings: true });
  const vars = config.vars ?? {};
  if (vars.ENVIRONMENT !== env) throw new Error(`wrangler.toml: ${env} has ENVIRONMENT=${vars.ENVIRONMENT}`);
  if (!config.assets?.directory) throw new Error(`wrangler.toml: ${env} has no [assets] directory`);
  return { vars, assetsDir: config.assets.directory };
}

/** Build one environment's assets; returns the page's JS size. */
export async function buildDashboard(env, { quiet = false } = {}) {
  const { vars, assetsDir } = await readEnvironment(env);
  let clerk;
  if (env !== "development") {
    const publishableKey = String(vars.DASHBOARD_CLERK_PUBLISHABLE_KEY ?? "");
    const host = frontendApiHost(publishableKey);
    const issuerHost = new URL(String(vars.CLERK_ISSUER)).host;
    // Clerk's session tokens are issued by its Frontend API: the two must name the same instance.
    if (host !== issuerHost) throw new Error(`${env}: DASHBOARD_CLERK_PUBLISHABLE_KEY is for ${host}, CLERK_ISSUER for ${issuerHost}`);
    clerk = { publishableKey, frontendApi: `https://${host}` };
  }
  const pageConfig = { environment: env, signIn: clerk ? "clerk" : "development", clerk: clerk ?? null };

  const result = await build({
    entryPoints: { "api-keys": join(root, "dashboard/src/main.tsx") },
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2022",
    platform: "browser",
    write: false,
    outdir: "out",
    entryNames: "[name]-[hash]",
    jsx: "automatic",
    jsxImportSource: "hono/jsx/dom",
    define: { __DASHBOARD_CONFIG__: JSON.stringify(pageConfig), __DASHBOARD_SIGN_IN__: JSON.stringify(pageConfig.signIn) },
    legalComments: "none",
    logLevel: "error",
    tsconfig: join(root, "dashboard/tsconfig.json"),
  });
  const js = result.outputFiles.find((f) => f.path.endsWith(".js"));
  if (!js) throw new Error("esbuild produced no JavaScript");
  const css = readFileSync(join(root, "dashboard/src/styles.css"));
  const hash = (bytes) => createHash("sha256").update(bytes).digest("hex").slice(0, 10);
  const sri = (bytes) => `sha384-${createHash("sha384").update(bytes).digest("base64")}`;
  const jsName = `api-keys-${hash(js.contents)}.js`;
  const cssName = `api-keys-${hash(css)}.css`;

  const out = join(root, assetsDir);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, "dashboard/assets"), { recursive: true });
  writeFileSync(join(out, "dashboard/assets", jsName), js.contents);
  writeFileSync(join(out, "dashboard/assets", cssName), css);
  const html = readFileSync(join(root, "dashboard/api-keys.html"), "utf8")
    .replace("{{script}}", `/dashboard/assets/${jsName}`)
    .replace("{{script_integrity}}", sri(js.contents))
    .replace("{{style}}", `/dashboard/assets/${cssName}`)
    .replace("{{style_integrity}}", sri(css));
  writeFileSync(join(out, "dashboard/api-keys.html"), html);

  const headers = Object.entries(securityHeaders(clerk && new URL(clerk.frontendApi).host))
    .map(([name, value]) => `  ${name}: ${value}`)
    .join("\n");
  writeFileSync(
    join(out, "_headers"),
    `/dashboard/*\n${headers}\n  Cache-Control: no-cache\n\n/dashboard/assets/*\n  ! Cache-Control\n  Cache-Control: public, max-age=31536000, immutable\n`,
  );
  writeFileSync(join(out, "_redirects"), "/dashboard /dashboard/api-keys 302\n/dashboard/ /dashboard/api-keys 302\n");

  const gzipBytes = gzipSync(js.contents, { level: 9 }).length;
  if (!quiet) {
    console.log(`dashboard (${env}): ${assetsDir}/dashboard/api-keys.html, JS ${(js.contents.length / 1024).toFixed(1)} KiB, gzip ${(gzipBytes / 1024).toFixed(1)} KiB`);
  }
  return { env, assetsDir, jsBytes: js.contents.length, gzipBytes };
}

async function main() {
  const args = process.argv.slice(2);
  const quiet = args.includes("--quiet");
  const envs = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--env" && ENVIRONMENTS.includes(args[i + 1])) envs.push(args[++i]);
    else if (args[i] !== "--quiet") throw new Error(`unknown argument: ${args[i]}`);
  }
  for (const env of envs.length ? envs : ENVIRONMENTS) {
    const { gzipBytes } = await buildDashboard(env, { quiet });
    // The page's JavaScript budget, gzip: checked here, by the browser suite and in CI.
    if (gzipBytes > DASHBOARD_LIMIT_KIB * 1024) throw new Error(`dashboard (${env}): JS is ${gzipBytes} bytes gzip, over ${DASHBOARD_LIMIT_KIB} KiB`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error) => {
    console.error(`build-dashboard: ${error instanceof Error ? error.message : error}`);
    process.exitCode = 1;
  });
}
