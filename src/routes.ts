import type { Scope } from "./scopes";

/** Where a route's requests go: an origin service binding, or the gateway's own key API. */
export type RouteTarget = { kind: "origin"; binding: "CHAT" | "VOICE" } | { kind: "gateway"; handler: "api-keys" };

/** One row of the route table. */
export interface Route {
  /** Path prefix, matched on whole segments: `/v1/chat` matches `/v1/chat` and `/v1/chat/…`. */
  readonly prefix: string;
  readonly target: RouteTarget;
  /** Scopes a GET or HEAD needs. */
  readonly readScopes: readonly Scope[];
  /** Scopes every other method needs. */
  readonly writeScopes: readonly Scope[];
}

/** The route table of the contract. Order does not matter: the longest matching prefix wins. */
export const ROUTES: readonly Route[] = [
  {
    prefix: "/v1/chat/api-keys",
    target: { kind: "gateway", handler: "api-keys" },
    readScopes: ["api-keys:read"],
    writeScopes: ["api-keys:write"],
  },
  {
    prefix: "/v1/chat/agents",
    target: { kind: "origin", binding: "CHAT" },
    readScopes: ["agents:read"],
    writeScopes: ["agents:write"],
  },
  {
    prefix: "/v1/chat",
    target: { kind: "origin", binding: "CHAT" },
    readScopes: ["chat:read"],
    writeScopes: ["chat:write"],
  },
  {
    prefix: "/v1/voice",
    target: { kind: "origin", binding: "VOICE" },
    readScopes: ["voice:read"],
    writeScopes: ["voice:write"],
  },
];

// Longest prefix first, so the first match is the most specific one.
const BY_LENGTH = [...ROUTES].sort((a, b) => b.prefix.length - a.prefix.length);

const matchesPrefix = (path: string, prefix: string): boolean =>
  path === prefix || (path.startsWith(prefix) && path[prefix.length] === "/");

/** The most specific route for a normalised path, or `undefined` (404). Case-sensitive. */
export function matchRoute(path: string): Route | undefined {
  return BY_LENGTH.find((route) => matchesPrefix(path, route.prefix));
}

/**
 * True when the path would match a route (or a different route) if case were ignored: such a
 * path is refused rather than risk an origin that routes case-insensitively.
 */
export function hasCaseVariantRoute(path: string): boolean {
  const lower = path.toLowerCase();
  const folded = BY_LENGTH.find((route) => matchesPrefix(lower, route.prefix));
  return folded !== undefined && folded !== matchRoute(path);
}

/**
 * Scopes a request needs on this route: GET and HEAD read, everything else writes. An upgrade
 * (a WebSocket) writes too: once open, the caller sends the origin whatever it likes.
 */
export function requiredScopes(route: Route, method: string, upgrade = false): readonly Scope[] {
  return (method === "GET" || method === "HEAD") && !upgrade ? route.readScopes : route.writeScopes;
}

/** True when the request asks for a protocol upgrade (any `Upgrade` header, WebSocket or not). */
export function isUpgrade(headers: Headers): boolean {
  return headers.has("upgrade");
}
