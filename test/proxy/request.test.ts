import { describe, expect, test } from "bun:test";
import { upstreamFailure, UpstreamTimeout } from "../../src/proxy/errors.ts";
import { stripHopByHop } from "../../src/proxy/hop.ts";
import { checkFraming } from "../../src/proxy/request.ts";
import { wirePath } from "../../src/proxy/upstream.ts";
import { decodePath } from "../../src/util/url-path.ts";
import { makeContext } from "../filters/helpers.ts";
import { createBalancer } from "../../src/routing/loadbalancer.ts";
import { parseOrigin } from "../../src/routing/origin.ts";

test("stripHopByHop removes the fixed list and what Connection names", () => {
  const h = new Headers({ connection: "close, X-Private", "x-private": "1", "keep-alive": "5", te: "trailers", upgrade: "h2c", "proxy-authorization": "x", expect: "100-continue", "x-keep": "1" });
  stripHopByHop(h);
  expect(Object.fromEntries(h)).toEqual({ "x-keep": "1" });
});

describe("upstreamFailure maps fetch errors to statuses and causes", () => {
  const err = (code: string) => Object.assign(new TypeError("x"), { code });
  test.each([
    [err("ECONNREFUSED"), 502, "dial-failed"],
    [err("ENOTFOUND"), 502, "dns-failed"],
    [err("ECONNRESET"), 502, "connection-reset"],
    [err("EPROTO"), 502, "tls-failed"],
    [err("ERR_TLS_CERT_ALTNAME_INVALID"), 502, "tls-failed"],
    [err("UNABLE_TO_VERIFY_LEAF_SIGNATURE"), 502, "tls-failed"],
    [new UpstreamTimeout("backend-timeout"), 504, "backend-timeout"],
    [new UpstreamTimeout("response-header-timeout"), 504, "response-header-timeout"],
  ] as const)("%#", (e, status, reason) => {
    const p = upstreamFailure(e, "h:1");
    expect([p.status, p.reason]).toEqual([status, reason]);
    expect(p.message).toContain("h:1");
  });
});

describe("origins and load balancers", () => {
  test.each([
    ["http://Example.COM", "example.com", "example.com:80"],
    ["https://example.com/ignored/path", "example.com", "example.com:443"],
    ["http://127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1:8080"],
    ["https://[::1]:8443", "[::1]:8443", "[::1]:8443"],
  ])("%s", (address, host, key) => expect(parseOrigin(address)).toMatchObject({ host, key }));

  test.each(["ftp://x", "not a url", "http://"])("refuses %s", (address) => expect(() => parseOrigin(address)).toThrow());

  test("roundRobin cycles through every endpoint", () => {
    const lb = createBalancer("roundRobin", ["http://a", "http://b", "http://c"]);
    const picks = Array.from({ length: 6 }, () => lb.pick("").origin.host);
    expect(new Set(picks.slice(0, 3)).size).toBe(3);
    expect(picks.slice(3)).toEqual(picks.slice(0, 3));
  });

  test("consistentHash keeps a client on one endpoint", () => {
    const lb = createBalancer("consistentHash", ["http://a", "http://b", "http://c"]);
    const first = lb.pick("10.0.0.7");
    for (let i = 0; i < 10; i++) expect(lb.pick("10.0.0.7")).toBe(first);
    const spread = new Set(Array.from({ length: 100 }, (_, i) => lb.pick(`10.0.0.${i}`).origin.host));
    expect(spread.size).toBe(3);
  });

  test("powerOfRandomNChoices prefers the idle endpoint", () => {
    const lb = createBalancer("powerOfRandomNChoices", ["http://a", "http://b"]);
    lb.endpoints[0]!.inflight = 100;
    const picks = Array.from({ length: 50 }, () => lb.pick("").origin.host);
    expect(picks.filter((h) => h === "b").length).toBeGreaterThan(30);
  });

  test("random and the default algorithm", () => {
    expect(createBalancer("random", ["http://a"]).pick("").origin.host).toBe("a");
    expect(createBalancer(undefined, ["http://a"]).pick("").origin.host).toBe("a");
  });

  test("unknown algorithm", () => expect(() => createBalancer("algFoo", ["http://a"])).toThrow(/unsupported algorithm "algFoo"/));
});

describe("the wire path: as the client sent it until a filter changes it", () => {
  const state = (rawPath: string, path?: string) => {
    const decodedPath = decodePath(rawPath);
    return makeContext({ rawPath, decodedPath, path: path ?? decodedPath }).request;
  };
  test.each([
    ["/%61dmin/%2Fx", undefined, "/%61dmin/%2Fx"],
    ["/a%3Fb", undefined, "/a%3Fb"],
    ["/x", "/a/b", "/a/b"],
    ["/x", "a/b", "/a/b"],
    ["/x", "@evil.example/x", "/@evil.example/x"],
    ["/x", "/a?b#c", "/a%3Fb%23c"],
    ["/x", "", "/"],
    ["/x", "/a b/ü", "/a%20b/%C3%BC"],
  ])("%p, changed to %p → %p", (raw, changed, expected) => expect(wirePath(state(raw, changed))).toBe(expected));
});

describe("framing the proxy cannot forward", () => {
  test.each([
    ["GET", { "content-length": "5" }],
    ["HEAD", { "transfer-encoding": "chunked" }],
  ])("a %s with a body is refused", (method, headers) => {
    expect(() => checkFraming(method, new Headers(headers))).toThrow(/cannot be forwarded/);
  });
  test.each([
    ["GET", {}],
    ["GET", { "content-length": "0" }],
    ["POST", { "content-length": "5" }],
  ])("%s %j passes", (method, headers) => expect(() => checkFraming(method, new Headers(headers))).not.toThrow());

  test("identical Content-Length lines become one; differing ones are refused", () => {
    const same = new Headers([["content-length", "5"], ["content-length", "5"]]);
    expect(checkFraming("POST", same)).toBe("5");
    expect(same.get("content-length")).toBe("5");
    expect(() => checkFraming("POST", new Headers([["content-length", "5"], ["content-length", "6"]]))).toThrow(/conflicting/);
  });
});
