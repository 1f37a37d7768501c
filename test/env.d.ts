// Types of `cloudflare:workers`' `env` and `exports` inside the tests.
type GatewayBindings = import("../src/env").Bindings;

declare namespace Cloudflare {
  interface Env extends GatewayBindings {}
  interface Exports {
    default: Fetcher;
  }
}

declare module "*?raw" {
  const text: string;
  export default text;
}
