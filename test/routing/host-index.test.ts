import { describe, expect, test } from "bun:test";
import type { Predicate } from "../../src/predicates/types.ts";
import type { MatcherEntry } from "../../src/routing/matcher.ts";
import { createMatcher } from "../../src/routing/matcher.ts";
import { predicate } from "../predicates/create.ts";
import type { RequestInit } from "../predicates/request.ts";
import { request } from "../predicates/request.ts";
import { idFor, lookup, matcherOf, route } from "./routes.ts";

type Row = [RequestInit, string];

describe("routes indexed by host and host-less routes keep Skipper's order", () => {
  // exactHost routes: aPath, aParam, aRoot, bRoot. Shared: anyGet, subtree, loose.
  const m = matcherOf(
    route("anyGet", ["Path", "/x"], ["Method", "GET"]),
    route("aPath", ["Host", "^a\\.com$"], ["Path", "/x"]),
    route("aParam", ["Host", "^a\\.com(:\\d+)?$"], ["Path", "/:p"]),
    route("aRoot", ["Host", "^a\\.com$"], ["Method", "DELETE"]),
    route("bRoot", ["Host", "^b\\.com$"]),
    route("loose", ["Host", "c\\.com"], ["Path", "/y"]),
    route("subtree", ["PathSubtree", "/s"]),
  );
  test.each<Row>([
    [{ host: "a.com", path: "/x", method: "GET" }, "anyGet"], // same position and weight: definition order
    [{ host: "a.com", path: "/x", method: "POST" }, "aPath"],
    [{ host: "a.com", path: "/y" }, "aParam"], // the indexed :param beats the shared root leaves
    [{ host: "a.com:8080", path: "/x", method: "POST" }, "aParam"], // index found a.com, but ^a\.com$ refuses the port
    [{ host: "A.COM", path: "/x", method: "POST" }, ""], // index ignores case, the expressions do not
    [{ host: "a.com", path: "/s/1" }, "subtree"], // static /s beats the indexed /:p
    [{ host: "a.com", path: "/x/y", method: "DELETE" }, "aRoot"], // nothing in the tree: root leaves
    [{ host: "b.com", path: "/x", method: "GET" }, "anyGet"],
    [{ host: "b.com", path: "/nothing" }, "bRoot"],
    [{ host: "b.com:443", path: "/nothing" }, ""],
    [{ host: "xc.com", path: "/y" }, "loose"],
    [{ host: "d.com", path: "/y" }, ""],
    [{ host: "[::1]:80", path: "/s" }, "subtree"],
  ])("%j → %j", (req, id) => {
    expect(idFor(m, req)).toBe(id);
  });

  test("a shared route defined first still comes first at equal weight", () => {
    const sharedFirst = matcherOf(route("shared", ["Path", "/x"], ["True"]), route("own", ["Host", "^a$"], ["Path", "/x"]));
    const ownFirst = matcherOf(route("own", ["Host", "^a$"], ["Path", "/x"]), route("shared", ["Path", "/x"], ["True"]));
    expect([idFor(sharedFirst, { host: "a", path: "/x" }), idFor(ownFirst, { host: "a", path: "/x" })]).toEqual([
      "shared",
      "own",
    ]);
  });

  test("weight decides across the host's routes and the shared ones", () => {
    const weighted = matcherOf(
      route("own", ["Host", "^a$"], ["Path", "/x"], ["Method", "GET"]),
      route("sharedHeavy", ["Path", "/x"], ["Weight", 3]),
      route("ownHeavier", ["Host", "^a$"], ["Path", "/x"], ["Weight", 3], ["QueryParam", "q"]),
    );
    expect([
      idFor(weighted, { host: "a", path: "/x" }),
      idFor(weighted, { host: "a", path: "/x", query: "q" }),
    ]).toEqual(["sharedHeavy", "ownHeavier"]);
  });

  test("params come from whichever tree matched", () => {
    const params = matcherOf(
      route("own", ["Host", "^a$"], ["Path", "/u/:id"]),
      route("shared", ["Path", "/u/:name/x"]),
    );
    expect([lookup(params, { host: "a", path: "/u/1" }), lookup(params, { host: "a", path: "/u/2/x" })]).toEqual([
      { id: "own", params: { id: "1" } },
      { id: "shared", params: { name: "2" } },
    ]);
  });

  test("several routes on one host share its index entry", () => {
    const many = matcherOf(
      route("get", ["Host", "^api\\.example\\.com$"], ["Path", "/v1/*rest"], ["Method", "GET"]),
      route("post", ["Host", "^API\\.example\\.com$"], ["Path", "/v1/*rest"], ["Method", "POST"]),
    );
    expect([
      idFor(many, { host: "api.example.com", path: "/v1/a", method: "GET" }),
      idFor(many, { host: "API.example.com", path: "/v1/a", method: "POST" }),
    ]).toEqual(["get", "post"]);
  });
});

describe("10,000 host routes", () => {
  // Counts predicate evaluations, to show a lookup does not scan the routes.
  let evaluations = 0;
  const counted = (p: Predicate): Predicate =>
    p.match ? { ...p, match: (req) => (evaluations++, p.match!(req)) } : p;

  const entries: MatcherEntry<string>[] = [];
  for (let n = 0; n < 10_000; n++) {
    entries.push({
      value: `h${n}`,
      predicates: [predicate("Host", `^h${n}\\.example\\.com$`), predicate("Path", "/x")].map(counted),
    });
  }
  entries.push(route("fallback", ["PathSubtree", "/other"]));
  const { matcher, rejected } = createMatcher(entries);

  test.each<Row>([
    [{ host: "h0.example.com", path: "/x" }, "h0"],
    [{ host: "h4242.example.com", path: "/x" }, "h4242"],
    [{ host: "h9999.example.com", path: "/x" }, "h9999"],
    [{ host: "H9999.EXAMPLE.COM", path: "/x" }, ""],
    [{ host: "h9999.example.com:80", path: "/x" }, ""],
    [{ host: "h10000.example.com", path: "/x" }, ""],
    [{ host: "h1.example.com", path: "/y" }, ""],
    [{ host: "h1.example.com", path: "/other/z" }, "fallback"],
  ])("%j → %j", (req, id) => {
    expect(matcher.match(request(req))?.value ?? "").toBe(id);
  });

  test("a lookup evaluates only its own host's predicates", () => {
    expect(rejected).toEqual([]);
    evaluations = 0;
    for (let n = 0; n < 10_000; n += 97) matcher.match(request({ host: `h${n}.example.com`, path: "/x" }));
    matcher.match(request({ host: "unknown.example.com", path: "/x" }));
    expect(evaluations).toBe(Math.ceil(10_000 / 97));
  });
});
