import { describe, expect, it } from "vitest";
import { COPY_MAX_ENTRIES, feedDue, type LocationCopy, mergeCopy } from "../../src/revocation/feed";
import type { FeedEntry } from "../../src/revocation/log";

const entry = (seq: number, notAfter = 1_000): FeedEntry => ({ seq, kind: "key", subject: `h${seq}`, not_after: notAfter });

describe("feedDue: the hot path's one decision", () => {
  it.each([
    [0, 0, 1000, "fresh"],
    [999, 0, 1000, "fresh"],
    [1000, 0, 1000, "refresh"],
    [1999, 0, 1000, "refresh"],
    [2000, 0, 1000, "wait"],
    [5, 0, 0, "wait"], // check interval 0: every request looks first
    [-1, 0, 1000, "refresh"], // the clock went back: due, never fresh forever
    [0, Number.NEGATIVE_INFINITY, 1000, "wait"], // a new isolate
  ] as const)("now %d, last look %d, interval %d → %s", (now, checkedAt, checkMs, due) => {
    expect(feedDue(now, checkedAt, checkMs)).toBe(due);
  });
});

describe("mergeCopy", () => {
  it("appends new entries, advances the head to the log's, stamps the time", () => {
    const copy: LocationCopy = { head: 2, fetched_at: 0, entries: [entry(1), entry(2)] };
    const merged = mergeCopy(copy, { entries: [entry(3), entry(4)], head: 4, more: false }, 500, 10_000);
    expect(merged).toEqual({ head: 4, fetched_at: 500, entries: [entry(1), entry(2), entry(3), entry(4)] });
  });

  it("ignores entries it already has and drops those past retention", () => {
    const copy: LocationCopy = { head: 2, fetched_at: 0, entries: [entry(1, 0), entry(2, 9_000)] };
    const merged = mergeCopy(copy, { entries: [entry(2, 9_000), entry(3, 9_500)], head: 3, more: false }, 10_001, 10_000);
    expect(merged.entries.map((e) => e.seq)).toEqual([2, 3]);
  });

  it("with more pages to come, the head is the last entry read, not the log's", () => {
    const merged = mergeCopy(undefined, { entries: [entry(1), entry(2)], head: 9, more: true }, 0, 10_000);
    expect(merged.head).toBe(2);
  });

  it("an empty log page keeps the head (pruned entries never lower it)", () => {
    const merged = mergeCopy({ head: 7, fetched_at: 0, entries: [] }, { entries: [], head: 7, more: false }, 1, 10_000);
    expect(merged).toEqual({ head: 7, fetched_at: 1, entries: [] });
  });

  it("is capped, keeping the newest entries", () => {
    const many = Array.from({ length: COPY_MAX_ENTRIES + 5 }, (_, i) => entry(i + 1));
    const merged = mergeCopy(undefined, { entries: many, head: many.length, more: false }, 0, 10_000);
    expect(merged.entries).toHaveLength(COPY_MAX_ENTRIES);
    expect(merged.entries[0]!.seq).toBe(6);
  });
});
