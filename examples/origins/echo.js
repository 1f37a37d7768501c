// Example origin service used by `npm run dev`, the tests and the benchmark. It is bound to the
// gateway as CHAT or VOICE (its SERVICE var says which) and has no public route of its own.
//
//   any path              → 200 JSON echo: service, method, path, query, headers, body
//   …/events?count=&interval_ms=   → Server-Sent Events, one event per interval
//   …/ws                  → WebSocket echo (send "close" to end, "headers" for the request's headers);
//                           selects the first subprotocol offered
//   …/status/<code>       → that status with a JSON body (origin errors pass through untouched)
//   …/throw               → the worker throws (the gateway answers 502)
//   …/hang?ms=            → answers after ms milliseconds (default: 60 s; the gateway answers 504)
//   …/upload              → reads the body without keeping it and reports what arrived:
//                           {received_bytes, complete, error} (complete: the read ended cleanly;
//                           error: the name of what the read threw). With ?early=1 it answers at
//                           once and reads the body afterwards (a full-duplex origin). The report is
//                           also kept under the request's x-upload-id, for …/upload-report?id=

const lastSegment = (path) => path.slice(path.lastIndexOf("/") + 1);

// Upload reports by x-upload-id (the last 100), so a test can ask what an aborted upload looked like.
const uploads = new Map();
function keepReport(id, report) {
  if (!id) return;
  uploads.set(id, report);
  if (uploads.size > 100) uploads.delete(uploads.keys().next().value);
}

/** Read a body to its end, counting bytes only: `{received_bytes, complete, error}`. */
async function readReport(body) {
  let received = 0;
  if (!body) return { received_bytes: 0, complete: true, error: null };
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { received_bytes: received, complete: true, error: null };
      received += value.byteLength;
    }
  } catch (error) {
    return { received_bytes: received, complete: false, error: error?.name ?? "Error" };
  }
}

/** `…/upload[?early=1]`: see the header comment. */
async function upload(request, url, ctx, service) {
  const id = request.headers.get("x-upload-id");
  if (!url.searchParams.has("early")) {
    const report = { service, ...(await readReport(request.body)) };
    keepReport(id, report);
    return Response.json(report);
  }
  const { readable, writable } = new TransformStream();
  const writer = writable.getWriter();
  const encoder = new TextEncoder();
  ctx.waitUntil(
    (async () => {
      await writer.write(encoder.encode("started\n"));
      const report = { service, ...(await readReport(request.body)) };
      keepReport(id, report);
      await writer.write(encoder.encode(JSON.stringify(report)));
      await writer.close();
    })().catch(() => {}),
  );
  return new Response(readable, { headers: { "content-type": "text/plain" } });
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const service = env.SERVICE ?? "origin";
    const segments = url.pathname.split("/");
    const last = lastSegment(url.pathname);

    if (last === "throw") throw new Error(`${service} origin exploded (internal detail: db-01.internal)`);

    if (last === "hang") {
      const ms = Number(url.searchParams.get("ms") ?? 60_000);
      await new Promise((resolve) => setTimeout(resolve, ms));
      return Response.json({ service, slept_ms: ms });
    }

    if (last === "upload") return upload(request, url, ctx, service);

    if (last === "upload-report") {
      const report = uploads.get(url.searchParams.get("id"));
      return report ? Response.json(report) : Response.json({ service, report: null }, { status: 404 });
    }

    if (segments.at(-2) === "status") {
      const status = Number(last);
      return Response.json({ service, origin_error: true, status }, { status, headers: { "x-origin-header": "kept" } });
    }

    if (last === "ws" && request.headers.get("upgrade")?.toLowerCase() === "websocket") {
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      server.addEventListener("message", (event) => {
        if (event.data === "close") server.close(1000, "bye");
        else if (event.data === "headers") server.send(JSON.stringify(Object.fromEntries(request.headers)));
        else server.send(`${service} echo: ${event.data}`);
      });
      // Selects the first subprotocol offered, as an application protocol would.
      const offered = request.headers.get("sec-websocket-protocol")?.split(",")[0]?.trim();
      return new Response(null, { status: 101, webSocket: client, headers: offered ? { "sec-websocket-protocol": offered } : {} });
    }

    if (last === "events") {
      const count = Math.min(Number(url.searchParams.get("count") ?? 3), 1000);
      const interval = Math.min(Number(url.searchParams.get("interval_ms") ?? 500), 10_000);
      const { readable, writable } = new TransformStream();
      const writer = writable.getWriter();
      const encoder = new TextEncoder();
      (async () => {
        for (let i = 1; i <= count; i++) {
          await writer.write(encoder.encode(`id: ${i}\nevent: tick\ndata: {"n":${i},"sent_at":${Date.now()}}\n\n`));
          if (i < count) await new Promise((resolve) => setTimeout(resolve, interval));
        }
        await writer.close();
      })();
      return new Response(readable, {
        headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
      });
    }

    const body = request.body ? await request.text() : null;
    return Response.json({
      service,
      method: request.method,
      path: url.pathname,
      query: url.search,
      headers: Object.fromEntries(request.headers),
      body,
    });
  },
};
