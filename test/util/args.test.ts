import { describe, expect, test } from "bun:test";
import type { Arg } from "../../src/eskip/ast.ts";
import { ArgError, compileRegExp, parseDuration, readArgs } from "../../src/util/args.ts";

const errorOf = (fn: () => unknown): ArgError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ArgError) return e;
    throw e;
  }
  throw new Error("expected an ArgError");
};

describe("readArgs", () => {
  test.each<{ name: string; args: Arg[]; read: (a: ReturnType<typeof readArgs>) => unknown; expected: unknown }>([
    { name: "string", args: ["x"], read: (a) => a.string(0, "name"), expected: "x" },
    { name: "number", args: [1.5], read: (a) => a.number(0, "n"), expected: 1.5 },
    { name: "integer", args: [3], read: (a) => a.integer(0, "n"), expected: 3 },
    { name: "regexp from a string", args: ["^a"], read: (a) => a.regexp(0, "re").source, expected: "^a" },
    { name: "regexp from a literal", args: [{ regexp: "b$" }], read: (a) => a.regexp(0, "re").source, expected: "b$" },
    { name: "duration string", args: ["1m30s"], read: (a) => a.duration(0, "d"), expected: 90_000 },
    { name: "duration 300ms", args: ["300ms"], read: (a) => a.duration(0, "d"), expected: 300 },
    { name: "duration as ms number", args: [250], read: (a) => a.duration(0, "d"), expected: 250 },
    { name: "optional present", args: ["a", 2], read: (a) => a.optional(1, "n", "number"), expected: 2 },
    { name: "optional absent", args: ["a"], read: (a) => a.optional(1, "n", "number"), expected: undefined },
    { name: "rest", args: ["a", "b", "c"], read: (a) => a.rest(1, "s", "string"), expected: ["b", "c"] },
    { name: "rest of nothing", args: ["a"], read: (a) => a.rest(1, "s", "string"), expected: [] },
    { name: "length", args: ["a", 1], read: (a) => a.length, expected: 2 },
    { name: "has", args: ["a"], read: (a) => [a.has(0), a.has(1)], expected: [true, false] },
  ])("$name", ({ args, read, expected }) => {
    expect(read(readArgs("spec", args))).toEqual(expected);
  });

  test.each<{ name: string; args: Arg[]; read: (a: ReturnType<typeof readArgs>) => unknown; message: string }>([
    {
      name: "string given a number",
      args: ["X", 3],
      read: (a) => a.string(1, "value"),
      message: "Header: argument 2 (value) must be a string, got number",
    },
    {
      name: "string given a regexp",
      args: [{ regexp: "x" }],
      read: (a) => a.string(0, "name"),
      message: "Header: argument 1 (name) must be a string, got regexp",
    },
    {
      name: "number given a string",
      args: ["1"],
      read: (a) => a.number(0, "n"),
      message: "Header: argument 1 (n) must be a number, got string",
    },
    {
      name: "integer given a fraction",
      args: [1.5],
      read: (a) => a.integer(0, "n"),
      message: "Header: argument 1 (n) must be an integer, got 1.5",
    },
    {
      name: "missing",
      args: [],
      read: (a) => a.string(0, "name"),
      message: "Header: argument 1 (name) is missing",
    },
    {
      name: "regexp given a number",
      args: [1],
      read: (a) => a.regexp(0, "re"),
      message: "Header: argument 1 (re) must be a regexp or a string, got number",
    },
    {
      name: "invalid regexp",
      args: ["("],
      read: (a) => a.regexp(0, "re"),
      message: "Header: argument 1 (re) is not a valid regular expression",
    },
    {
      name: "invalid duration",
      args: ["10"],
      read: (a) => a.duration(0, "timeout"),
      message: 'Header: argument 1 (timeout) must be a duration like "10s", "1m30s" or "300ms", got "10"',
    },
    {
      name: "duration given a regexp",
      args: [{ regexp: "1s" }],
      read: (a) => a.duration(0, "timeout"),
      message: "Header: argument 1 (timeout) must be a duration, got regexp",
    },
    {
      name: "rest with a wrong element",
      args: ["a", 2],
      read: (a) => a.rest(0, "method", "string"),
      message: "Header: argument 2 (method) must be a string, got number",
    },
    { name: "exact count", args: ["a"], read: (a) => a.count(2), message: "Header: expects 2 arguments, got 1" },
    { name: "count of one", args: [], read: (a) => a.count(1), message: "Header: expects 1 argument, got 0" },
    { name: "count of none", args: [1], read: (a) => a.count(0), message: "Header: expects no arguments, got 1" },
    {
      name: "count at least",
      args: [],
      read: (a) => a.count(1, Infinity),
      message: "Header: expects at least 1 argument, got 0",
    },
    { name: "count range", args: [1, 2, 3], read: (a) => a.count(1, 2), message: "Header: expects 1 or 2 arguments, got 3" },
    { name: "count wide range", args: [], read: (a) => a.count(1, 3), message: "Header: expects 1 to 3 arguments, got 0" },
    { name: "count at most", args: [1, 2], read: (a) => a.count(0, 1), message: "Header: expects at most 1 argument, got 2" },
    {
      name: "custom error",
      args: [700],
      read: (a) => {
        throw a.error(0, "status", "must be from 100 to 599, got 700");
      },
      message: "Header: argument 1 (status) must be from 100 to 599, got 700",
    },
  ])("$name fails", ({ args, read, message }) => {
    const err = errorOf(() => read(readArgs("Header", args)));
    expect(err.message).toStartWith(message);
    expect(err.spec).toBe("Header");
  });

  test("the error carries the argument's position and name", () => {
    const err = errorOf(() => readArgs("Header", ["X", 3]).string(1, "value"));
    expect({ name: err.name, spec: err.spec, index: err.index, argName: err.argName, reason: err.reason }).toEqual({
      name: "ArgError",
      spec: "Header",
      index: 1,
      argName: "value",
      reason: "must be a string, got number",
    });
    expect(err).toBeInstanceOf(Error);
  });

  test("count returns the reader for chaining", () => {
    expect(readArgs("x", ["a"]).count(1).string(0, "a")).toBe("a");
  });
});

describe("compileRegExp", () => {
  test.each([
    { source: "^a\\.b$", input: "a.b", matches: true },
    { source: "b", input: "abc", matches: true }, // unanchored, like RE2
    { source: "(?i)^abc$", input: "ABC", matches: true },
    { source: "^abc$", input: "ABC", matches: false },
    { source: "(?P<x>a)b", input: "ab", matches: true },
  ])("$source on $input", ({ source, input, matches }) => {
    expect(compileRegExp(source).test(input)).toBe(matches);
  });

  test("no global state between tests", () => {
    const re = compileRegExp("a");
    expect([re.test("a"), re.test("a"), re.flags]).toEqual([true, true, ""]);
  });
});

describe("parseDuration (re-exported)", () => {
  test.each([
    ["10s", 10_000],
    ["1m30s", 90_000],
    ["300ms", 300],
    ["1.5h", 5_400_000],
    ["0", 0],
    ["-2s", -2000],
  ])("%s", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  test.each(["", "10", "1x", "s", "1.s.s"])("%p is invalid", (input) => {
    expect(() => parseDuration(input)).toThrow();
  });
});
