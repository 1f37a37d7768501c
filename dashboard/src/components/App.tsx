import type { Child } from "hono/jsx";
import { useEffect, useRef, useState } from "hono/jsx/dom";
import { keysApi } from "../api";
import { pageConfig } from "../config";
import { clerkSession, type DevRole, devSignIn, loadClerk, type Session } from "../session";
import { AlertIcon, KeyIcon } from "./icons";
import { KeysPage } from "./KeysPage";

function Shell(props: { session?: Session | null; onSignOut?: () => void; children: Child }) {
  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <span class="brand">
          <span class="brand-mark" aria-hidden="true">
            A
          </span>
          Agntix
        </span>
        {pageConfig.environment !== "production" ? <span class="env-badge">{pageConfig.environment}</span> : null}
        <span class="topbar-spacer" />
        {props.session ? (
          <span class="user">
            {props.session.orgId ? <span class="org">{props.session.orgId}</span> : null}
            <span class="muted small">{props.session.userLabel}</span>
            <button type="button" class="btn btn-ghost btn-small" onClick={props.onSignOut}>
              Sign out
            </button>
          </span>
        ) : null}
      </header>
      <div class="layout">
        <nav class="sidebar" aria-labelledby="settings-nav">
          <h2 id="settings-nav" class="sidebar-title">
            Settings
          </h2>
          <ul>
            <li>
              <a href="/dashboard/api-keys" aria-current="page">
                <KeyIcon /> API Keys
              </a>
            </li>
          </ul>
        </nav>
        <main id="main" class="main">
          {props.children}
        </main>
      </div>
    </div>
  );
}

function DevSignIn(props: { onSignIn: (role: DevRole) => void; error: string | null }) {
  return (
    <section class="signin card" aria-labelledby="signin-title">
      <h1 id="signin-title" tabindex={-1}>
        Sign in
      </h1>
      <p class="muted">
        This is a local development gateway: it signs development session tokens for organization <code>org_dev</code>. Staging and production
        sign in with Clerk.
      </p>
      {props.error ? (
        <p class="alert" role="alert">
          <AlertIcon /> {props.error}
        </p>
      ) : null}
      <div class="signin-buttons">
        <button type="button" class="btn btn-primary" onClick={() => props.onSignIn("admin")}>
          Sign in as admin (development)
        </button>
        <button type="button" class="btn btn-secondary" onClick={() => props.onSignIn("member")}>
          Sign in as member (development)
        </button>
      </div>
    </section>
  );
}

/** A Clerk component (sign-in, organization switcher) mounted into a div. */
function ClerkMount(props: { mount: (element: HTMLDivElement) => void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (ref.current) props.mount(ref.current);
  }, []);
  return <div ref={ref} class="clerk-mount" />;
}

function NoOrganization(props: { mountSwitcher?: (element: HTMLDivElement) => void }) {
  return (
    <section class="card signin" aria-labelledby="no-org-title">
      <h1 id="no-org-title" tabindex={-1}>
        Choose an organization
      </h1>
      <p class="muted">API keys belong to an organization, and you have none active. Pick one in the organization switcher, then come back here.</p>
      {props.mountSwitcher ? <ClerkMount mount={props.mountSwitcher} /> : null}
    </section>
  );
}

type Auth = { status: "loading" } | { status: "signed-out"; error: string | null } | { status: "signed-in"; session: Session };

/** The page: sign-in (development buttons or ClerkJS), then Settings → API Keys. */
export function App() {
  const [auth, setAuth] = useState<Auth>(__DASHBOARD_SIGN_IN__ === "development" ? { status: "signed-out", error: null } : { status: "loading" });
  const [clerkMounts, setClerkMounts] = useState<{ signIn: (el: HTMLDivElement) => void; switcher: (el: HTMLDivElement) => void } | null>(null);

  useEffect(() => {
    if (__DASHBOARD_SIGN_IN__ === "development" || !pageConfig.clerk) return;
    loadClerk(pageConfig.clerk)
      .then((clerk) => {
        setClerkMounts({
          signIn: (el) => clerk.mountSignIn(el),
          switcher: (el) => clerk.mountOrganizationSwitcher(el, { hidePersonal: true }),
        });
        const refresh = async () => {
          const session = await clerkSession(clerk);
          setAuth(session ? { status: "signed-in", session } : { status: "signed-out", error: null });
        };
        clerk.addListener(() => void refresh());
        return refresh();
      })
      .catch(() => setAuth({ status: "signed-out", error: "Could not load the sign-in service. Reload the page to try again." }));
  }, []);

  useEffect(() => {
    document.getElementById(auth.status === "signed-in" ? "page-title" : "signin-title")?.focus();
  }, [auth.status]);

  const signOut = async () => {
    if (auth.status === "signed-in") await auth.session.signOut();
    setAuth({ status: "signed-out", error: null });
  };

  if (auth.status === "loading") {
    return (
      <Shell>
        <p class="muted loading" role="status">
          Loading…
        </p>
      </Shell>
    );
  }
  if (auth.status === "signed-out") {
    return (
      <Shell>
        {__DASHBOARD_SIGN_IN__ === "development" ? (
          <DevSignIn
            error={auth.error}
            onSignIn={(role) =>
              devSignIn(role)
                .then((session) => setAuth({ status: "signed-in", session }))
                .catch((error: Error) => setAuth({ status: "signed-out", error: error.message }))
            }
          />
        ) : (
          <section class="signin card" aria-labelledby="signin-title">
            <h1 id="signin-title" tabindex={-1}>
              Sign in
            </h1>
            {auth.error ? (
              <p class="alert" role="alert">
                <AlertIcon /> {auth.error}
              </p>
            ) : null}
            {clerkMounts ? <ClerkMount mount={clerkMounts.signIn} /> : null}
          </section>
        )}
      </Shell>
    );
  }
  const { session } = auth;
  return (
    <Shell session={session} onSignOut={signOut}>
      {session.orgId ? (
        <KeysPage session={session} api={keysApi(() => session.getToken())} onSignInAgain={signOut} />
      ) : (
        <NoOrganization mountSwitcher={clerkMounts?.switcher} />
      )}
    </Shell>
  );
}
