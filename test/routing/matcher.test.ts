import { describe, expect, test } from "bun:test";
import { createMatcher } from "../../src/routing/matcher.ts";
import type { RequestInit } from "../predicates/request.ts";
import { request } from "../predicates/request.ts";
import { idFor, lookup, matcherOf, route } from "./routes.ts";

type Row = [RequestInit, string];

describe("path tree: static > :param > catch-all", () => {
  const m = matcherOf(
    route("catchAll", ["Path", "/a/*rest"]),
    route("param", ["Path", "/a/:id"]),
    route("static", ["Path", "/a/b"]),
    route("root", ["Path", "/"]),
    route("deepParam", ["Path", "/a/:id/c"]),
  );
  test.each<Row>([
    [{ path: "/a/b" }, "static"],
    [{ path: "/a/c" }, "param"],
    [{ path: "/a/b/c" }, "deepParam"],
    [{ path: "/a/b/d" }, "catchAll"],
    [{ path: "/a/x/y/z" }, "catchAll"],
    [{ path: "/" }, "root"],
    [{ path: "" }, "root"],
    [{ path: "/a" }, ""],
    [{ path: "/a/" }, ""], // a param never matches an empty segment, a catch-all never an empty rest
    [{ path: "/b" }, ""],
  ])("%j → %j", (req, id) => {
    expect(idFor(m, req)).toBe(id);
  });
});

describe("backtracking to less specific positions", () => {
  const m = matcherOf(
    route("staticPost", ["Path", "/a/b"], ["Method", "POST"]),
    route("param", ["Path", "/a/:id"]),
    route("deepStaticNever", ["Path", "/x/b/c"], ["False"]),
    route("deepParam", ["Path", "/x/:p/c"]),
    route("deepStaticPut", ["Path", "/y/b/c"], ["Method", "PUT"]),
    route("catchAll", ["Path", "/y/*rest"]),
    route("siblingParam", ["Path", "/z/:p/d"]),
    route("siblingStatic", ["Path", "/z/b/c"]),
  );
  test.each<Row>([
    [{ method: "POST", path: "/a/b" }, "staticPost"],
    [{ method: "GET", path: "/a/b" }, "param"],
    [{ path: "/x/b/c" }, "deepParam"],
    [{ method: "PUT", path: "/y/b/c" }, "deepStaticPut"],
    [{ method: "GET", path: "/y/b/c" }, "catchAll"],
    [{ path: "/z/b/d" }, "siblingParam"],
    [{ path: "/z/b/c" }, "siblingStatic"],
  ])("%j → %j", (req, id) => {
    expect(idFor(m, req)).toBe(id);
  });
});

describe("the tree beats weight; root leaves only when the tree gave nothing", () => {
  const m = matcherOf(
    route("heavyRoot", ["Method", "GET"], ["Weight", 100]),
    route("path", ["Path", "/a"]),
    route("heavyCatchAll", ["Path", "/c/*rest"], ["Weight", 100]),
    route("static", ["Path", "/c/d"]),
    route("lightRoot", ["True"]),
  );
  test.each<Row>([
    [{ path: "/a" }, "path"],
    [{ path: "/c/d" }, "static"],
    [{ path: "/c/e" }, "heavyCatchAll"],
    [{ path: "/b" }, "heavyRoot"],
    [{ method: "POST", path: "/b" }, "lightRoot"],
    [{ method: "POST", path: "/a/" }, "lightRoot"],
  ])("%j → %j", (req, id) => {
    expect(idFor(m, req)).toBe(id);
  });

  test("PathSubtree(\"/\") shadows every root leaf", () => {
    const shadowed = matcherOf(route("host", ["Host", "^a$"], ["Weight", 50]), route("all", ["PathSubtree", "/"]));
    expect([idFor(shadowed, { host: "a", path: "/x" }), idFor(shadowed, { host: "a", path: "/" })]).toEqual(["all", "all"]);
  });
});

describe("weight order within one position", () => {
  const m = matcherOf(
    route("plain", ["Path", "/a"]),
    route("method", ["Path", "/a"], ["Method", "GET"]),
    route("methodHeader", ["Path", "/a"], ["Method", "GET"], ["Header", "X-A", "1"]),
    route("weighted", ["Path", "/a"], ["Weight", 5], ["QueryParam", "w"]),
    route("sameWeightLater", ["Path", "/a"], ["Methods", "GET"]),
    route("negative", ["Path", "/a"], ["Weight", -1], ["QueryParam", "n"]),
  );
  test.each<Row>([
    [{ method: "GET", path: "/a", headers: { "x-a": "1" } }, "methodHeader"],
    [{ method: "GET", path: "/a" }, "method"], // before sameWeightLater: equal weights keep definition order
    [{ method: "POST", path: "/a" }, "plain"],
    [{ method: "GET", path: "/a", query: "w", headers: { "x-a": "1" } }, "weighted"],
    [{ method: "POST", path: "/a", query: "n" }, "plain"],
  ])("%j → %j", (req, id) => {
    expect(idFor(m, req)).toBe(id);
  });

  test("HeaderRegexp counts distinct header names, not predicates", () => {
    const counted = matcherOf(
      route("true", ["Path", "/w"], ["True"]),
      route("twoOnOneName", ["Path", "/w"], ["HeaderRegexp", "X", "a"], ["HeaderRegexp", "x", "b"]),
      route("twoNames", ["Path", "/v"], ["True"]),
      route("twoOnTwoNames", ["Path", "/v"], ["HeaderRegexp", "X", "a"], ["HeaderRegexp", "Y", "b"]),
    );
    const headers = { x: "ab", y: "b" };
    expect([idFor(counted, { path: "/w", headers }), idFor(counted, { path: "/v", headers })]).toEqual([
      "true",
      "twoOnTwoNames",
    ]);
  });

  test("root leaves are ordered by weight too", () => {
    const roots = matcherOf(route("host", ["Host", "a"]), route("hostMethod", ["Host", "a"], ["Method", "GET"]));
    expect([idFor(roots, { host: "a", method: "GET" }), idFor(roots, { host: "a", method: "PUT" })]).toEqual([
      "hostMethod",
      "host",
    ]);
  });
});

describe("PathSubtree", () => {
  const m = matcherOf(
    route("api", ["PathSubtree", "/api"]),
    route("user", ["Path", "/api/users/:id"]),
    route("rest", ["PathSubtree", "/files/*path"]),
    route("exact", ["Path", "/both"], ["Method", "GET"]),
    route("tree", ["PathSubtree", "/both"]),
  );
  test.each<[RequestInit, { id: string; params: Record<string, string> } | undefined]>([
    [{ path: "/api" }, { id: "api", params: { "*": "/" } }],
    [{ path: "/api/" }, { id: "api", params: { "*": "/" } }],
    [{ path: "/api/x/y" }, { id: "api", params: { "*": "/x/y" } }],
    [{ path: "/api/users/7" }, { id: "user", params: { id: "7" } }],
    [{ path: "/api/users" }, { id: "api", params: { "*": "/users" } }],
    [{ path: "/apix" }, undefined],
    [{ path: "/files" }, { id: "rest", params: { path: "/" } }],
    [{ path: "/files/a/b.txt" }, { id: "rest", params: { path: "/a/b.txt" } }],
    [{ path: "/both", method: "GET" }, { id: "exact", params: {} }],
    [{ path: "/both", method: "PUT" }, { id: "tree", params: { "*": "/" } }],
  ])("%j → %j", (req, expected) => {
    expect(lookup(m, req)).toEqual(expected);
  });
});

describe("params", () => {
  const m = matcherOf(
    route("one", ["Path", "/users/:id"]),
    route("two", ["Path", "/users/:id/posts/:post"]),
    route("rest", ["Path", "/static/*file"]),
    route("star", ["Path", "/any/**"]),
    route("mixed", ["PathSubtree", "/t/:tenant"]),
    route("slash", ["Path", "/p/:id/"]),
  );
  test.each<[string, { id: string; params: Record<string, string> } | undefined]>([
    ["/users/42", { id: "one", params: { id: "42" } }],
    ["/users/a b", { id: "one", params: { id: "a b" } }],
    ["/users/1/posts/2", { id: "two", params: { id: "1", post: "2" } }],
    ["/static/css/site.css", { id: "rest", params: { file: "/css/site.css" } }],
    ["/any/x", { id: "star", params: { "*": "/x" } }],
    ["/t/acme", { id: "mixed", params: { tenant: "acme", "*": "/" } }],
    ["/t/acme/a/b", { id: "mixed", params: { tenant: "acme", "*": "/a/b" } }],
    ["/p/1/", { id: "slash", params: { id: "1" } }],
    ["/p/1", undefined], // a trailing slash is part of the path
  ])("%j → %j", (path, expected) => {
    expect(lookup(m, { path })).toEqual(expected);
  });

  test("a route without params shares one frozen result", () => {
    const plain = matcherOf(route("a", ["Path", "/a"]));
    const first = plain.match(request({ path: "/a" }));
    expect(first).toBe(plain.match(request({ path: "/a" })));
    expect(Object.isFrozen(first?.params)).toBe(true);
  });
});

describe("other checks run with the tree", () => {
  const m = matcherOf(
    route("json", ["Path", "/d/:f"], ["PathRegexp", "\\.json$"]),
    route("any", ["Path", "/d/:f"]),
    route("empty", ["Path", ""], ["Method", "GET"]),
  );
  test.each<Row>([
    [{ path: "/d/a.json" }, "json"],
    [{ path: "/d/a.xml" }, "any"],
    [{ path: "/zzz" }, "empty"], // Path("") is no path condition, as in Skipper
    [{ path: "/a/" }, "empty"],
  ])("%j → %j", (req, id) => {
    expect(idFor(m, req)).toBe(id);
  });
});

describe("rejected routes", () => {
  const { matcher, rejected } = createMatcher([
    route("pathAndSubtree", ["Path", "/a"], ["PathSubtree", "/a"]),
    route("twoPaths", ["Path", "/a"], ["Path", "/b"]),
    route("wildcardInMiddle", ["Path", "/a/*x/b"]),
    route("colonInSegment", ["Path", "/a:b"]),
    route("fine", ["PathSubtree", "/"]),
  ]);

  test("are reported with Skipper's wording", () => {
    expect(rejected.map((r) => [r.value, r.error.message])).toEqual([
      ["pathAndSubtree", "multiple tree predicates"],
      ["twoPaths", "multiple tree predicates"],
      ["wildcardInMiddle", "free wildcard param should be last"],
      ["colonInSegment", '* or : in middle of path component "a:b"'],
    ]);
  });

  test("do not stop the others", () => {
    expect(matcher.match(request({ path: "/a" }))?.value).toBe("fine");
  });
});

test("an empty matcher matches nothing", () => {
  expect(createMatcher<string>([]).matcher.match(request())).toBeUndefined();
});
