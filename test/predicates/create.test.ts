import { describe, expect, test } from "bun:test";
import type { Arg } from "../../src/eskip/ast.ts";
import { ArgError } from "../../src/util/args.ts";
import type { Predicate } from "../../src/predicates/types.ts";
import { predicate } from "./create.ts";

const re = (regexp: string) => ({ regexp });

describe("invalid arguments", () => {
  test.each<{ name: string; args: Arg[]; message: string }>([
    { name: "Host", args: [], message: "Host: expects 1 argument, got 0" },
    { name: "Host", args: ["a", "b"], message: "Host: expects 1 argument, got 2" },
    { name: "Host", args: [1], message: "Host: argument 1 (host) must be a regexp or a string, got number" },
    { name: "Host", args: ["(a"], message: "Host: argument 1 (host) is not a valid regular expression: " },
    { name: "Path", args: [], message: "Path: expects 1 argument, got 0" },
    { name: "Path", args: [re("/a")], message: "Path: argument 1 (path) must be a string, got regexp" },
    { name: "PathSubtree", args: [3], message: "PathSubtree: argument 1 (path) must be a string, got number" },
    { name: "PathRegexp", args: ["[a"], message: "PathRegexp: argument 1 (path) is not a valid regular expression" },
    { name: "PathRegexp", args: [], message: "PathRegexp: expects 1 argument, got 0" },
    { name: "Method", args: [], message: "Method: expects 1 argument, got 0" },
    { name: "Method", args: [re("GET")], message: "Method: argument 1 (method) must be a string, got regexp" },
    { name: "Methods", args: [], message: "Methods: expects at least 1 argument, got 0" },
    { name: "Methods", args: ["GET", 1], message: "Methods: argument 2 (method) must be a string, got number" },
    {
      name: "Methods",
      args: ["GET", "FOO"],
      message: 'Methods: argument 2 (method) "FOO" is not allowed, use one of GET, HEAD, POST, PUT, PATCH, DELETE, CONNECT, OPTIONS, TRACE',
    },
    { name: "Header", args: ["X"], message: "Header: expects 2 arguments, got 1" },
    { name: "Header", args: ["X", 3], message: "Header: argument 2 (value) must be a string, got number" },
    { name: "Header", args: ["X", re("a")], message: "Header: argument 2 (value) must be a string, got regexp" },
    { name: "Header", args: ["bad key", "v"], message: 'Header: argument 1 (name) must be a header name, got "bad key"' },
    { name: "Header", args: ["", "v"], message: 'Header: argument 1 (name) must be a header name, got ""' },
    { name: "HeaderRegexp", args: ["X"], message: "HeaderRegexp: expects 2 arguments, got 1" },
    { name: "HeaderRegexp", args: [1, "a"], message: "HeaderRegexp: argument 1 (name) must be a string, got number" },
    { name: "HeaderRegexp", args: ["X", "("], message: "HeaderRegexp: argument 2 (value) is not a valid regular expression" },
    { name: "Cookie", args: ["a"], message: "Cookie: expects 2 arguments, got 1" },
    { name: "Cookie", args: ["a", 1], message: "Cookie: argument 2 (value) must be a regexp or a string, got number" },
    { name: "Cookie", args: ["", "x"], message: 'Cookie: argument 1 (name) must be a cookie name, got ""' },
    { name: "Cookie", args: ["a", "(("], message: "Cookie: argument 2 (value) is not a valid regular expression" },
    { name: "QueryParam", args: [], message: "QueryParam: expects 1 or 2 arguments, got 0" },
    { name: "QueryParam", args: ["a", "b", "c"], message: "QueryParam: expects 1 or 2 arguments, got 3" },
    { name: "QueryParam", args: [re("a")], message: "QueryParam: argument 1 (name) must be a string, got regexp" },
    { name: "QueryParam", args: ["a", "["], message: "QueryParam: argument 2 (value) is not a valid regular expression" },
    { name: "Weight", args: [], message: "Weight: expects 1 argument, got 0" },
    { name: "Weight", args: ["10"], message: "Weight: argument 1 (weight) must be a number, got string" },
    { name: "ClientIP", args: [], message: "ClientIP: expects at least 1 argument, got 0" },
    { name: "ClientIP", args: [1], message: "ClientIP: argument 1 (network) must be a string, got number" },
    {
      name: "ClientIP",
      args: ["10.0.0.0/8", "nope"],
      message: 'ClientIP: argument 2 (network) must be an IP address or CIDR network: "nope" is not an IP address',
    },
    {
      name: "Source",
      args: ["10.0.0.0/33"],
      message: "Source: argument 1 (network) must be an IP address or CIDR network: prefix length 33 is out of range",
    },
    {
      name: "Source",
      args: ["10.0.0.0/x"],
      message: 'Source: argument 1 (network) must be an IP address or CIDR network: "x" is not a prefix length',
    },
    {
      name: "SourceFromLast",
      args: ["0.0.0.0"],
      message: 'SourceFromLast: argument 1 (network) must be an IP address or CIDR network: "0.0.0.0" is the unspecified address',
    },
    {
      name: "SourceFromLast",
      args: ["01.2.3.4"],
      message: 'SourceFromLast: argument 1 (network) must be an IP address or CIDR network: "01.2.3.4" is not an IP address',
    },
  ])("$message", ({ name, args, message }) => {
    let error: unknown;
    try {
      predicate(name, ...args);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ArgError);
    expect((error as Error).message).toStartWith(message);
  });

  test.each([
    ["True", ["anything", 1, re("x")]],
    ["False", ["anything"]],
  ] as [string, Arg[]][])("%s ignores its arguments", (name, args) => {
    expect(() => predicate(name, ...args)).not.toThrow();
  });
});

describe("weights and hints", () => {
  test.each<{ call: string; name: string; args: Arg[]; expected: Omit<Predicate, "match"> }>([
    { call: "Host", name: "Host", args: ["a"], expected: { weight: 1 } },
    { call: "Path", name: "Path", args: ["/a/:id"], expected: { weight: 0, path: { pattern: "/a/:id", subtree: false } } },
    { call: "PathSubtree", name: "PathSubtree", args: ["/a"], expected: { weight: 0, path: { pattern: "/a", subtree: true } } },
    { call: "PathRegexp", name: "PathRegexp", args: ["a"], expected: { weight: 1 } },
    { call: "Method", name: "Method", args: ["GET"], expected: { weight: 1 } },
    { call: 'Method("")', name: "Method", args: [""], expected: { weight: 0 } },
    { call: "Methods", name: "Methods", args: ["GET", "PUT"], expected: { weight: 1 } },
    { call: "Header", name: "Header", args: ["X-A", "b"], expected: { weight: 1, weightGroup: "Header x-a" } },
    { call: "HeaderRegexp", name: "HeaderRegexp", args: ["X-A", "b"], expected: { weight: 1, weightGroup: "HeaderRegexp x-a" } },
    { call: "Cookie", name: "Cookie", args: ["a", "b"], expected: { weight: 1 } },
    { call: "QueryParam", name: "QueryParam", args: ["a"], expected: { weight: 1 } },
    { call: "True", name: "True", args: [], expected: { weight: 1 } },
    { call: "False", name: "False", args: [], expected: { weight: 1 } },
    { call: "Weight(10)", name: "Weight", args: [10], expected: { weight: 10 } },
    { call: "Weight(2.9)", name: "Weight", args: [2.9], expected: { weight: 2 } },
    { call: "Weight(-3)", name: "Weight", args: [-3], expected: { weight: -3 } },
    { call: "ClientIP", name: "ClientIP", args: ["::1"], expected: { weight: 1 } },
    { call: "Source", name: "Source", args: ["::1"], expected: { weight: 1 } },
    { call: "SourceFromLast", name: "SourceFromLast", args: ["::1"], expected: { weight: 1 } },
  ])("$call", ({ name, args, expected }) => {
    const { match: _match, ...rest } = predicate(name, ...args);
    expect(rest).toEqual(expected);
  });

  test.each<{ host: Arg; exactHost: string | undefined }>([
    { host: "^a\\.localhost$", exactHost: "a.localhost" },
    { host: re("^a\\.example\\.com(:\\d+)?$"), exactHost: "a.example.com" },
    { host: "^API\\.Example\\.com(?::\\d+)?$", exactHost: "api.example.com" },
    { host: "^a-b\\.example\\.com(:[0-9]+)?$", exactHost: "a-b.example.com" },
    { host: "^a[.]localhost(:[0-9]+)?$", exactHost: "a.localhost" },
    { host: "^a[.x]localhost$", exactHost: undefined },
    { host: "^localhost$", exactHost: "localhost" },
    { host: "a\\.localhost", exactHost: undefined }, // unanchored
    { host: "^a\\.localhost", exactHost: undefined },
    { host: "^a.localhost$", exactHost: undefined }, // "." is any character
    { host: "^(a|b)\\.localhost$", exactHost: undefined },
    { host: "^.*\\.example\\.com$", exactHost: undefined },
    { host: "^a\\.example\\.com:8080$", exactHost: undefined },
    { host: "(?i)^a\\.localhost$", exactHost: "a.localhost" }, // the flag only widens case, which the index ignores
  ].map((row) => ({ ...row, title: JSON.stringify(row.host) })))("Host($title) exactHost is $exactHost", ({ host, exactHost }) => {
    expect(predicate("Host", host).exactHost).toBe(exactHost);
  });
});
