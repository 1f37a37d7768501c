/**
 * Who is signed in, and the session token every API call carries. Two sources, one shape:
 * development sign-in (`POST /dashboard/dev-session`, development only) and ClerkJS (staging and
 * production). What the page offers is derived from the token's own claims with the gateway's
 * own mapping (src/scopes.ts); the API still decides every call.
 */
import { organisationV1, organisationV2 } from "../../src/auth/jwt-claims";
import { type Scope, sessionScopes } from "../../src/scopes";
import type { PageConfig } from "./config";

export interface Session {
  /** Shown in the header, e.g. "user_2abc · admin". */
  readonly userLabel: string;
  readonly orgId: string | null;
  readonly role: string | undefined;
  /** Concrete scopes of the session (what the person may see and grant). */
  readonly scopes: ReadonlySet<Scope>;
  /** A current session token, refreshed before it expires. */
  getToken(): Promise<string>;
  signOut(): Promise<void>;
}

/** What a session token says about its holder (the page does not verify it; the gateway does). */
export function sessionFacts(token: string): { userId: string; orgId: string | null; role: string | undefined; scopes: Set<Scope>; exp: number } {
  const part = token.split(".")[1] ?? "";
  const json = new TextDecoder().decode(Uint8Array.from(atob(part.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)));
  const claims = JSON.parse(json) as Record<string, unknown>;
  const org = claims["v"] === 2 ? organisationV2(claims) : organisationV1(claims);
  const active = org && org !== "malformed" ? org : undefined;
  return {
    userId: String(claims["sub"] ?? ""),
    orgId: active?.orgId ?? null,
    role: active?.orgRole,
    scopes: active ? sessionScopes(active.orgRole, active.orgPermissions) : new Set(),
    exp: Number(claims["exp"] ?? 0),
  };
}

/** Refresh a token this long before its `exp`. */
const REFRESH_MARGIN_MS = 60_000;

export type DevRole = "admin" | "member";

/** Development sign-in: a session token from the local gateway, refreshed as it nears expiry. */
export async function devSignIn(role: DevRole, org: string | null = "org_dev"): Promise<Session> {
  async function mint(): Promise<string> {
    const response = await fetch("/dashboard/dev-session", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ role, org }),
      cache: "no-store",
      credentials: "omit",
    });
    if (!response.ok) throw new Error(`Development sign-in failed (HTTP ${response.status}).`);
    return ((await response.json()) as { token: string }).token;
  }
  let token = await mint();
  let facts = sessionFacts(token);
  return {
    userLabel: `${facts.userId} · ${facts.role?.replace(/^org:/, "") ?? "no role"} (development)`,
    orgId: facts.orgId,
    role: facts.role,
    scopes: facts.scopes,
    async getToken() {
      if (facts.exp * 1000 - Date.now() < REFRESH_MARGIN_MS) {
        token = await mint();
        facts = sessionFacts(token);
      }
      return token;
    },
    async signOut() {
      token = "";
    },
  };
}

/** The parts of ClerkJS (window.Clerk) the page uses. */
interface ClerkJs {
  load(options?: Record<string, unknown>): Promise<void>;
  user: { id: string; primaryEmailAddress?: { emailAddress: string } | null } | null | undefined;
  session: { getToken(): Promise<string | null> } | null | undefined;
  addListener(listener: () => void): () => void;
  mountSignIn(element: HTMLDivElement): void;
  mountOrganizationSwitcher(element: HTMLDivElement, props?: Record<string, unknown>): void;
  signOut(): Promise<void>;
}

let clerkLoading: Promise<ClerkJs> | undefined;

/** Load ClerkJS from the instance's Frontend API (allowed by the page's CSP), once. */
export function loadClerk(config: NonNullable<PageConfig["clerk"]>): Promise<ClerkJs> {
  clerkLoading ??= new Promise<ClerkJs>((resolve, reject) => {
    const script = document.createElement("script");
    script.src = `${config.frontendApi}/npm/@clerk/clerk-js@5/dist/clerk.browser.js`;
    script.crossOrigin = "anonymous";
    script.async = true;
    script.setAttribute("data-clerk-publishable-key", config.publishableKey);
    script.onerror = () => reject(new Error("Could not load the sign-in service."));
    script.onload = async () => {
      const clerk = (window as unknown as { Clerk?: ClerkJs }).Clerk;
      if (!clerk) return reject(new Error("The sign-in service did not start."));
      try {
        await clerk.load();
        resolve(clerk);
      } catch (error) {
        reject(error);
      }
    };
    document.head.append(script);
  });
  return clerkLoading;
}

/** The ClerkJS session as a page session, or null when nobody is signed in. */
export async function clerkSession(clerk: ClerkJs): Promise<Session | null> {
  const token = clerk.user && clerk.session ? await clerk.session.getToken() : null;
  if (!token) return null;
  const facts = sessionFacts(token);
  return {
    userLabel: clerk.user?.primaryEmailAddress?.emailAddress ?? facts.userId,
    orgId: facts.orgId,
    role: facts.role,
    scopes: facts.scopes,
    // ClerkJS keeps the token fresh (it refreshes before the 60 s expiry) and caches it.
    async getToken() {
      const current = await clerk.session?.getToken();
      if (!current) throw new Error("Signed out.");
      return current;
    },
    signOut: () => clerk.signOut(),
  };
}
