import { describe, expect, test } from "bun:test";
import type { Arg } from "../../src/eskip/ast.ts";
import { builtinPredicates } from "../../src/predicates/builtin.ts";
import type { Call } from "../routing/routes.ts";
import { idFor, lookup, matcherOf, route } from "../routing/routes.ts";
import { accepts, predicate } from "./create.ts";
import type { RequestInit } from "./request.ts";
import { request } from "./request.ts";

interface Case {
  args: Arg[];
  req: RequestInit;
  matches: boolean;
  note?: string;
}

const re = (regexp: string) => ({ regexp });

/**
 * Predicates that check the request themselves, through `match`. The others (Path, PathSubtree,
 * True, Weight) have no `match` and are tested below through the matcher, where their effect is.
 */
const cases: Record<string, Case[]> = {
  Host: [
    { args: ["^a\\.localhost$"], req: { host: "a.localhost" }, matches: true },
    { args: ["a.localhost"], req: { host: "xa.localhost:9090" }, matches: true, note: "unanchored, port included" },
    { args: ["^a\\.localhost$"], req: { host: "a.localhost:9090" }, matches: false, note: "the port is part of Host" },
    { args: [re("^a\\.localhost(:\\d+)?$")], req: { host: "a.localhost:9090" }, matches: true },
    { args: ["^a\\.localhost$"], req: { host: "A.localhost" }, matches: false, note: "case-sensitive like RE2" },
    { args: ["(?i)^a\\.localhost$"], req: { host: "A.LOCALHOST" }, matches: true, note: "RE2 flag group" },
  ],
  PathRegexp: [
    { args: ["\\.json$"], req: { path: "/a/b.json" }, matches: true },
    { args: [re("^/a/")], req: { path: "/a/b" }, matches: true },
    { args: ["^/a/"], req: { path: "/b/a/" }, matches: false },
    { args: ["a"], req: { path: "/xay" }, matches: true, note: "unanchored" },
  ],
  Method: [
    { args: ["GET"], req: { method: "GET" }, matches: true },
    { args: ["GET"], req: { method: "POST" }, matches: false },
    { args: ["get"], req: { method: "GET" }, matches: false, note: "case-sensitive" },
  ],
  Methods: [
    { args: ["GET", "post"], req: { method: "POST" }, matches: true },
    { args: ["GET", "post"], req: { method: "get" }, matches: true, note: "case-insensitive both ways" },
    { args: ["GET"], req: { method: "PUT" }, matches: false },
  ],
  Header: [
    { args: ["X-Tenant", "acme"], req: { headers: { "x-tenant": "acme" } }, matches: true },
    { args: ["x-tenant", "acme"], req: { headers: { "X-TENANT": "acme" } }, matches: true, note: "key case-insensitive" },
    { args: ["X-Tenant", "acme"], req: { headers: { "x-tenant": "Acme" } }, matches: false, note: "value exact" },
    { args: ["X-Tenant", "acme"], req: { headers: { "x-tenant": "acme2" } }, matches: false },
    { args: ["X-Tenant", "acme"], req: {}, matches: false },
    {
      args: ["X-Tenant", "b"],
      req: { headers: [["x-tenant", "a"], ["x-tenant", "b"]] },
      matches: true,
      note: "any of several lines",
    },
    {
      args: ["Accept", "text/html, text/plain"],
      req: { headers: { accept: "text/html, text/plain" } },
      matches: true,
      note: "a value with commas, whole",
    },
    { args: ["X-Empty", ""], req: { headers: { "x-empty": "" } }, matches: true },
  ],
  HeaderRegexp: [
    { args: ["User-Agent", "curl"], req: { headers: { "user-agent": "curl/8.0" } }, matches: true },
    { args: ["User-Agent", re("^curl/")], req: { headers: { "user-agent": "xcurl/8" } }, matches: false },
    { args: ["User-Agent", "curl"], req: {}, matches: false },
    {
      args: ["X-A", "^b$"],
      req: { headers: [["x-a", "a"], ["x-a", "b"]] },
      matches: true,
      note: "anchored, on one of several lines",
    },
  ],
  Cookie: [
    { args: ["tcial", "^enabled$"], req: { headers: { cookie: "tcial=enabled" } }, matches: true },
    { args: ["tcial", re("^enabled$")], req: { headers: { cookie: "a=1; tcial=enabled; b=2" } }, matches: true },
    { args: ["tcial", "^enabled$"], req: { headers: { cookie: 'tcial="enabled"' } }, matches: true, note: "quotes removed" },
    { args: ["tcial", "^enabled$"], req: { headers: { cookie: "tcial=disabled" } }, matches: false },
    { args: ["tcial", "^enabled$"], req: { headers: { cookie: "xtcial=enabled" } }, matches: false },
    { args: ["tcial", "^enabled$"], req: { headers: { cookie: "tcial=disabled; tcial=enabled" } }, matches: false, note: "first wins" },
    { args: ["tcial", "^enabled$"], req: { headers: [["cookie", "a=1"], ["cookie", "tcial=enabled"]] }, matches: true },
    { args: ["tcial", ""], req: { headers: { cookie: "tcial=" } }, matches: true, note: "present, empty" },
    { args: ["tcial", ""], req: {}, matches: false },
  ],
  QueryParam: [
    { args: ["debug"], req: { query: "debug" }, matches: true },
    { args: ["debug"], req: { query: "debug=" }, matches: true, note: "empty counts" },
    { args: ["debug"], req: { query: "a=1" }, matches: false },
    { args: ["page", "^[0-9]+$"], req: { query: "page=12" }, matches: true },
    { args: ["page", re("^[0-9]+$")], req: { query: "page=x&page=3" }, matches: true, note: "any value" },
    { args: ["page", "^[0-9]+$"], req: { query: "page=x" }, matches: false },
    { args: ["q", "^a b$"], req: { query: "q=a+b" }, matches: true, note: "decoded" },
    { args: ["page", "^[0-9]+$"], req: {}, matches: false },
  ],
  False: [{ args: [], req: {}, matches: false }],
  ClientIP: [
    { args: ["127.0.0.1"], req: { peer: "127.0.0.1" }, matches: true },
    { args: ["10.0.0.0/8"], req: { peer: "10.2.3.4" }, matches: true },
    { args: ["10.0.0.0/8"], req: { peer: "11.2.3.4" }, matches: false },
    { args: ["10.0.0.0/8"], req: { peer: "::ffff:10.2.3.4" }, matches: true, note: "dual-stack peer" },
    { args: ["10.0.0.0/8"], req: { peer: "11.0.0.1", headers: { "x-forwarded-for": "10.0.0.1" } }, matches: false, note: "XFF ignored" },
    { args: ["2001:db8::/32"], req: { peer: "2001:db8:1::5" }, matches: true },
    { args: ["2001:db8::/32"], req: { peer: "2001:db9::5" }, matches: false },
    { args: ["::1"], req: { peer: "::1" }, matches: true },
    { args: ["1.2.3.4", "::1"], req: { peer: "::1" }, matches: true, note: "any of several" },
    { args: ["10.0.0.0/8"], req: { peer: "" }, matches: false },
  ],
  Source: [
    { args: ["1.2.3.4"], req: { peer: "9.9.9.9", headers: { "x-forwarded-for": "1.2.3.4, 5.6.7.8" } }, matches: true },
    { args: ["5.6.7.8"], req: { peer: "9.9.9.9", headers: { "x-forwarded-for": "1.2.3.4, 5.6.7.8" } }, matches: false },
    { args: ["9.9.9.9"], req: { peer: "9.9.9.9" }, matches: true, note: "no XFF: the peer" },
    { args: ["9.9.9.9"], req: { peer: "9.9.9.9", headers: { "x-forwarded-for": "unknown" } }, matches: true, note: "bad XFF: the peer" },
    { args: ["1.2.3.4"], req: { headers: { "x-forwarded-for": "1.2.3.4:5555" } }, matches: true, note: "port stripped" },
    { args: ["2001:db8::1"], req: { headers: { "x-forwarded-for": "[2001:db8::1]:443, 1.1.1.1" } }, matches: true },
    { args: ["9.9.9.9"], req: { peer: "9.9.9.9", headers: { "x-forwarded-for": " , 1.2.3.4" } }, matches: true, note: "empty first entry: the peer" },
  ],
  SourceFromLast: [
    { args: ["5.6.7.8"], req: { peer: "9.9.9.9", headers: { "x-forwarded-for": "1.2.3.4, 5.6.7.8" } }, matches: true },
    { args: ["1.2.3.4"], req: { peer: "9.9.9.9", headers: { "x-forwarded-for": "1.2.3.4, 5.6.7.8" } }, matches: false },
    { args: ["9.9.9.9"], req: { peer: "9.9.9.9", headers: { "x-forwarded-for": "1.2.3.4, junk" } }, matches: true },
    { args: ["5.6.7.8"], req: { peer: "9.9.9.9", headers: { "x-forwarded-for": "1.2.3.4,5.6.7.8:80 " } }, matches: true, note: "port and spaces" },
    { args: ["9.9.9.9"], req: { peer: "9.9.9.9", headers: { "x-forwarded-for": "1.2.3.4, " } }, matches: true, note: "empty last entry: the peer" },
    {
      args: ["5.6.7.8"],
      req: { headers: [["x-forwarded-for", "1.2.3.4"], ["x-forwarded-for", "5.6.7.8"]] },
      matches: true,
      note: "repeated lines are joined by Bun",
    },
  ],
};

const call = (name: string, args: Arg[]) =>
  `${name}(${args.map((a) => (typeof a === "object" ? `/${a.regexp}/` : JSON.stringify(a))).join(", ")})`;

describe.each(Object.entries(cases))("%s", (name, rows) => {
  const titled = rows.map((row) => ({
    ...row,
    title: `${call(name, row.args)} ${row.matches ? "matches" : "rejects"} ${JSON.stringify(row.req)}${row.note ? ` (${row.note})` : ""}`,
  }));
  test.each(titled)("$title", ({ args, req, matches }) => {
    expect(accepts(predicate(name, ...args), request(req))).toBe(matches);
  });
});

/** One route, `id`, in a matcher of its own: whether it matches is whether the matcher finds it. */
const only = (id: string, ...calls: Call[]) => matcherOf(route(id, ...calls));

describe.each<{ name: string; pattern: string; subtree: boolean; rows: [path: string, params: Record<string, string> | undefined][] }>([
  {
    name: "Path",
    pattern: "/a/:id",
    subtree: false,
    rows: [
      ["/a/1", { id: "1" }],
      ["/a", undefined],
      ["/a/", undefined],
      ["/a/1/2", undefined],
      ["/b/1", undefined],
    ],
  },
  {
    name: "PathSubtree",
    pattern: "/api",
    subtree: true,
    rows: [
      ["/api", { "*": "/" }],
      ["/api/", { "*": "/" }],
      ["/api/x/y", { "*": "/x/y" }],
      ["/apix", undefined],
      ["/b/api", undefined],
    ],
  },
])("$name: a pattern for the matcher's tree, no check of its own", ({ name, pattern, subtree, rows }) => {
  test(`${name}(${JSON.stringify(pattern)}) hints { pattern, subtree: ${subtree} } and weighs 0`, () => {
    const p = predicate(name, pattern);
    expect(p.match).toBeUndefined();
    expect(p.path).toEqual({ pattern, subtree });
    expect(p.weight).toBe(0);
  });

  const matcher = only("r", [name, pattern]);
  const titled = rows.map(([path, params]) => ({
    path,
    params,
    title: `${JSON.stringify(path)} ${params ? `matches, params ${JSON.stringify(params)}` : "does not match"}`,
  }));
  test.each(titled)("$title", ({ path, params }) => {
    expect(lookup(matcher, { path })).toEqual(params && { id: "r", params });
  });
});

// Skipper keeps the method as a plain field where "" means "no condition"; so there is no check.
describe('Method("")', () => {
  test("has no match function and weighs 0", () => {
    const p = predicate("Method", "");
    expect(p.match).toBeUndefined();
    expect(p.weight).toBe(0);
  });

  const matcher = only("any", ["Method", ""]);
  test.each(["GET", "DELETE"])("a Method(\"\") route matches %s", (method) => {
    expect(idFor(matcher, { method })).toBe("any");
  });
});

describe("True", () => {
  test.each<[Arg[]]>([[[]], [["ignored", 1]]])("True(%j) has no match function and weighs 1", (args) => {
    const p = predicate("True", ...args);
    expect(p.match).toBeUndefined();
    expect(p.weight).toBe(1);
  });

  const matcher = only("any", ["True"]);
  test.each<RequestInit>([{}, { method: "DELETE", path: "/x/y", host: "other.test" }, { query: "a=1", peer: "::1" }])(
    "a True() route matches %j",
    (req) => {
      expect(idFor(matcher, req)).toBe("any");
    },
  );

  test("its weight of 1 lifts a route above an earlier route without predicates", () => {
    expect(idFor(matcherOf(route("bare"), route("withTrue", ["True"])), {})).toBe("withTrue");
  });
});

describe("Weight", () => {
  test.each<[n: number, weight: number]>([
    [10, 10],
    [2.9, 2],
    [-1.5, -1],
    [0, 0],
  ])("Weight(%p) has no match function and weighs %p (truncated)", (n, weight) => {
    const p = predicate("Weight", n);
    expect(p.match).toBeUndefined();
    expect(p.weight).toBe(weight);
  });

  // Definition order breaks ties, so each winner is defined last: only its weight can lift it.
  test.each<[title: string, routes: Call[][], winner: string]>([
    ["a heavier route beats an earlier, lighter one", [[["Weight", 1]], [["Weight", 2]]], "route1"],
    ["a positive weight beats an earlier route without", [[], [["Weight", 1]]], "route1"],
    ["a negative weight drops a route below a later one without", [[["Weight", -1]], []], "route1"],
    ["equal weights keep definition order", [[["Weight", 3]], [["Weight", 3.7]]], "route0"],
  ])("%s", (_, routes, winner) => {
    const matcher = matcherOf(...routes.map((calls, i) => route(`route${i}`, ...calls)));
    expect(idFor(matcher, {})).toBe(winner);
  });
});

test("every built-in predicate is covered", () => {
  const covered = [...Object.keys(cases), "Path", "PathSubtree", "True", "Weight"];
  expect(covered.sort()).toEqual(builtinPredicates().map((spec) => spec.name).sort());
});
