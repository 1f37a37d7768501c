// scripts/gradual-deploy.mjs with stand-ins for wrangler and the smoke check
// (test/fixtures/fake-*.mjs): the order of the steps, and the rollback when one fails.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { currentVersion, parseSteps } from "../../scripts/gradual-deploy.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const SERVING = [{ version_id: "v-old", percentage: 100 }];

function deploy(fake: Record<string, string> = {}, args: string[] = []) {
  const log = join(mkdtempSync(join(tmpdir(), "gradual-deploy-test-")), "calls.ndjson");
  const run = spawnSync(process.execPath, ["scripts/gradual-deploy.mjs", "--env", "staging", "--url", "https://api.staging.agntix.ai", ...args], {
    cwd: root,
    encoding: "utf8",
    env: {
      ...process.env,
      FAKE_LOG: log,
      FAKE_CURRENT: JSON.stringify(SERVING),
      GRADUAL_DEPLOY_WRANGLER: `${process.execPath} test/fixtures/fake-wrangler.mjs`,
      GRADUAL_DEPLOY_SMOKE: `${process.execPath} test/fixtures/fake-smoke.mjs`,
      ...fake,
    },
  });
  let calls: string[] = [];
  try {
    calls = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as string[]).filter((a) => !["--env", "staging", "--yes"].includes(a)).join(" "));
  } catch {
    // nothing was called
  }
  return { code: run.status, stdout: run.stdout, stderr: run.stderr, calls: calls.map((c) => c.replace(/ --message .*$/, "")) };
}

describe("gradual deploy", () => {
  it("uploads, deploys 10 %, smoke-checks pinned to the new version, then 100 % and checks again", () => {
    const result = deploy({}, ["--tag", "abc1234"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.calls).toEqual([
      "wrangler deployments status --json",
      "wrangler versions upload --tag abc1234",
      "wrangler versions deploy v-new@10% v-old@90%",
      "smoke --url https://api.staging.agntix.ai --pin agntix-gateway-staging=v-new",
      "wrangler versions deploy v-new@100%",
      "smoke --url https://api.staging.agntix.ai --expect-version v-new",
    ]);
    expect(result.stdout).toMatch(/done: v-new serves 100 %\n$/);
  });

  it.each([
    ["the pinned smoke check at 10 %", { FAKE_SMOKE_FAILS_ON: "--pin" }, 4],
    ["the smoke check at 100 %", { FAKE_SMOKE_FAILS_ON: "--expect-version" }, 6],
    ["deploying 10 %", { FAKE_DEPLOY_FAILS: "v-new@10%" }, 3],
  ])("rolls back to the previous version when %s fails", (_what, fake, callsBefore) => {
    const result = deploy(fake);
    expect(result.code).toBe(1);
    expect(result.calls).toHaveLength(callsBefore + 1);
    expect(result.calls.at(-1)).toBe("wrangler versions deploy v-old@100%");
    expect(result.stderr).toMatch(/rolling back to v-old\n[\s\S]*rolled back; v-old serves 100 %\n$/);
  });

  it("stops before uploading when a split rollout is already in progress", () => {
    const result = deploy({ FAKE_CURRENT: JSON.stringify([{ version_id: "a", percentage: 50 }, { version_id: "b", percentage: 50 }]) });
    expect(result.code).toBe(1);
    expect(result.calls).toEqual(["wrangler deployments status --json"]);
    expect(result.stderr).toMatch(/splits traffic/);
  });

  it("parses its steps and the current deployment purely", () => {
    expect(parseSteps("10,50,100")).toEqual([10, 50, 100]);
    expect(() => parseSteps("50,10,100")).toThrow(/rising/);
    expect(() => parseSteps("10,50")).toThrow(/ending at 100/);
    expect(currentVersion({ versions: SERVING })).toEqual({ id: "v-old" });
  });
});
