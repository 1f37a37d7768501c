import { Hono } from "hono";
import type { AppEnv } from "../env";
import { GatewayError } from "../errors";

/** The key management API, mounted at `/v1/chat/api-keys`. (Stub until the API-key issue lands.) */
export const keysApi = new Hono<AppEnv>();

keysApi.all("*", () => {
  throw new GatewayError("not_found");
});
