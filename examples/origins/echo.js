// Example origin service used by `npm run dev`, the tests and the benchmark. It is bound to the
// gateway as CHAT or VOICE (its SERVICE var says which) and has no public route of its own.
//
//   any path              → 200 JSON echo: service, method, path, query, headers, body
//   …/events?count=&interval_ms=   → Server-Sent Events, one event per interval
//   …/ws                  → WebSocket echo (send "close" to end)
//   …/status/<code>       → that status with a JSON body (origin errors pass through untouched)
//   …/throw               → the worker throws (the gateway answers 502)
//   …/hang?ms=            → answers after ms milliseconds (default: 60 s; the gateway answers 504)

const lastSegment = (path) => path.slice(path.lastIndexOf("/") + 1);

export default {
  async fetch(request, env) {
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

    if (segments.at(-2) === "status") {
      const status = Number(last);
      return Response.json({ service, origin_error: true, status }, { status, headers: { "x-origin-header": "kept" } });
    }

    if (last === "ws" && request.headers.get("upgrade")?.toLowerCase() === "websocket") {
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      server.addEventListener("message", (event) => {
        if (event.data === "close") server.close(1000, "bye");
        else server.send(`${service} echo: ${event.data}`);
      });
      return new Response(null, { status: 101, webSocket: client });
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
