/**
 * Path safety. The route, its scopes and the forwarded request all use one path: the pathname as
 * received. Instead of rewriting it (and risking that the origin reads it differently from the
 * check), any path an origin could read as another path is refused.
 */

export type PathCheck = { ok: true; path: string } | { ok: false; reason: string };

// Bytes that may never appear in a path, raw or percent-encoded: `\` (some servers read it as
// `/`), `;` (path parameters that some servers strip before routing), `?` and `#` (an origin that
// decodes the path before parsing it would cut a query or fragment off it) and control characters.
const FORBIDDEN = /[\\;?#\x00-\x1f\x7f]/;

// An escape of an unreserved character: %30-%39, %41-%5A, %61-%7A, %2D, %2E, %5F, %7E.
const UNRESERVED_ESCAPE = /%(3[0-9]|4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a]|2d|2e|5f|7e)/i;

/** Check a request's raw pathname; `ok` carries the path to route on and forward. */
export function checkPath(rawPath: string): PathCheck {
  if (!rawPath.startsWith("/")) return { ok: false, reason: "The path must start with '/'." };
  if (/%(2f|5c)/i.test(rawPath)) return { ok: false, reason: "Encoded slashes are not allowed in the path." };
  // RFC 3986 §2.3: unreserved characters are never percent-encoded by a well-behaved client, and
  // routers (Hono's included) and origins decode them: `/v1/chat/api%2Dkeys` or `%61gents` would be
  // checked as one route and served as another.
  if (UNRESERVED_ESCAPE.test(rawPath)) {
    return { ok: false, reason: "Percent-encoded letters, digits or '-._~' are not allowed in the path." };
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return { ok: false, reason: "The path has malformed percent-encoding." };
  }
  if (FORBIDDEN.test(decoded)) return { ok: false, reason: "The path contains a forbidden character." };
  // Unicode compatibility forms (full-width `．` `？` `／` `ａ`, no-break and other spaces) become
  // ASCII under NFKC, which some origins and frameworks apply before routing: refused, so the
  // path checked is the path any origin reads. Plain non-ASCII text (`café`) is unchanged by NFKC.
  if (/[^\x00-\x7f]/.test(decoded) && decoded.normalize("NFKC") !== decoded) {
    return { ok: false, reason: "The path contains a Unicode compatibility character (full-width or special-space forms)." };
  }
  const segments = decoded.split("/").slice(1);
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === "." || segment === "..") return { ok: false, reason: "Dot segments are not allowed in the path." };
    // Servers that follow Windows file-name rules (IIS, some proxies) strip trailing dots and
    // spaces: `agents.` or `agents%20` would be served as `agents`.
    if (segment.endsWith(".") || segment.endsWith(" ")) {
      return { ok: false, reason: "A path segment may not end with a dot or a space." };
    }
    // An empty segment is a duplicate slash, except the one a trailing slash leaves at the end.
    if (segment === "" && i < segments.length - 1) {
      return { ok: false, reason: "Empty path segments (duplicate slashes) are not allowed." };
    }
  }
  return { ok: true, path: rawPath };
}
