// Probe: Hono with one catch-all route handing the request to the origin (Hono's own cost).
import { Hono } from "hono";

const app = new Hono<{ Bindings: { CHAT: Fetcher } }>();
app.all("*", (c) => c.env.CHAT.fetch(c.req.raw));

export default app;
