import { exports } from "cloudflare:workers";
import { expect, it } from "vitest";

it("serves /healthz", async () => {
  const res = await exports.default.fetch("https://gw.test/healthz");
  expect(res.status).toBe(200);
  expect(res.headers.get("x-request-id")).toBeTruthy();
});
it("401 without credentials", async () => {
  const res = await exports.default.fetch("https://gw.test/v1/chat/agents");
  expect(res.status).toBe(401);
  console.log(await res.text(), [...res.headers]);
});
