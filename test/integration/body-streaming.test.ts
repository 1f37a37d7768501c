// Request bodies stream through the gateway; one without Content-Length is counted on its way and,
// past MAX_BODY_BYTES (64 KiB in tests), the origin's request is aborted so that the origin's read
// throws. The example origin's …/upload reports what it received (bytes, and whether its read
// ended cleanly), kept under x-upload-id for …/upload-report.
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { seedKey } from "../helpers/keys";

const BASE = "https://api.agntix.test";
const LIMIT = 65536;
const CHUNK = 16 * 1024;
let key = "";

beforeAll(async () => {
  key = (await seedKey("org_streaming", ["chat:write"], "uploader")).key;
});

interface UploadReport {
  received_bytes: number;
  complete: boolean;
  error: string | null;
}

/** A body the test feeds by hand: `push` a chunk, `end` it. */
function handFed(): { body: ReadableStream<Uint8Array>; push: (bytes: number) => void; end: () => void } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  return { body, push: (bytes) => controller.enqueue(new Uint8Array(bytes).fill(97)), end: () => controller.close() };
}

/** A body of `chunks` chunks of 16 KiB, with no Content-Length. */
const chunked = (chunks: number) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < chunks; i++) controller.enqueue(new Uint8Array(CHUNK).fill(97));
      controller.close();
    },
  });

const upload = (path: string, body: ReadableStream<Uint8Array>, uploadId: string) =>
  exports.default.fetch(`${BASE}${path}`, {
    method: "POST",
    body,
    duplex: "half",
    headers: { "x-api-key": key, "x-upload-id": uploadId },
  } as RequestInit);

/** What the origin recorded for this upload, or null if its handler never got to record one. */
async function reportOf(uploadId: string): Promise<UploadReport | null> {
  const res = await env.CHAT.fetch(`https://origin.test/v1/chat/upload-report?id=${uploadId}`);
  return res.status === 200 ? ((await res.json()) as UploadReport) : null;
}

describe("request bodies stream", () => {
  it("the origin answers while the caller is still sending (nothing is buffered first)", async () => {
    const feed = handFed();
    feed.push(CHUNK);
    // A gateway that buffered the body would wait for its end before calling the origin, and this
    // response would never come (the test would time out).
    const res = await upload("/v1/chat/upload?early=1", feed.body, "open-stream");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    feed.push(CHUNK);
    feed.end();
    const text = await res.text();
    expect(text.startsWith("started\n")).toBe(true);
    expect(JSON.parse(text.slice("started\n".length))).toMatchObject({ received_bytes: 2 * CHUNK, complete: true });
  });

  it("a chunked body of exactly the limit arrives whole", async () => {
    const res = await upload("/v1/chat/upload", chunked(LIMIT / CHUNK), "at-limit");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ received_bytes: LIMIT, complete: true, error: null });
  });

  it("a chunked body past the limit → 413 payload_too_large, and the origin never sees a whole-looking body", async () => {
    const res = await upload("/v1/chat/upload", chunked(LIMIT / CHUNK + 2), "over-limit");
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toBe("application/problem+json; charset=utf-8");
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: "payload_too_large", request_id: res.headers.get("x-request-id") });
    // The origin's request was aborted: its handler was cancelled mid-read (no report), or its read threw.
    const report = await reportOf("over-limit");
    if (report !== null) expect(report).toMatchObject({ complete: false });
  });

  it("past the limit after the origin answered: the origin's read throws and the response is cut", async () => {
    const feed = handFed();
    feed.push(CHUNK);
    const res = await upload("/v1/chat/upload?early=1", feed.body, "over-limit-late");
    expect(res.status).toBe(200);
    for (let i = 0; i < LIMIT / CHUNK + 1; i++) feed.push(CHUNK);
    await expect(res.text()).rejects.toThrow();
    // The origin's read failed ("client disconnected"), having received no more than the limit.
    let report: UploadReport | null = null;
    for (let i = 0; i < 50 && report === null; i++) {
      report = await reportOf("over-limit-late");
      if (report === null) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(report).toMatchObject({ complete: false, error: "TypeError" });
    expect(report!.received_bytes).toBeLessThanOrEqual(LIMIT);
  });
});

describe("why the gateway aborts instead of erroring the stream (a platform fact)", () => {
  it("through a service binding, a request stream that errors reaches the origin as a complete, shorter body", async () => {
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const sent = env.CHAT.fetch("https://origin.test/v1/chat/upload", { method: "POST", body: readable, duplex: "half" } as RequestInit);
    await writer.write(new Uint8Array(CHUNK).fill(97));
    await writer.abort(new RangeError("cut by the sender")).catch(() => {});
    const res = await sent;
    // If this ever fails, workerd started to propagate the error, which is what the gateway wants anyway.
    expect(await res.json()).toMatchObject({ received_bytes: CHUNK, complete: true });
  });
});
