// Replaced by the build (scripts/build-dashboard.mjs, esbuild `define`) with literals.

/** The page's configuration for its environment. */
declare const __DASHBOARD_CONFIG__: import("./config").PageConfig;
/**
 * `"development"` or `"clerk"`. Compared where it is used, so that the bundler folds the literal
 * comparison and staging and production bundles do not contain the development sign-in at all.
 */
declare const __DASHBOARD_SIGN_IN__: "development" | "clerk";
