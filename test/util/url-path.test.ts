/** Request paths: decoded once, encoded again only when changed, cleaned for matching. */
import { describe, expect, test } from "bun:test";
import { cleanPath, decodePath, encodePath, splitTarget } from "../../src/util/url-path.ts";

describe("cleanPath", () => {
  test.each([
    ["/", "/"],
    ["/a/b", "/a/b"],
    ["/a//b", "/a/b"],
    ["/a/./b", "/a/b"],
    ["/a/../b", "/b"],
    ["/../a", "/a"],
    ["/a/b/", "/a/b/"],
    ["/a/b/..", "/a"],
    ["/a/.", "/a"],
    ["//", "/"],
    ["/a/..b", "/a/..b"],
  ])("%s → %s", (input, expected) => expect(cleanPath(input)).toBe(expected));
});

describe("splitTarget", () => {
  test.each([
    ["http://h/p?q=1", "/p", "q=1"],
    ["http://h:8080/", "/", ""],
    ["http://h", "/", ""],
    ["http://h/a/b?", "/a/b", ""],
    ["http://h/a?x=/y", "/a", "x=/y"],
    // HTTP/1.0 without Host: Bun leaves the URL relative
    ["/a/b?q", "/a/b", "q"],
    ["/", "/", ""],
  ])("%s", (url, path, rawQuery) => expect(splitTarget(url)).toEqual({ path, rawQuery }));
});

describe("decodePath and encodePath", () => {
  test.each([
    ["/plain", "/plain"],
    ["/%61dmin", "/admin"],
    ["/a%2Fb%2fc", "/a/b/c"],
    ["/%2e%2e/x", "/../x"],
    ["/%C3%BC", "/ü"],
    ["/%ff", "/\uFFFD"],
  ])("decodePath(%p) = %p", (raw, decoded) => expect(decodePath(raw)).toBe(decoded));
  test.each(["/%", "/%zz", "/a%2"])("decodePath(%p) refuses a broken escape", (raw) => expect(() => decodePath(raw)).toThrow(/invalid escape/));
  test.each([
    ["/a/b-c_d.e~f", "/a/b-c_d.e~f"],
    ["/$&+,:;=@", "/$&+,:;=@"],
    ["/a b", "/a%20b"],
    ["/%", "/%25"],
    ["/?#", "/%3F%23"],
    ["/!*'()", "/%21%2A%27%28%29"],
  ])("encodePath(%p) = %p", (path, encoded) => expect(encodePath(path)).toBe(encoded));
});
