// Open streams across locations: a Server-Sent Events stream and a WebSocket, each carried for a
// key by another location than the one that deletes it, must END within the bound (5 s). The
// simulation of revocation-locations.test.ts (own Cache API, own isolate caches, a KV stand-in
// serving stale values for 60 s, the real Durable Object shared), with both `Date` and
// `setTimeout` faked: the streams' watchdogs sleep on the simulated clock, which steps 100 ms at a
// time and waits between steps for each location's log and Cache API calls to finish. No location
// gets any other request after its streams opened: the watchdog alone must notice. The times are
// simulated, recorded when each stream's end reaches its client.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CLOSE_EXPIRED, CLOSE_REVOKED } from "../../src/proxy/streams";
import { bearer, sessionToken } from "../helpers/jwt";
import { seedKey } from "../helpers/keys";
import { type Location, makeLocation } from "../helpers/locations";

const BOUND_MS = 5_000;
const STEP_MS = 100;
/** 1,000 events 100 ms apart (real time): the origin alone keeps the stream open for 100 s. */
const LONG_STREAM = "/v1/chat/events?count=1000&interval_ms=100";

const withKey = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, "x-api-key": key } });

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Advance the simulated clock by `ms` in steps, letting every location's I/O finish between steps. */
async function step(locations: Location[], ms: number): Promise<void> {
  for (let done = 0; done < ms; done += STEP_MS) {
    await vi.advanceTimersByTimeAsync(STEP_MS);
    for (const loc of locations) await loc.settle();
  }
}

/** Warm the key at every location with one request per step. */
async function traffic(locations: Location[], key: string, ms: number): Promise<void> {
  for (let done = 0; done < ms; done += STEP_MS) {
    await step(locations, STEP_MS);
    for (const loc of locations) expect((await loc.call("/v1/chat/agents", withKey(key))).status, loc.name).toBe(200);
  }
}

/** An open stream and when (simulated epoch ms) and how it ended. */
interface Open {
  readonly location: string;
  readonly kind: "sse" | "websocket";
  endedAt?: number;
  how?: string;
  readonly done: () => Promise<void>;
  /** End it from the client's side. */
  readonly close: () => void;
}

/** Open an SSE stream at `loc` and read it in the background until it ends. */
async function openSse(loc: Location, init: RequestInit): Promise<Open> {
  const { res, done } = await loc.open(LONG_STREAM, init);
  expect(res.status, loc.name).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/event-stream");
  const reader = res.body!.getReader();
  const open: Open = { location: loc.name, kind: "sse", done, close: () => void reader.cancel().catch(() => undefined) };
  const decoder = new TextDecoder();
  let text = "";
  void (async () => {
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      text += decoder.decode(value, { stream: true });
    }
    open.endedAt = Date.now();
    open.how = /event: agntix\.stream_ended\ndata: (\{[^\n]*\})\n\n$/.exec(text)?.[1] ?? "ended without the gateway's last event";
  })().catch((error: unknown) => {
    open.endedAt = Date.now();
    open.how = `read failed: ${String(error)}`;
  });
  return open;
}

/** Open a WebSocket at `loc`, check it echoes, and note its close. */
async function openWebSocket(loc: Location, init: RequestInit): Promise<Open> {
  const { res, done } = await loc.open("/v1/chat/ws", { ...init, headers: { ...init.headers, upgrade: "websocket" } });
  expect(res.status, loc.name).toBe(101);
  const ws = res.webSocket!;
  const open: Open = { location: loc.name, kind: "websocket", done, close: () => ws.close(1000, "client done") };
  const echoed = new Promise<string>((resolve) => ws.addEventListener("message", (e) => resolve(String(e.data)), { once: true }));
  ws.addEventListener("close", (e) => {
    open.endedAt = Date.now();
    open.how = `${e.code} ${e.reason}`;
  });
  ws.accept();
  ws.send("hello");
  expect(await echoed).toBe("chat echo: hello");
  return open;
}

/** Step until every stream ended (or `limitMs` passed); simulated ms from `since` to each end. */
async function untilEnded(locations: Location[], streams: Open[], since: number, limitMs = 30_000): Promise<void> {
  while (streams.some((s) => s.endedAt === undefined) && Date.now() - since < limitMs) await step(locations, STEP_MS);
}

const elapsed = (streams: Open[], since: number) => Object.fromEntries(streams.map((s) => [`${s.location} ${s.kind}`, s.endedAt === undefined ? null : s.endedAt - since]));

describe("open streams at other locations end within the bound (deployed defaults: poll 2 s, check 1 s, KV stale 60 s)", { timeout: 120_000 }, () => {
  it("a DELETE through one location ends an SSE stream and a WebSocket open at each other location within 5 s, whatever the phase", async () => {
    const worst: Record<string, number> = {};
    for (const phase of [0, 700, 1_300, 1_900]) {
      const [writer, ...others] = await Promise.all(["writer", "loc1", "loc2", "loc3"].map((n) => makeLocation(`streams-${phase}-${n}`)));
      const all = [writer!, ...others];
      const { key, id } = await seedKey(`org_sim_streams_${phase}`);
      const admin = await seedKey(`org_sim_streams_${phase}`);
      // The locations join 0, 0.7 and 1.4 s apart, so their polls are out of step.
      for (let i = 0; i < all.length; i++) await traffic(all.slice(0, i + 1), key, 700);
      await traffic(all, key, 2_000);
      const streams: Open[] = [];
      for (const loc of others) streams.push(await openSse(loc, withKey(key)), await openWebSocket(loc, withKey(key)));
      await step(all, 1_000 + phase);
      expect(streams.every((s) => s.endedAt === undefined)).toBe(true);

      const deletedAt = Date.now();
      expect((await writer!.call(`/v1/chat/api-keys/${id}`, withKey(admin.key, { method: "DELETE" }))).status).toBe(204);
      await untilEnded(all, streams, deletedAt);

      const times = elapsed(streams, deletedAt);
      console.log(`phase ${phase} ms: delete → stream end per location (simulated ms): ${JSON.stringify(times)}`);
      for (const s of streams) {
        expect(s.endedAt, `${s.location} ${s.kind} never ended`).toBeDefined();
        expect(s.endedAt! - deletedAt, `${s.location} ${s.kind}`).toBeLessThanOrEqual(BOUND_MS);
        expect(s.how, `${s.location} ${s.kind}`).toBe(s.kind === "sse" ? '{"reason":"revoked"}' : `${CLOSE_REVOKED} revoked`);
        const name = `${s.location.replace(`streams-${phase}-`, "")} ${s.kind}`;
        worst[name] = Math.max(worst[name] ?? 0, s.endedAt! - deletedAt);
      }
      await Promise.all(streams.map((s) => s.done()));
    }
    console.log(`worst delete → stream end over the phases (simulated ms): ${JSON.stringify(worst)}`);
  });

  it("control: with the feed off at the other location, its streams outlive the bound (so the test above can fail)", async () => {
    const writer = await makeLocation("streams-control-writer");
    const other = await makeLocation("streams-control-off", { REVOCATION_FEED: "off" });
    const { key, id } = await seedKey("org_sim_streams_off");
    const admin = await seedKey("org_sim_streams_off");
    await traffic([writer, other], key, 1_000);
    const streams = [await openSse(other, withKey(key)), await openWebSocket(other, withKey(key))];
    const deletedAt = Date.now();
    expect((await writer.call(`/v1/chat/api-keys/${id}`, withKey(admin.key, { method: "DELETE" }))).status).toBe(204);
    await step([writer, other], 2 * BOUND_MS);
    expect(streams.map((s) => s.endedAt)).toEqual([undefined, undefined]);
    expect(Date.now() - deletedAt).toBeGreaterThan(BOUND_MS);
    for (const s of streams) s.close();
  });

  it("a WebSocket and an SSE stream opened with a session token end at its exp, at any location", async () => {
    const loc = await makeLocation("streams-token");
    const token = await sessionToken({ exp: Math.floor(Date.now() / 1000) + 3 });
    const expiresAt = Math.floor(Date.now() / 1000) * 1000 + 3_000;
    const streams = [await openSse(loc, bearer(token)), await openWebSocket(loc, bearer(token))];
    await untilEnded([loc], streams, expiresAt - 3_000);
    console.log(`exp → stream end (simulated ms): ${JSON.stringify(elapsed(streams, expiresAt))}`);
    for (const s of streams) {
      expect(s.endedAt, `${s.kind} never ended`).toBeDefined();
      expect(s.endedAt!).toBeGreaterThanOrEqual(expiresAt);
      expect(s.endedAt! - expiresAt, s.kind).toBeLessThanOrEqual(BOUND_MS);
      expect(s.how, s.kind).toBe(s.kind === "sse" ? '{"reason":"expired"}' : `${CLOSE_EXPIRED} expired`);
    }
  });
});
