import { describe, expect, test } from "bun:test";
import type { Arg } from "../../src/eskip/ast.ts";
import { builtinPredicates } from "../../src/predicates/builtin.ts";
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

const cases: Record<string, Case[]> = {
  Host: [
    { args: ["^a\\.localhost$"], req: { host: "a.localhost" }, matches: true },
    { args: ["a.localhost"], req: { host: "xa.localhost:9090" }, matches: true, note: "unanchored, port included" },
    { args: ["^a\\.localhost$"], req: { host: "a.localhost:9090" }, matches: false, note: "the port is part of Host" },
    { args: [re("^a\\.localhost(:\\d+)?$")], req: { host: "a.localhost:9090" }, matches: true },
    { args: ["^a\\.localhost$"], req: { host: "A.localhost" }, matches: false, note: "case-sensitive like RE2" },
    { args: ["(?i)^a\\.localhost$"], req: { host: "A.LOCALHOST" }, matches: true, note: "RE2 flag group" },
  ],
  Path: [{ args: ["/a"], req: { path: "/b" }, matches: true, note: "the matcher's tree decides" }],
  PathSubtree: [{ args: ["/a"], req: { path: "/b" }, matches: true, note: "the matcher's tree decides" }],
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
    { args: [""], req: { method: "DELETE" }, matches: true, note: 'Method("") is no condition, as in Skipper' },
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
  True: [
    { args: [], req: {}, matches: true },
    { args: ["ignored", 1], req: {}, matches: true },
  ],
  False: [{ args: [], req: {}, matches: false }],
  Weight: [{ args: [10], req: {}, matches: true }],
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

test("every built-in predicate has match cases", () => {
  expect(Object.keys(cases).sort()).toEqual(builtinPredicates().map((spec) => spec.name).sort());
});
