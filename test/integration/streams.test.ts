// Open streams end when their credential does: an SSE response carried for an API key ends with
// `event: agntix.stream_ended` / `{"reason":"revoked"}` after the key is revoked (here or at
// another location, within the feed's bound), and one carried for a session token at its `exp`
// (`{"reason":"expired"}`). Real time: the bound is asserted as "the stream ended well before
// the origin would have ended it", never as a duration.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { KeyStore, kvFromBinding } from "../../src/keys/store";
import { REVOCATION_LOG_NAME } from "../../src/revocation/durable-object";
import { bearer, sessionToken } from "../helpers/jwt";
import { seedKey } from "../helpers/keys";

const gw = (path: string, init?: RequestInit) => exports.default.fetch(`https://api.agntix.test${path}`, init);
const withKey = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, "x-api-key": key } });
/** 300 events 100 ms apart: the origin alone would keep the stream open for 30 s. */
const LONG_STREAM = "/v1/chat/events?count=300&interval_ms=100";

/** Read an event stream to its end; the text, and how many origin events came through. */
async function readAll(res: Response, onFirstEvent?: () => Promise<void>): Promise<{ text: string; ticks: number }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let fired = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (!fired && text.includes("event: tick")) {
      fired = true;
      await onFirstEvent?.();
    }
  }
  return { text, ticks: text.split("event: tick").length - 1 };
}

const ENDED = (reason: string) => `event: agntix.stream_ended\ndata: {"reason":"${reason}"}\n\n`;

describe("Server-Sent Events end with their credential", { timeout: 30_000 }, () => {
  it("a key deleted (through this isolate) ends its open stream with a recognisable last event", async () => {
    const { key, id } = await seedKey("org_sse_del");
    const admin = await seedKey("org_sse_del");
    const res = await gw(LONG_STREAM, withKey(key));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const { text, ticks } = await readAll(res, async () => {
      expect((await gw(`/v1/chat/api-keys/${id}`, withKey(admin.key, { method: "DELETE" }))).status).toBe(204);
    });
    expect(text.endsWith(ENDED("revoked"))).toBe(true);
    expect(ticks).toBeLessThan(300);
  });

  it("a key revoked at another location (the log only) ends the stream here within the feed's bound", async () => {
    const { key, id } = await seedKey("org_sse_elsewhere");
    const res = await gw(LONG_STREAM, withKey(key));
    const store = new KeyStore(kvFromBinding(env.API_KEYS));
    const { text, ticks } = await readAll(res, async () => {
      const stored = (await store.findById(id))!;
      const log = env.REVOCATION_LOG.get(env.REVOCATION_LOG.idFromName(REVOCATION_LOG_NAME));
      await log.append([{ kind: "key", subject: stored.hash, not_after: Date.now(), reason: "delete", key_id: id }], 600_000);
      await store.remove(stored);
    });
    expect(text.endsWith(ENDED("revoked"))).toBe(true);
    // Poll 2 s + 2 × check 1 s: at most about 40 of the origin's 300 ticks, with a generous margin.
    expect(ticks).toBeLessThan(150);
  });

  it("a key narrowed below the stream's scope ends it with scope_removed (attack run C)", async () => {
    const { key, id } = await seedKey("org_sse_narrow", ["chat:read"]);
    const admin = await seedKey("org_sse_narrow");
    const res = await gw(LONG_STREAM, withKey(key));
    expect(res.status).toBe(200);
    const { text, ticks } = await readAll(res, async () => {
      const patch = await gw(`/v1/chat/api-keys/${id}`, withKey(admin.key, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ scopes: ["voice:read"] }) }));
      expect(patch.status).toBe(200);
    });
    expect(text.endsWith(ENDED("scope_removed"))).toBe(true);
    expect(ticks).toBeLessThan(150);
  });

  it("a narrowing that keeps the stream's scope leaves the stream whole", async () => {
    const { key, id } = await seedKey("org_sse_keep", ["chat:read", "voice:read"]);
    const admin = await seedKey("org_sse_keep");
    const { text, ticks } = await readAll(await gw("/v1/chat/events?count=25&interval_ms=100", withKey(key)), async () => {
      const patch = await gw(`/v1/chat/api-keys/${id}`, withKey(admin.key, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ scopes: ["chat:read"] }) }));
      expect(patch.status).toBe(200);
    });
    expect(ticks).toBe(25);
    expect(text).not.toContain("agntix.stream_ended");
  });

  it("a stream carried for a session token ends at the token's exp", async () => {
    const token = await sessionToken({ exp: Math.floor(Date.now() / 1000) + 2 });
    const res = await gw(LONG_STREAM, bearer(token));
    expect(res.status).toBe(200);
    const { text, ticks } = await readAll(res);
    expect(text.endsWith(ENDED("expired"))).toBe(true);
    expect(ticks).toBeLessThan(150);
  });

  it("a stream whose credential stays valid is relayed whole, untouched", async () => {
    const { key } = await seedKey("org_sse_whole");
    const { text, ticks } = await readAll(await gw("/v1/chat/events?count=3&interval_ms=50", withKey(key)));
    expect(ticks).toBe(3);
    expect(text).not.toContain("agntix.stream_ended");
  });
});
