import { describe, expect, it } from "vitest";
import { TtlLru } from "../../src/ttl-lru";

// Time is passed explicitly: nothing here waits on a timer.
describe("TtlLru", () => {
  it.each([
    ["just set", 0, "v"],
    ["just before the TTL", 999, "v"],
    ["at the TTL", 1000, undefined],
    ["long after the TTL", 60_000, undefined],
  ])("an entry read %s is %j", (_label, age, expected) => {
    const lru = new TtlLru<string, string>(10, 1000);
    lru.set("k", "v", 0);
    expect(lru.get("k", age)).toBe(expected);
  });

  it("evicts the least recently used entry over its cap", () => {
    const lru = new TtlLru<string, number>(3, 1000);
    lru.set("a", 1, 0);
    lru.set("b", 2, 0);
    lru.set("c", 3, 0);
    expect(lru.get("a", 1)).toBe(1); // a is now the most recent
    lru.set("d", 4, 2);
    expect(lru.get("b", 3)).toBeUndefined();
    expect([lru.get("a", 3), lru.get("c", 3), lru.get("d", 3)]).toEqual([1, 3, 4]);
    expect(lru.size).toBe(3);
  });

  it("never holds more than its cap, whatever is inserted", () => {
    const lru = new TtlLru<string, number>(100, 1000);
    for (let i = 0; i < 10_000; i++) lru.set(`key-${i}`, i, i);
    expect(lru.size).toBe(100);
    expect(lru.get("key-9999", 10_000)).toBe(9999);
    expect(lru.get("key-0", 10_000)).toBeUndefined();
  });

  it("setting again renews the TTL; delete and clear remove", () => {
    const lru = new TtlLru<string, string>(10, 1000);
    lru.set("k", "v1", 0);
    lru.set("k", "v2", 900);
    expect(lru.get("k", 1500)).toBe("v2");
    lru.delete("k");
    expect(lru.get("k", 1500)).toBeUndefined();
    lru.set("x", "y", 0);
    lru.clear();
    expect(lru.size).toBe(0);
  });

  it.each([
    [0, 1000],
    [10, 0],
  ])("refuses a cap of %i or a TTL of %i", (cap, ttl) => {
    expect(() => new TtlLru(cap, ttl)).toThrow(RangeError);
  });
});
