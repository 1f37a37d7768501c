/** What the build (scripts/build-dashboard.mjs) bakes into the page for its environment. */
export interface PageConfig {
  readonly environment: "development" | "staging" | "production";
  /** `development`: the two development sign-in buttons; `clerk`: ClerkJS. */
  readonly signIn: "development" | "clerk";
  readonly clerk: { readonly publishableKey: string; readonly frontendApi: string } | null;
}

export const pageConfig: PageConfig = __DASHBOARD_CONFIG__;
