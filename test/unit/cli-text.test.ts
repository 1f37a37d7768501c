import { describe, expect, it } from "vitest";
import { closest, table } from "../../src/cli/text";

describe("closest", () => {
  it.each([
    ["orgg", ["org", "name"], "org"],
    ["lst", ["create", "list"], "list"],
    ["rot", ["revoke", "rotate"], "rotate"],
    ["frobnicate", ["create", "list"], undefined],
    ["chat:raed", ["chat:read", "chat:write"], "chat:read"],
  ])("%s among %j → %s", (name, known, expected) => {
    expect(closest(name, known)).toBe(expected);
  });
});

describe("table", () => {
  it("aligns columns under a header, trims trailing blanks and keeps cells on one line", () => {
    expect(table(["ID", "NAME", "X"], [["a", "two\nlines", ""], ["longer", "n", "y"]])).toBe(
      "ID      NAME       X\n" + "a       two lines\n" + "longer  n          y\n",
    );
  });
});
