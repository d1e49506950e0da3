import { describe, expect, test } from "bun:test";
import { findCookie } from "../../src/predicates/cookie.ts";
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

describe("findCookie", () => {
  test.each<[string, string, string | undefined]>([
    ["a=1", "a", "1"],
    ["a=1; b=2", "b", "2"],
    ["a=1;b=2", "b", "2"],
    ["  b=2  ", "b", "2"],
    ['b="2"', "b", "2"],
    ['b="', "b", '"'],
    ["ab=1", "b", undefined],
    ["b =1", "b", undefined],
    ["b=1; b=2", "b", "1"],
    ["b=", "b", ""],
    ["b", "b", undefined],
    ["a=b=c", "a", "b=c"],
    ["", "a", undefined],
  ])("%p[%p] → %p", (header, name, value) => {
    expect(findCookie(header, name)).toBe(value);
  });
});
