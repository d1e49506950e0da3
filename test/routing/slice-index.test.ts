import { describe, expect, test } from "bun:test";
import { SliceIndex } from "../../src/routing/slice-index.ts";

describe.each([3, 50])("SliceIndex with %p keys", (size) => {
  const exact = new SliceIndex<number>();
  const folded = new SliceIndex<number>(true);
  for (let i = 0; i < size; i++) {
    exact.set(`seg${i}`, i);
    folded.set(`host${i}.example.com`, i);
  }

  test.each<[string, number, number, number | undefined]>([
    ["/seg0/x", 1, 5, 0],
    ["/seg2", 1, 5, 2],
    ["/seg2", 1, 4, undefined],
    ["/seg20", 1, 6, size > 20 ? 20 : undefined],
    ["/SEG1", 1, 5, undefined],
  ])("exact: %p [%p, %p) → %p", (s, start, end, expected) => {
    expect(exact.find(s, start, end)).toBe(expected);
  });

  test.each<[string, number | undefined]>([
    ["host1.example.com:8080", 1],
    ["HOST2.Example.COM", 2],
    ["host1.example.co", undefined],
  ])("folded: %p → %p", (host, expected) => {
    const colon = host.indexOf(":");
    expect(folded.find(host, 0, colon < 0 ? host.length : colon)).toBe(expected);
  });

  test("size, get and values", () => {
    expect([exact.size, exact.get("seg1"), exact.values().length]).toEqual([size, 1, size]);
  });
});

test("refuses a duplicate key", () => {
  const index = new SliceIndex<number>();
  index.set("a", 1);
  expect(() => index.set("a", 2)).toThrow('duplicate key "a"');
});
