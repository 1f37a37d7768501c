/** Browser-test helpers: Chromium from @sparticuz/chromium, and the gateway's own API from Node. */
import { mkdirSync } from "node:fs";
import chromium from "@sparticuz/chromium";
import { type Browser, type BrowserContext, type Page, chromium as playwright } from "playwright-core";
import { expect, inject } from "vitest";

export const gatewayUrl = (): string => inject("gatewayUrl");
export const PAGE_PATH = "/dashboard/api-keys";
/** Where the tests write screenshots (git-ignored; the current ones are committed under docs/img/). */
export const SCREENSHOT_DIR = ".screenshots";

export async function launchBrowser(): Promise<Browser> {
  return playwright.launch({ executablePath: await chromium.executablePath(), args: chromium.args, headless: true });
}

export interface TestPage {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Every console message, page error and CSP report the page produced. */
  readonly logs: string[];
}

/** A fresh browser context (no storage shared between tests) with clipboard access, watching the console. */
export async function openPage(browser: Browser, viewport = { width: 1280, height: 800 }): Promise<TestPage> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: gatewayUrl() });
  const page = await context.newPage();
  const logs: string[] = [];
  page.on("console", (message) => logs.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => logs.push(`pageerror: ${error.message}`));
  return { page, context, logs };
}

let orgCounter = 0;
/** A fresh organisation per test, so each test sees only its own keys. */
export const freshOrg = (): string => `org_browser${process.pid}x${Date.now().toString(36)}x${++orgCounter}`;

/**
 * Sign in with the page's own development button. `org` stands in for the organisation a person
 * has active in Clerk: the sign-in request is rewritten to name it (null = none active).
 */
export async function signIn(page: Page, role: "admin" | "member", org: string | null): Promise<void> {
  await page.route("**/dashboard/dev-session", (route) =>
    route.continue({ postData: JSON.stringify({ ...JSON.parse(route.request().postData() ?? "{}"), org }) }),
  );
  await page.goto(gatewayUrl() + PAGE_PATH);
  await page.getByRole("button", { name: `Sign in as ${role} (development)` }).click();
}

/** A development session token for `org`, from the gateway's development sign-in. */
export async function sessionToken(role: "admin" | "member", org: string): Promise<string> {
  const response = await fetch(`${gatewayUrl()}/dashboard/dev-session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ role, org }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { token: string }).token;
}

/** Call the management API as curl would. */
export async function api(token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${gatewayUrl()}/v1/chat/api-keys${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export async function createKey(token: string, name: string, scopes: string[]): Promise<{ id: string; key: string; name: string }> {
  const response = await api(token, "POST", "", { name, scopes });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; key: string; name: string };
}

/** Status and error code of a request made with an API key. */
export async function useKey(key: string): Promise<{ status: number; code?: string; orgId?: string }> {
  const response = await fetch(`${gatewayUrl()}/v1/chat/agents`, { headers: { "x-api-key": key } });
  const body = (await response.json()) as { code?: string; headers?: Record<string, string> };
  return { status: response.status, code: body.code, orgId: body.headers?.["x-agntix-org-id"] };
}

export async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOT_DIR}/${name}.png`, fullPage });
}

/** Press Tab until the focused element's accessible text matches, failing after `max` presses. */
export async function tabTo(page: Page, name: RegExp, max = 30): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      return el ? (el.getAttribute("aria-label") ?? el.textContent ?? "").trim() : "";
    });
    if (name.test(focused)) return;
  }
  throw new Error(`Tab never reached ${name}`);
}

/** The accessible-ish name of the focused element. */
export function focusedName(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el) return "";
    const labels = (el as HTMLInputElement).labels;
    const labelled = labels && labels.length > 0 ? labels[0]!.textContent : null;
    return (el.getAttribute("aria-label") ?? labelled ?? el.textContent ?? "").trim();
  });
}
