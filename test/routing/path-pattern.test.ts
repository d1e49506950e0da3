import { describe, expect, test } from "bun:test";
import { cleanPatternPath, nameParams, parsePathPattern } from "../../src/routing/path-pattern.ts";

describe("cleanPatternPath (Go httppath.Clean)", () => {
  test.each([
    ["", "/"],
    ["/", "/"],
    ["//", "/"],
    ["/a", "/a"],
    ["/a/", "/a/"],
    ["a/b", "/a/b"],
    ["/a//b", "/a/b"],
    ["/a/./b", "/a/b"],
    ["/a/.", "/a/"],
    ["/a/b/..", "/a"],
    ["/a/../..", "/"],
    ["/a/../b/", "/b/"],
  ])("%p → %p", (input, cleaned) => {
    expect(cleanPatternPath(input)).toBe(cleaned);
  });
});

describe("parsePathPattern", () => {
  test.each<{ pattern: string; subtree?: boolean; positions: string[][]; paramNames: string[]; freeWildcard: boolean }>([
    { pattern: "/", positions: [[""]], paramNames: [], freeWildcard: false },
    { pattern: "/a/b", positions: [["a", "b"]], paramNames: [], freeWildcard: false },
    { pattern: "/a/b/", positions: [["a", "b", ""]], paramNames: [], freeWildcard: false },
    { pattern: "/a/:id/c", positions: [["a", ":", "c"]], paramNames: ["id"], freeWildcard: false },
    { pattern: "/a/:/c", positions: [["a", ":", "c"]], paramNames: [], freeWildcard: false },
    { pattern: "/a/*rest", positions: [["a", "*"]], paramNames: ["rest"], freeWildcard: true },
    { pattern: "/a/*", positions: [["a", "*"]], paramNames: ["*"], freeWildcard: true },
    { pattern: "/**", positions: [["*"]], paramNames: ["*"], freeWildcard: true },
    { pattern: "/:a/:b/*c", positions: [[":", ":", "*"]], paramNames: ["a", "b", "c"], freeWildcard: true },
    {
      pattern: "/a",
      subtree: true,
      positions: [["a"], ["a", ""], ["a", "*"]],
      paramNames: ["*"],
      freeWildcard: true,
    },
    {
      pattern: "/a/",
      subtree: true,
      positions: [["a"], ["a", ""], ["a", "*"]],
      paramNames: ["*"],
      freeWildcard: true,
    },
    {
      pattern: "/a/*rest",
      subtree: true,
      positions: [["a"], ["a", ""], ["a", "*"]],
      paramNames: ["rest"],
      freeWildcard: true,
    },
    {
      pattern: "/a/:id",
      subtree: true,
      positions: [["a", ":"], ["a", ":", ""], ["a", ":", "*"]],
      paramNames: ["id", "*"],
      freeWildcard: true,
    },
    { pattern: "/", subtree: true, positions: [[""], ["*"]], paramNames: ["*"], freeWildcard: true },
  ])("$pattern (subtree: $subtree)", ({ pattern, subtree, ...expected }) => {
    expect(parsePathPattern(pattern, subtree ?? false)).toEqual(expected);
  });

  test.each([
    ["/a/*rest/b", "free wildcard param should be last"],
    ["/*/a", "free wildcard param should be last"],
    ["/a/*rest/", "free wildcard param should be last"],
    ["/a:b", '* or : in middle of path component "a:b"'],
    ["/a/b*", '* or : in middle of path component "b*"'],
  ])("refuses %p", (pattern, message) => {
    expect(() => parsePathPattern(pattern, false)).toThrow(message);
  });
});

describe("nameParams", () => {
  const at = (path: string, ...values: string[]) => {
    const captures: number[] = [];
    let from = 0;
    for (const v of values) {
      const start = path.indexOf(v, from);
      captures.push(start, start + v.length);
      from = start + v.length;
    }
    return captures;
  };

  test.each<{ pattern: string; subtree?: boolean; path: string; values: string[]; expected: Record<string, string> }>([
    { pattern: "/a/:id", path: "/a/7", values: ["7"], expected: { id: "7" } },
    { pattern: "/:a/:b", path: "/x/y", values: ["x", "y"], expected: { a: "x", b: "y" } },
    { pattern: "/:/:b", path: "/x/y", values: ["x", "y"], expected: { b: "y" } },
    { pattern: "/:a/:a", path: "/x/y", values: ["x", "y"], expected: { a: "x" } },
    { pattern: "/a/*rest", path: "/a/b/c", values: ["b/c"], expected: { rest: "/b/c" } },
    { pattern: "/a/*", path: "/a/b", values: ["b"], expected: { "*": "/b" } },
    { pattern: "/a", subtree: true, path: "/a", values: [], expected: { "*": "/" } },
    { pattern: "/a", subtree: true, path: "/a/b/c", values: ["b/c"], expected: { "*": "/b/c" } },
    { pattern: "/a/:id", subtree: true, path: "/a/5", values: ["5"], expected: { id: "5", "*": "/" } },
    { pattern: "/a/:id", subtree: true, path: "/a/5/x", values: ["5", "x"], expected: { id: "5", "*": "/x" } },
    // The path arrives decoded once (proxy/handler.ts); a captured value is not decoded again.
    { pattern: "/a/:id", path: "/a/x%20y", values: ["x%20y"], expected: { id: "x%20y" } },
    { pattern: "/a/b", path: "/a/b", values: [], expected: {} },
  ])("$pattern on $path", ({ pattern, subtree, path, values, expected }) => {
    const parsed = parsePathPattern(pattern, subtree ?? false);
    expect({ ...nameParams(parsed, path, at(path, ...values), values.length) }).toEqual(expected);
  });
});
