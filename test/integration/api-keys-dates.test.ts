// An impossible expires_at is refused through the API (400 naming the field), not shifted.
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { expectProblem, jsonInit, seedKey } from "../helpers/keys";

const API = "/v1/chat/api-keys";
const gw = (path: string, init?: RequestInit) => exports.default.fetch(`https://api.agntix.test${path}`, init);
const as = (key: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers, "x-api-key": key } });

describe("POST /v1/chat/api-keys with an impossible expires_at", () => {
  it.each(["2027-02-31T24:00:00Z", "2027-02-29T00:00:00Z", "2027-09-31T12:00:00Z", "2027-01-31T23:59:60Z"])("%s is 400 validation_failed naming expires_at; no key is created", async (expiresAt) => {
    const admin = await seedKey("org_dates");
    const res = await gw(API, as(admin.key, jsonInit("POST", { name: "contractor", scopes: ["chat:read"], expires_at: expiresAt })));
    const body = await expectProblem(res, 400, "validation_failed");
    expect(body["errors"]).toEqual([{ field: "expires_at", message: expect.stringMatching(/^is not a real date and time/) }]);
    const list = (await (await gw(API, as(admin.key))).json()) as { data: { name: string }[] };
    expect(list.data.map((k) => k.name)).not.toContain("contractor");
  });
});
