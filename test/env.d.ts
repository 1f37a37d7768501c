// Types of `cloudflare:workers`' `env` and `exports` inside the tests.
declare namespace Cloudflare {
  interface Env extends import("../src/env").Bindings {}
  interface Exports {
    default: Fetcher;
  }
}
