// Bench only: a stand-in for the Rate Limiting binding that always allows, reached by JS RPC like
// a service. It measures what one binding call per limit costs the gateway's isolate when the
// limiter itself is cheap (Cloudflare's is a location-local service; Miniflare's is a Durable
// Object with SQLite, far slower than either).
import { WorkerEntrypoint } from "cloudflare:workers";

export class Limiter extends WorkerEntrypoint {
  async limit() {
    return { success: true };
  }
}

export default {
  fetch() {
    return new Response("rate limiter stand-in", { status: 404 });
  },
};
