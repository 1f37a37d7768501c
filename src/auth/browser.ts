/**
 * Whether a request was sent by a web browser, from headers a page's script cannot forge away:
 * `Origin` (every cross-origin fetch, and every non-GET), `Sec-Fetch-Site` (every request of a
 * current browser) or `Sec-Fetch-Mode: navigate`. `Sec-Fetch-Mode: cors` alone is not a browser:
 * Node's fetch (undici) sends it on every request, with no `Origin` and no `Sec-Fetch-Site`.
 */
export function isBrowserRequest(headers: Headers): boolean {
  return headers.has("origin") || headers.has("sec-fetch-site") || headers.get("sec-fetch-mode") === "navigate";
}
