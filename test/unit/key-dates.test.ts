// Impossible calendar dates and times are refused, never shifted (`Date.parse` would turn
// 2027-02-31T24:00:00Z into 2027-03-04T00:00:00Z).
import { describe, expect, it } from "vitest";
import { checkCreateInput, checkUsageInput, parseRfc3339 } from "../../src/keys/validate";

const NOW = Date.parse("2026-11-27T00:00:00Z");

describe("parseRfc3339", () => {
  it.each([
    ["a plain UTC instant", "2027-01-31T00:00:00Z", "2027-01-31T00:00:00.000Z"],
    ["the last instant of a day", "2027-12-31T23:59:59Z", "2027-12-31T23:59:59.000Z"],
    ["February 29 of a leap year", "2028-02-29T12:00:00Z", "2028-02-29T12:00:00.000Z"],
    ["February 29 of a year divisible by 400", "2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000Z"],
    ["day 30 of a 30-day month", "2027-04-30T00:00:00Z", "2027-04-30T00:00:00.000Z"],
    ["day 31 of a 31-day month", "2027-07-31T00:00:00Z", "2027-07-31T00:00:00.000Z"],
    ["fractional seconds", "2027-01-31T00:00:00.123Z", "2027-01-31T00:00:00.123Z"],
    ["a lower-case z", "2027-01-31t00:00:00z", "2027-01-31T00:00:00.000Z"],
    ["a positive offset", "2027-03-01T01:30:00+02:00", "2027-02-28T23:30:00.000Z"],
    ["a negative offset", "2027-02-28T20:00:00-05:00", "2027-03-01T01:00:00.000Z"],
    ["the largest offset", "2027-01-31T00:00:00+23:59", "2027-01-30T00:01:00.000Z"],
  ])("accepts %s", (_label, input, iso) => {
    expect(new Date(parseRfc3339(input)).toISOString()).toBe(iso);
  });

  it.each([
    ["February 31 at hour 24 (the review's example)", "2027-02-31T24:00:00Z"],
    ["February 30", "2027-02-30T00:00:00Z"],
    ["February 31", "2027-02-31T00:00:00Z"],
    ["February 29 of a common year", "2027-02-29T00:00:00Z"],
    ["February 29 of a century not divisible by 400", "2100-02-29T00:00:00Z"],
    ["April 31", "2027-04-31T00:00:00Z"],
    ["June 31", "2027-06-31T00:00:00Z"],
    ["September 31", "2027-09-31T00:00:00Z"],
    ["November 31", "2027-11-31T00:00:00Z"],
    ["day 32", "2027-01-32T00:00:00Z"],
    ["day 0", "2027-01-00T00:00:00Z"],
    ["month 0", "2027-00-10T00:00:00Z"],
    ["month 13", "2027-13-01T00:00:00Z"],
    ["hour 24", "2027-01-31T24:00:00Z"],
    ["minute 60", "2027-01-31T10:60:00Z"],
    ["second 60 (a leap second: refused, see the TSDoc)", "2027-06-30T23:59:60Z"],
    ["second 61", "2027-01-31T10:00:61Z"],
    ["an offset of 24 hours", "2027-01-31T00:00:00+24:00"],
    ["an offset minute of 60", "2027-01-31T00:00:00+01:60"],
    ["no time zone", "2027-01-31T00:00:00"],
    ["a date only", "2027-01-31"],
    ["not a date", "soon"],
  ])("refuses %s", (_label, input) => {
    expect(parseRfc3339(input)).toBeNaN();
  });
});

describe("expires_at at creation", () => {
  const body = (expires_at: string) => ({ name: "k", scopes: ["chat:read"], expires_at });

  it.each([
    ["2027-02-31T24:00:00Z", "is not a real date and time (a day past the end of its month, hour 24, minute or second 60)"],
    ["2027-02-29T00:00:00Z", "is not a real date and time (a day past the end of its month, hour 24, minute or second 60)"],
    ["2027-04-31T00:00:00Z", "is not a real date and time (a day past the end of its month, hour 24, minute or second 60)"],
    ["2027-01-31T23:60:00Z", "is not a real date and time (a day past the end of its month, hour 24, minute or second 60)"],
    ["2027-01-31 00:00", "must be an RFC 3339 date-time with a time zone, e.g. 2027-01-31T00:00:00Z"],
  ])("refuses %s, naming expires_at", (input, message) => {
    expect(checkCreateInput(body(input), NOW)).toEqual({ ok: false, errors: [{ field: "expires_at", message }] });
  });

  it("keeps a real date, normalised to UTC", () => {
    expect(checkCreateInput(body("2028-02-29T01:00:00+01:00"), NOW)).toMatchObject({ ok: true, value: { expiresAt: "2028-02-29T00:00:00.000Z" } });
  });
});

describe("usage from and to", () => {
  it.each([
    [{ from: "2026-11-31T00:00:00Z" }, "from"],
    [{ to: "2026-11-26T24:00:00Z" }, "to"],
  ])("refuses an impossible %o, naming the field", (query, field) => {
    expect(checkUsageInput(query, NOW)).toEqual({ ok: false, errors: [{ field, message: "is not a real date and time" }] });
  });
});
