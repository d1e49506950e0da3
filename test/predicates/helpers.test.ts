import { describe, expect, test } from "bun:test";
import { hasListElement, matchesListElement } from "../../src/predicates/header.ts";

describe("hasListElement (Bun joins repeated header lines with \", \")", () => {
  test.each<[string, string, boolean]>([
    ["a", "a", true],
    ["a, b", "a", true],
    ["a, b", "b", true],
    ["a, b", "a, b", true],
    ["ab, b", "a", false],
    ["ba, c", "a", false],
    ["a,b", "b", false],
    ["x, , y", "", true],
    ["x, y", "", false],
  ])("%p has %p: %p", (joined, value, expected) => {
    expect(hasListElement(joined, value)).toBe(expected);
  });
});

describe("matchesListElement", () => {
  test.each<[string, string, boolean]>([
    ["a, b", "^b$", true],
    ["a, b", "^a, b$", true],
    ["a, b", "^c$", false],
  ])("%p ~ %p: %p", (joined, re, expected) => {
    expect(matchesListElement(joined, new RegExp(re))).toBe(expected);
  });
});
