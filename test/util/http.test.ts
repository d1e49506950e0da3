/** The shared HTTP syntax helpers: header names and values, and Go's reading of a Cookie header. */
import { describe, expect, test } from "bun:test";
import { findCookie, isHeaderName, isHeaderValue } from "../../src/util/http.ts";

describe("isHeaderName (an RFC 9110 token)", () => {
  test.each<[string, boolean]>([
    ["X-Api-Key", true],
    ["x_custom.1", true],
    ["!#$%&'*+-.^_`|~", true],
    ["", false],
    ["X Bad", false],
    ["X:Bad", false],
    ["X-Bad\r\n", false],
    ['X"q', false],
    ["X(y)", false],
    ["Ünicode", false],
  ])("%p → %p", (name, expected) => {
    expect(isHeaderName(name)).toBe(expected);
  });

  test("agrees with what Headers accepts", () => {
    for (const name of ["X-Api-Key", "X Bad", "X:Bad", "", "Ünicode"]) {
      let accepted = true;
      try {
        new Headers().set(name, "v");
      } catch {
        accepted = false;
      }
      expect(isHeaderName(name), name).toBe(accepted);
    }
  });
});

describe("isHeaderValue (field-value characters: VCHAR, obs-text, SP, HTAB)", () => {
  test.each<[string, boolean]>([
    ["", true],
    ["plain value", true],
    ["a\tb", true],
    ["é (U+00E9)", true],
    ["a\rb", false],
    ["a\nX-Evil: 1", false],
    ["a\0b", false],
    ["a\x01b", false],
    ["a\x1fb", false],
    ["a\x7fb", false],
    ["€", false],
    ["😀", false],
  ])("%p → %p", (value, expected) => {
    expect(isHeaderValue(value)).toBe(expected);
  });

  test("whatever it accepts, Headers takes without throwing", () => {
    for (const value of ["", "plain", "a\tb", "é", "\x80\xff"]) {
      expect(isHeaderValue(value)).toBe(true);
      expect(() => new Headers().set("x", value)).not.toThrow();
    }
  });
});

describe("findCookie (Go's req.Cookie)", () => {
  test.each<[string, string, string | undefined]>([
    ["a=1", "a", "1"],
    ["a=1; b=2", "b", "2"],
    ["a=1;b=2", "b", "2"],
    ["  b=2  ", "b", "2"],
    ['b="2"', "b", "2"],
    ['b="a b"; c=3', "b", "a b"],
    ["\tb=2\t", "b", "2"],
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
