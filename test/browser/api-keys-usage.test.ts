/**
 * Settings → API Keys, usage and audit (issue 12) in headless Chromium against the running gateway:
 * the 30-day request count and the 7-day sparkline, the "unused scopes" hint with its one-click
 * narrow (checked with a real request made with the key), and the Audit log tab.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, createKey, freshOrg, gatewayUrl, launchBrowser, openPage, screenshot, sessionToken, signIn, type TestPage, useKey } from "./helpers";

let browser: Browser;
const pages: TestPage[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

async function open(): Promise<TestPage> {
  const opened = await openPage(browser);
  pages.push(opened);
  return opened;
}

function expectCleanConsole(logs: string[]): void {
  expect(logs.filter((l) => /^(error|pageerror)|Content Security Policy|Refused to/i.test(l))).toEqual([]);
}

const dialog = (page: Page, name: string | RegExp) => page.getByRole("dialog", { name });
const row = (page: Page, name: string | RegExp) => page.getByRole("row").filter({ has: page.getByRole("rowheader", { name }) });

describe("usage and least privilege", () => {
  it("shows a key's requests and sparkline, names the scopes it never used, and narrows it in one click", async () => {
    const { page, logs } = await open();
    const org = freshOrg();
    const admin = await sessionToken("admin", org);
    // Read-only = chat:read, agents:read, voice:read; the key then uses only agents:read.
    const key = await createKey(admin, "Reporting job", ["read-only"]);
    expect((await useKey(key.key)).status).toBe(200); // first use: flushed at once, behind the response

    await signIn(page, "admin", org);
    const keyRow = row(page, /Reporting job/);
    await keyRow.waitFor();
    expect(await keyRow.locator('td[data-label="Requests (30 days)"]').textContent()).toBe("1");

    await keyRow.getByRole("button", { name: "Usage Reporting job" }).click();
    const usage = dialog(page, "Usage of “Reporting job”");
    await usage.getByRole("img", { name: /^1 request in the last 7 days/ }).waitFor();
    const hint = usage.getByText("Unused in 30 days:", { exact: false });
    await hint.waitFor();
    expect(await hint.textContent()).toContain("chat:read, voice:read");
    await screenshot(page, "usage-dialog");

    await usage.getByRole("button", { name: "Narrow to agents:read" }).click();
    await page.getByRole("status").filter({ hasText: "Narrowed “Reporting job” to agents:read" }).waitFor();
    expect(await dialog(page, /Usage of/).count()).toBe(0);

    // The API and the key itself agree: chat is refused from the next request on.
    const got = (await (await api(admin, "GET", `/${key.id}`)).json()) as { scopes: string[] };
    expect(got.scopes).toEqual(["agents:read"]);
    const chat = await fetch(`${gatewayUrl()}/v1/chat`, { headers: { "x-api-key": key.key } });
    expect(chat.status).toBe(403);
    expect((await useKey(key.key)).status).toBe(200);
    expectCleanConsole(logs);
  });

  it("a member sees usage and the hint, but no narrow button", async () => {
    const { page, logs } = await open();
    const org = freshOrg();
    const key = await createKey(await sessionToken("admin", org), "Wide key", ["read-only"]);
    await useKey(key.key);
    await signIn(page, "member", org);
    await row(page, /Wide key/).getByRole("button", { name: "Usage Wide key" }).click();
    const usage = dialog(page, "Usage of “Wide key”");
    await usage.getByText("Ask an organization admin to narrow it.").waitFor();
    expect(await usage.getByRole("button", { name: /Narrow/ }).count()).toBe(0);
    await usage.getByRole("button", { name: "Close" }).click();
    expectCleanConsole(logs);
  });
});

describe("the Audit log tab", () => {
  it("lists what happened to the organisation's keys, newest first, with who did it", async () => {
    const { page, logs } = await open();
    const org = freshOrg();
    const admin = await sessionToken("admin", org);
    const key = await createKey(admin, "Audited key", ["chat:*"]);
    expect((await api(admin, "PATCH", `/${key.id}`, { scopes: ["chat:read"] })).status).toBe(200);
    expect((await api(admin, "DELETE", `/${key.id}`)).status).toBe(204);

    await signIn(page, "admin", org);
    await page.getByRole("heading", { name: "No API keys yet" }).waitFor();
    const tab = page.getByRole("tab", { name: "Audit log" });
    await tab.click();
    expect(await tab.getAttribute("aria-selected")).toBe("true");
    const panel = page.getByRole("tabpanel", { name: "Audit log" });
    const table = panel.getByRole("table", { name: "Audit log, newest first" });
    await table.waitFor();
    const rows = table.getByRole("row");
    expect(await rows.count()).toBe(4); // header + 3 events
    const events = await rows.evaluateAll((trs) => trs.slice(1).map((tr) => (tr.children[1] as HTMLElement).textContent));
    expect(events).toEqual(["Deleted", "Edited", "Created"]);
    const edited = await rows.nth(2).textContent();
    expect(edited).toContain("Audited key");
    expect(edited).toContain("scopes: chat:* → chat:read");
    expect(edited).toMatch(/user_\w+/);
    await screenshot(page, "audit-tab");

    // Arrow keys move between the tabs (the WAI-ARIA tabs pattern).
    await tab.focus();
    await page.keyboard.press("ArrowLeft");
    expect(await page.getByRole("tab", { name: "Keys" }).getAttribute("aria-selected")).toBe("true");
    expectCleanConsole(logs);
  });
});
