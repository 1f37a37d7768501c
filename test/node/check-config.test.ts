// `npm run check-config` (run by `npm test`, hence `.ci/run`): every environment of wrangler.toml
// parsed by the gateway's own parser. Each case breaks a copy of the real wrangler.toml.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isPlaceholderId } from "../../scripts/check-config";

const root = fileURLToPath(new URL("../../", import.meta.url));
const real = readFileSync(join(root, "wrangler.toml"), "utf8");
const dir = mkdtempSync(join(tmpdir(), "agntix-check-config-"));

function check(toml: string) {
  const path = join(dir, `wrangler-${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(path, toml);
  const run = spawnSync(`${root}node_modules/.bin/tsx`, ["scripts/check-config.ts", "--config", path], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr.replaceAll(path, "wrangler.toml") };
}

/** The real file with `from` replaced by `to` inside one environment (staging comes before production). */
function breakIn(section: "[env.staging]" | "[env.production]", from: string | RegExp, to: string): string {
  const start = real.indexOf(section);
  const end = section === "[env.staging]" ? real.indexOf("[env.production]") : -1;
  const part = real.slice(start, end < 0 ? undefined : end);
  const broken = part.replace(from, to);
  expect(broken).not.toBe(part);
  return real.slice(0, start) + broken + (end < 0 ? "" : real.slice(end));
}

describe("npm run check-config", () => {
  it("passes the committed wrangler.toml, every environment", () => {
    const result = check(real);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("config ok: development\nconfig ok: staging\nconfig ok: production\n");
    expect(result.code).toBe(0);
  });

  it.each<[string, string, RegExp | string, string, string]>([
    ["a non-https CLERK_ISSUER", "[env.production]", /CLERK_ISSUER = "https:/, 'CLERK_ISSUER = "http:', "[production]: CLERK_ISSUER must be an https URL"],
    ["a bad number", "[env.production]", 'ORIGIN_TIMEOUT_MS = "30000"', 'ORIGIN_TIMEOUT_MS = "30s"', "[production]: ORIGIN_TIMEOUT_MS must be a positive integer"],
    ["another environment's ENVIRONMENT", "[env.production]", 'ENVIRONMENT = "production"', 'ENVIRONMENT = "staging"', '[production]: ENVIRONMENT is "staging", not "production"'],
    ["no required pepper", "[env.staging]", 'required = ["API_KEY_PEPPER"]', "required = []", "[staging]: API_KEY_PEPPER must be set"],
    ["a placeholder KV id", "[env.production]", 'binding = "API_KEYS"', 'binding = "API_KEYS"\nid = "00000000000000000000000000000002"', "[production]: KV API_KEYS has the placeholder id"],
  ])("fails on %s", (_what, section, from, to, message) => {
    const result = check(breakIn(section as "[env.staging]", from, to));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`check-config: wrangler.toml ${message}`);
  });
});

describe("isPlaceholderId", () => {
  it.each([
    ["00000000000000000000000000000001", true],
    ["00000000-0000-0000-0000-000000000002", true],
    ["placeholder-kv", true],
    ["0f2ac74b498b48028cb68387c421e279", false],
    ["6b9e8c2e-1c7a-4c5e-9d1f-3a2b1c0d9e8f", false],
  ])("%s → %s", (id, expected) => {
    expect(isPlaceholderId(id)).toBe(expected);
  });
});
