/**
 * Settings → API Keys in headless Chromium against the running gateway (test/browser/global-setup.ts).
 * Each test finds things as a person does (roles, names, visible text), and checks the result
 * with the API itself or with a real request made with the key.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  api,
  createKey,
  focusedName,
  freshOrg,
  gatewayUrl,
  launchBrowser,
  openPage,
  PAGE_PATH,
  screenshot,
  sessionToken,
  signIn,
  tabTo,
  type TestPage,
  useKey,
} from "./helpers";

const run = promisify(execFile);
const KEY = /^pk_test_[0-9A-Za-z]{36}$/;

let browser: Browser;
const pages: TestPage[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

async function open(viewport?: { width: number; height: number }): Promise<TestPage> {
  const opened = await openPage(browser, viewport);
  pages.push(opened);
  return opened;
}

/** No CSP violation, script error or failed resource on the page during the test. */
function expectCleanConsole(logs: string[]): void {
  expect(logs.filter((l) => /^(error|pageerror)|Content Security Policy|Refused to/i.test(l))).toEqual([]);
}

const dialog = (page: Page, name: string | RegExp) => page.getByRole("dialog", { name });
const row = (page: Page, name: string | RegExp) => page.getByRole("row").filter({ has: page.getByRole("rowheader", { name }) });

describe("the page as served", () => {
  it("has the security headers, a strict CSP and JavaScript within its 30 KiB gzip budget", async () => {
    const response = await fetch(gatewayUrl() + PAGE_PATH);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = response.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("style-src 'self';");
    expect(csp).toContain("connect-src 'self';");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await response.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    const script = /<script type="module" src="([^"]+)" integrity="(sha384-[^"]+)"/.exec(html);
    expect(script).not.toBeNull();
    const js = await fetch(gatewayUrl() + script![1]);
    expect(js.status).toBe(200);
    expect(js.headers.get("x-content-type-options")).toBe("nosniff");
    expect(gzipSync(Buffer.from(await js.arrayBuffer()), { level: 9 }).length).toBeLessThanOrEqual(30 * 1024);

    const redirect = await fetch(`${gatewayUrl()}/dashboard`, { redirect: "manual" });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get("location")).toBe(PAGE_PATH);
    // The API is still the worker's: not shadowed by assets.
    const unauthenticated = await fetch(`${gatewayUrl()}/v1/chat/api-keys`);
    expect(unauthenticated.status).toBe(401);
  });

  it("is built, not committed: no build output is tracked by git", async () => {
    const { stdout } = await run("git", ["ls-files", "dashboard/dist", ".screenshots"]);
    expect(stdout).toBe("");
    expect(readdirSync("dashboard/dist").sort()).toEqual(["development", "production", "staging"]);
  });

  it("builds production without the development sign-in, with a CSP naming only Clerk's Frontend API besides itself", () => {
    const assets = "dashboard/dist/production/dashboard/assets";
    const js = readdirSync(assets).filter((f) => f.endsWith(".js"));
    expect(js).toHaveLength(1);
    const bundle = readFileSync(`${assets}/${js[0]}`, "utf8");
    expect(bundle).not.toContain("dev-session");
    expect(bundle).not.toContain("(development)");
    expect(bundle).toContain("clerk.browser.js");
    const headers = readFileSync("dashboard/dist/production/_headers", "utf8");
    expect(headers).toContain("script-src 'self' https://clerk.agntix.ai https://challenges.cloudflare.com;");
    expect(headers).toContain("connect-src 'self' https://clerk.agntix.ai;");
    expect(headers).toContain("frame-ancestors 'none'");
    expect(headers).not.toContain("unsafe-eval");
  });
});

describe("Settings → API Keys", () => {
  it("create → the key works with curl → rotate → the old key is refused → delete → refused", async () => {
    const { page, logs } = await open();
    const org = freshOrg();
    await signIn(page, "admin", org);
    await page.getByRole("heading", { name: "API Keys", level: 1 }).waitFor();
    expect(await page.getByRole("navigation", { name: "Settings" }).getByRole("link", { name: "API Keys" }).getAttribute("aria-current")).toBe("page");
    await page.getByRole("heading", { name: "No API keys yet" }).waitFor();

    await page.getByRole("button", { name: "Create key" }).first().click();
    const create = dialog(page, "Create API key");
    await create.getByRole("textbox", { name: "Name" }).fill("Billing service");
    await create.getByRole("radio", { name: /Read-only/ }).check();
    await create.getByRole("button", { name: "Create key" }).click();

    const shown = dialog(page, "Save your API key");
    await shown.waitFor();
    expect(await shown.textContent()).toContain("will not be shown again");
    const key = await shown.getByRole("textbox", { name: "API key “Billing service”" }).inputValue();
    expect(key).toMatch(KEY);
    const curl = await shown.getByRole("textbox", { name: "Try it" }).inputValue();
    expect(curl).toBe(`curl ${gatewayUrl()}/v1/chat/agents -H "x-api-key: ${key}"`);
    await shown.getByRole("button", { name: "Copy key" }).click();
    await shown.getByRole("button", { name: "Copied" }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);

    // The ready-to-paste line, run as a person would paste it.
    const { stdout } = await run("sh", ["-c", `${curl} -s`]);
    expect(JSON.parse(stdout).headers["x-agntix-org-id"]).toBe(org);

    await shown.getByRole("button", { name: "Done" }).click();
    await shown.waitFor({ state: "detached" });
    expect(await focusedName(page)).toMatch(/Create key/);
    const created = row(page, /Billing service/);
    await created.getByRole("listitem").first().waitFor(); // the list reloads after a create
    expect(await created.getByRole("listitem").allTextContents()).toEqual(["Read-only"]);
    expect(await created.textContent()).toContain("Active");

    // Rotate with no grace period: the old key stops at once.
    await created.getByRole("button", { name: "Rotate Billing service" }).click();
    const rotate = dialog(page, "Rotate “Billing service”");
    await rotate.getByRole("radio", { name: /None/ }).check();
    await rotate.getByRole("button", { name: "Rotate key" }).click();
    const rotated = dialog(page, "Save your new key");
    const newKey = await rotated.getByRole("textbox", { name: "API key “Billing service”" }).inputValue();
    expect(newKey).toMatch(KEY);
    expect(newKey).not.toBe(key);
    expect(await rotated.textContent()).toContain("The old key no longer works");
    await rotated.getByRole("button", { name: "Copy key" }).click();
    await rotated.getByRole("button", { name: "Done" }).click();
    await rotated.waitFor({ state: "detached" });
    expect(await useKey(key)).toMatchObject({ status: 401, code: "invalid_api_key" });
    expect(await useKey(newKey)).toMatchObject({ status: 200, orgId: org });

    // Used a moment ago, so deleting it asks for its name to be typed.
    await page.reload();
    await page.getByRole("button", { name: "Sign in as admin (development)" }).click();
    await row(page, /Billing service/).getByRole("button", { name: "Delete Billing service" }).click();
    const remove = dialog(page, "Delete “Billing service”?");
    expect(await remove.textContent()).toContain("To confirm, type its name");
    await remove.getByRole("button", { name: "Delete key" }).click();
    await remove.getByText("Type the key's name exactly as shown.").waitFor();
    await remove.getByRole("textbox", { name: "Key name" }).fill("Billing service");
    await remove.getByRole("button", { name: "Delete key" }).click();
    await remove.waitFor({ state: "detached" });
    const status = page.getByRole("status").filter({ hasText: "Deleted" });
    expect(await status.textContent()).toMatch(/Deleted “Billing service”\. It is refused from the next request where this was handled, and at every location within 5 seconds\./);
    expect(await page.getByRole("rowheader", { name: /Billing service/ }).count()).toBe(0);
    expect(await useKey(newKey)).toMatchObject({ status: 401, code: "invalid_api_key" });
    expectCleanConsole(logs);
  });

  it("rotates 3 keys at once: each new key shown once, a .env download, the old keys in their grace period", async () => {
    const { page, logs } = await open();
    const org = freshOrg();
    const token = await sessionToken("admin", org);
    const old = [];
    for (const name of ["Web app", "Worker queue", "Nightly export"]) old.push(await createKey(token, name, ["read-only"]));
    await signIn(page, "admin", org);
    for (const { name } of old) await page.getByRole("checkbox", { name: `Select ${name}` }).check();
    await page.getByRole("button", { name: "Rotate selected (3)" }).click();
    const rotate = dialog(page, "Rotate 3 keys");
    await rotate.getByRole("radio", { name: /1 hour/ }).check();
    await rotate.getByRole("button", { name: "Rotate 3 keys" }).click();

    const results = dialog(page, "Rotation results");
    await results.waitFor();
    expect(await results.getByRole("list", { name: "Rotated keys" }).getByRole("listitem").count()).toBe(3);
    const downloading = page.waitForEvent("download");
    await results.getByRole("button", { name: "Download .env" }).click();
    const download = await downloading;
    expect(download.suggestedFilename()).toBe("agntix-api-keys.env");
    const env = readFileSync((await download.path())!, "utf8");
    const vars = Object.fromEntries([...env.matchAll(/^(AGNTIX_API_KEY_[A-Z0-9_]+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
    expect(Object.keys(vars).sort()).toEqual(["AGNTIX_API_KEY_NIGHTLY_EXPORT", "AGNTIX_API_KEY_WEB_APP", "AGNTIX_API_KEY_WORKER_QUEUE"]);
    for (const [i, { name }] of old.entries()) {
      const shown = await results.getByRole("textbox", { name: `New key “${name}”` }).inputValue();
      expect(Object.values(vars)).toContain(shown);
      expect(await useKey(shown)).toMatchObject({ status: 200, orgId: org });
      expect(await useKey(old[i]!.key)).toMatchObject({ status: 200 }); // within its hour of grace
    }
    await results.getByRole("button", { name: "Done" }).click(); // downloaded: no "not copied" question
    await results.waitFor({ state: "detached" });
    await page.getByRole("status").filter({ hasText: "Rotated 3 of 3 keys." }).waitFor();
    await page.getByText(/Expires in (60|59) min/).first().waitFor();
    expect(await page.getByText(/Expires in (60|59) min/).count()).toBe(3);
    expect(await page.getByRole("rowheader").count()).toBe(6);
    expectCleanConsole(logs);
  });

  it("shows a member the list but no create, rotate or delete controls", async () => {
    const { page, logs } = await open();
    const org = freshOrg();
    await createKey(await sessionToken("admin", org), "Support bot", ["chat:write"]);
    await signIn(page, "member", org);
    await page.getByRole("rowheader", { name: /Support bot/ }).waitFor();
    expect(await page.getByText("ask an organization admin", { exact: false }).count()).toBe(1);
    for (const name of [/Create key/, /Rotate/, /Delete/]) expect(await page.getByRole("button", { name }).count()).toBe(0);
    expect(await page.getByRole("checkbox").count()).toBe(0);
    expectCleanConsole(logs);
  });

  it("renders a key named <img src=x onerror=alert(1)> as text and runs nothing", async () => {
    const { page, logs } = await open();
    const org = freshOrg();
    const name = "<img src=x onerror=alert(1)>";
    await createKey(await sessionToken("admin", org), name, ["voice-only"]);
    let alerted = false;
    page.on("dialog", async (d) => {
      alerted = true;
      await d.dismiss();
    });
    await signIn(page, "admin", org);
    const header = page.getByRole("rowheader", { name: /onerror/ });
    await header.waitFor();
    expect(await header.locator(".key-name").textContent()).toBe(name);
    expect(await page.locator("img").count()).toBe(0);
    await page.getByRole("button", { name: `Delete ${name}` }).click();
    await dialog(page, `Delete “${name}”?`).waitFor();
    expect(await page.locator("img").count()).toBe(0);
    expect(alerted).toBe(false);
    expectCleanConsole(logs);
  });

  it("keeps the new key in no storage, URL, log or memory once its dialog is closed", async () => {
    const { page, context, logs } = await open();
    await signIn(page, "admin", freshOrg());
    await page.getByRole("button", { name: "Create key" }).first().click();
    const create = dialog(page, "Create API key");
    await create.getByRole("textbox", { name: "Name" }).fill("Secret holder");
    await create.getByRole("button", { name: "Create key" }).click();
    const shown = dialog(page, "Save your API key");
    const key = await shown.getByRole("textbox", { name: /API key/ }).inputValue();
    expect(key).toMatch(KEY);

    const cdp = await context.newCDPSession(page);
    const heapHas = async (needle: string) => {
      await cdp.send("HeapProfiler.collectGarbage");
      let snapshot = "";
      const collect = (chunk: { chunk: string }) => (snapshot += chunk.chunk);
      cdp.on("HeapProfiler.addHeapSnapshotChunk", collect);
      await cdp.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
      cdp.off("HeapProfiler.addHeapSnapshotChunk", collect);
      return snapshot.includes(needle);
    };
    expect(await heapHas(key)).toBe(true); // the check can see the key while it is shown

    // Escape without copying asks first; then the dialog goes, and the key with it.
    await page.keyboard.press("Escape");
    await shown.getByRole("alert").filter({ hasText: "You have not copied the key" }).waitFor();
    await shown.getByRole("button", { name: "Close without copying" }).click();
    await shown.waitFor({ state: "detached" });

    const traces = await page.evaluate(async () => ({
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
      url: location.href,
      cookies: document.cookie,
      dom: document.documentElement.outerHTML,
      caches: (await caches.keys()).length,
      databases: (await indexedDB.databases()).length,
    }));
    for (const trace of [traces.local, traces.session, traces.url, traces.cookies, traces.dom, ...logs]) expect(trace).not.toContain(key);
    expect(traces).toMatchObject({ caches: 0, databases: 0 });
    expect(await heapHas(key)).toBe(false);
    expectCleanConsole(logs);
  });

  it("says a 503 is temporary, with the request id, and recovers on retry", async () => {
    const { page, logs } = await open();
    await page.route("**/v1/chat/api-keys?*", (route) =>
      route.fulfill({
        status: 503,
        headers: { "content-type": "application/problem+json", "x-request-id": "req-browser-503" },
        body: JSON.stringify({ status: 503, code: "key_store_unavailable", title: "Key store unavailable", request_id: "req-browser-503" }),
      }),
    );
    await signIn(page, "admin", freshOrg());
    const alert = page.getByRole("alert");
    await alert.waitFor();
    const text = await alert.textContent();
    expect(text).toContain("temporarily unavailable");
    expect(text).toContain("try again");
    expect(text).toContain("req-browser-503");
    await page.unroute("**/v1/chat/api-keys?*");
    await alert.getByRole("button", { name: "Try again" }).click();
    await page.getByRole("heading", { name: "No API keys yet" }).waitFor();
    expect(await page.getByRole("alert").count()).toBe(0);
    expect(logs.filter((l) => !/503/.test(l) && /^error/.test(l))).toEqual([]);
  });

  it("creates a key with the keyboard alone, with focus kept in the dialogs and returned after", async () => {
    const { page, logs } = await open();
    const org = freshOrg();
    await page.route("**/dashboard/dev-session", (route) =>
      route.continue({ postData: JSON.stringify({ ...JSON.parse(route.request().postData() ?? "{}"), org }) }),
    );
    await page.goto(gatewayUrl() + PAGE_PATH);
    await tabTo(page, /^Sign in as admin \(development\)$/);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "No API keys yet" }).waitFor();
    await tabTo(page, /Create key/);
    await page.keyboard.press("Enter");
    await dialog(page, "Create API key").waitFor();
    expect(await focusedName(page)).toBe("Name");
    await page.keyboard.type("Voice kiosk");
    await page.keyboard.press("Tab"); // the access choices: Read-only is chosen
    expect(await focusedName(page)).toMatch(/^Read-only/);
    await page.keyboard.press("ArrowDown"); // → Voice only
    expect(await focusedName(page)).toMatch(/^Voice only/);
    await page.keyboard.press("Enter"); // submits the form
    const shown = dialog(page, "Save your API key");
    await shown.waitFor();
    expect(await focusedName(page)).toBe("Copy key");
    await page.keyboard.press("Enter");
    await shown.getByRole("button", { name: "Copied" }).waitFor();
    // Focus stays in the modal dialog: Tab cycles through its controls only.
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press("Tab");
      expect(await page.evaluate(() => Boolean(document.activeElement?.closest("dialog")) || document.activeElement === document.body)).toBe(true);
    }
    await page.getByRole("button", { name: "Done" }).focus();
    await page.keyboard.press("Enter");
    await shown.waitFor({ state: "detached" });
    expect(await focusedName(page)).toMatch(/Create key/);
    const created = row(page, /Voice kiosk/);
    await created.getByRole("listitem").first().waitFor(); // the list reloads after a create
    expect(await created.getByRole("listitem").allTextContents()).toEqual(["Voice only"]);
    expectCleanConsole(logs);
  });

  it("tells a person with no active organization to pick one", async () => {
    const { page, logs } = await open();
    await signIn(page, "admin", null);
    await page.getByRole("heading", { name: "Choose an organization" }).waitFor();
    expect(await page.getByRole("button", { name: "Create key" }).count()).toBe(0);
    expectCleanConsole(logs);
  });
});

describe("screenshots (written to .screenshots/; the current ones are in docs/img/)", () => {
  for (const [label, viewport] of [
    ["desktop", { width: 1280, height: 800 }],
    ["mobile", { width: 360, height: 780 }],
  ] as const) {
    it(`list, create dialog and key-shown dialog at ${viewport.width} px`, async () => {
      const { page, logs } = await open(viewport);
      const org = `org_acme${label}`;
      const token = await sessionToken("admin", org);
      const ci = await createKey(token, "CI/CD deploy bot", ["chat:write", "agents:read"]);
      await createKey(token, "Analytics export", ["read-only"]);
      await createKey(token, "Voice IVR", ["voice-only"]);
      const legacy = await createKey(token, "Legacy backend", ["*"]);
      expect((await api(token, "POST", `/${legacy.id}/rotate`, { grace_period_seconds: 86_400 })).status).toBe(201);
      await useKey(ci.key);
      await signIn(page, "admin", org);
      await page.getByRole("rowheader", { name: /Legacy backend/ }).first().waitFor();
      await page.mouse.move(0, 0);
      await screenshot(page, `api-keys-list-${label}`, true);
      // Usable at 360 px: nothing wider than the screen.
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);
      await page.getByRole("button", { name: "Create key" }).first().click();
      const create = dialog(page, "Create API key");
      await create.getByRole("textbox", { name: "Name" }).fill("Billing service");
      await create.getByRole("radio", { name: /Custom/ }).check();
      await create.getByRole("radio", { name: "Read and write" }).first().check();
      await screenshot(page, `api-keys-create-${label}`);
      await create.getByRole("button", { name: "Create key" }).click();
      const shown = dialog(page, "Save your API key");
      await shown.waitFor();
      await screenshot(page, `api-keys-created-${label}`);
      expectCleanConsole(logs);
    });
  }
});
