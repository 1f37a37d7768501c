/**
 * `npm run bench:memory`: does an in-flight upload cost the gateway memory in proportion to its size?
 *
 * Starts the production bundle in workerd (Miniflare, as `npm run bench` does) with the V8
 * inspector, measures the gateway isolate's JS heap and workerd's RSS at idle, then sends
 * `--uploads` (8) concurrent chunked uploads of `--mb` (10) MB each, without Content-Length, to
 * the example origin's `…/upload` (which counts bytes and keeps none), sampling both every 50 ms.
 * Prints idle, peak and the difference. Issue 8's review measured 0.3 MB → 87 MB with the old
 * buffering body limit; a streaming gateway stays within a few MB of idle.
 *
 * Not a test: figures depend on the machine, and nothing here asserts a time.
 */
import http from "node:http";
import { parseArgs } from "node:util";
import { GATEWAY } from "./lib/cluster";
import { processMemory } from "./lib/proc";
import { setUpBench } from "./lib/setup";
import { connect } from "./lib/inspector";

const { values: flags } = parseArgs({
  options: {
    uploads: { type: "string", default: "8" },
    mb: { type: "string", default: "10" },
    "chunk-kib": { type: "string", default: "64" },
    "inspector-port": { type: "string", default: "9330" },
  },
  strict: true,
});
const uploads = Math.min(64, Math.max(1, Number(flags.uploads)));
const totalBytes = Math.round(Number(flags.mb) * 1_000_000);
const chunkBytes = Number(flags["chunk-kib"]) * 1024;
const inspectorPort = Number(flags["inspector-port"]);


/** One chunked upload (no Content-Length); resolves with the status and the origin's report. */
function upload(baseUrl: string, key: string, totalBytes: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL("/v1/chat/upload", baseUrl);
    const request = http.request(url, { method: "POST", headers: { "x-api-key": key, "transfer-encoding": "chunked" } }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on("error", reject);
    const chunk = Buffer.alloc(chunkBytes, 97);
    let sent = 0;
    const pump = () => {
      while (sent < totalBytes) {
        const piece = sent + chunkBytes <= totalBytes ? chunk : chunk.subarray(0, totalBytes - sent);
        sent += piece.byteLength;
        if (!request.write(piece)) return void request.once("drain", pump);
      }
      request.end();
    };
    pump();
  });
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

async function main(): Promise<void> {
  const { cluster, fixtures } = await setUpBench({ env: "production", unknownKeys: 0, inspectorPort });
  try {
    const cdp = await connect(`ws://127.0.0.1:${inspectorPort}/core:user:${GATEWAY}`);
    await cdp.call("Runtime.enable");
    // JS heap plus ArrayBuffer backing stores (where body bytes live) and embedder memory.
    const heap = async () => {
      const usage = await cdp.call<{ usedSize: number; embedderHeapUsedSize?: number; backingStorageSize?: number }>("Runtime.getHeapUsage");
      return usage.usedSize + (usage.embedderHeapUsedSize ?? 0) + (usage.backingStorageSize ?? 0);
    };
    const rss = () => (cluster.workerdPid === undefined ? NaN : (processMemory(cluster.workerdPid)?.rssKiB ?? NaN) * 1024);

    // Idle: one small request so the gateway's module and config are loaded, then a GC.
    const warm = await upload(cluster.gatewayUrl, fixtures.chatKey, chunkBytes);
    if (warm.status !== 200) throw new Error(`warm-up upload answered ${warm.status}: ${warm.body}`);
    const settledHeap = async () => {
      let least = Infinity;
      for (let i = 0; i < 3; i++) {
        await cdp.call("HeapProfiler.collectGarbage").catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 100));
        least = Math.min(least, await heap());
      }
      return least;
    };
    const idleHeap = await settledHeap();
    const idleRss = rss();

    // Two peaks: as sampled (uncollected garbage included), and right after a forced GC (what the
    // in-flight uploads really hold). Odd samples force a GC first.
    let peakHeap = idleHeap;
    let peakLiveHeap = idleHeap;
    let peakRss = idleRss;
    let sampling = true;
    const sampler = (async () => {
      for (let i = 0; sampling; i++) {
        if (i % 2) {
          await cdp.call("HeapProfiler.collectGarbage").catch(() => undefined);
          peakLiveHeap = Math.max(peakLiveHeap, await heap());
        } else {
          peakHeap = Math.max(peakHeap, await heap());
        }
        peakRss = Math.max(peakRss, rss());
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: uploads }, () => upload(cluster.gatewayUrl, fixtures.chatKey, totalBytes)));
    const seconds = (Date.now() - started) / 1000;
    sampling = false;
    await sampler;
    const afterHeap = await settledHeap();
    cdp.close();

    const received = results.map((r) => {
      try {
        return (JSON.parse(r.body) as { received_bytes: number; complete: boolean }).received_bytes;
      } catch {
        return NaN;
      }
    });
    const ok = results.every((r, i) => r.status === 200 && received[i] === totalBytes);
    console.log(`\n${uploads} concurrent chunked uploads of ${(totalBytes / 1e6).toFixed(1)} MB (no Content-Length), ${chunkBytes / 1024} KiB chunks, in ${seconds.toFixed(1)} s`);
    console.log(`all answered 200 with every byte at the origin: ${ok ? "yes" : `NO (${results.map((r) => r.status).join(", ")})`}\n`);
    console.log("| measure (MiB) | idle | peak during uploads | peak − idle | after, GC'd |");
    console.log("|---|---|---|---|---|");
    console.log(`| gateway isolate, live (sampled after a forced GC) | ${mib(idleHeap)} | ${mib(peakLiveHeap)} | ${mib(peakLiveHeap - idleHeap)} | ${mib(afterHeap)} |`);
    console.log(`| gateway isolate, as sampled (garbage included) | ${mib(idleHeap)} | ${mib(peakHeap)} | ${mib(peakHeap - idleHeap)} | — |`);
    console.log(`| workerd process RSS, all workers | ${mib(idleRss)} | ${mib(peakRss)} | ${mib(peakRss - idleRss)} | — |`);
    console.log("\nIsolate = V8 JS heap + ArrayBuffer backing stores (where body bytes live) + embedder heap.");
    console.log("\nThe inspector is on: it slows workerd, which only makes buffering easier to see.");
  } finally {
    await cluster.dispose();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(2);
  },
);
