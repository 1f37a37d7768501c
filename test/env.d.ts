// Types of `cloudflare:workers`' `exports` inside the tests (`env` is Cloudflare.Env, generated
// from wrangler.toml into worker-configuration.d.ts by `npm run types`).
type OptionalSecrets = import("../src/env").OptionalSecrets;

declare namespace Cloudflare {
  interface Env extends OptionalSecrets {}
  interface Exports {
    default: Fetcher;
  }
}

declare module "*?raw" {
  const text: string;
  export default text;
}
