/** The forward port's request-head parser: forms, limits, and what a strict server refuses. */
import { describe, expect, test } from "bun:test";
import { parseAuthority } from "../../src/net/host-port.ts";
import { MAX_HEAD_BYTES, parseHead } from "../../src/tunnel/head.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const head = (s: string) => {
  const r = parseHead(bytes(s));
  if (r.kind !== "head") throw new Error(`expected a head, got ${JSON.stringify(r)}`);
  return r;
};

describe("request-target forms (RFC 9112 §3.2)", () => {
  test.each([
    ["CONNECT api.example.com:443 HTTP/1.1", "authority", "api.example.com:443"],
    ["CONNECT [::1]:8443 HTTP/1.1", "authority", "[::1]:8443"],
    ["GET http://a.test/x?y=1 HTTP/1.1", "absolute", "http://a.test/x?y=1"],
    ["GET https://a.test:8443/ HTTP/1.0", "absolute", "https://a.test:8443/"],
    ["GET /x?y HTTP/1.1", "origin", "/x?y"],
    ["OPTIONS * HTTP/1.1", "asterisk", "*"],
  ])("%s", (line, form, target) => {
    const r = head(`${line}\r\nHost: a.test\r\n\r\n`);
    expect(r.head).toMatchObject({ form, target });
  });
});

test("the head's length, headers in order with names as sent, and bytes after it left alone", () => {
  const text = "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX-Camel: v \r\nContent-Length: 2\r\n\r\nhi";
  const r = head(text);
  expect(r.length).toBe(text.length - 2);
  expect(r.head).toEqual({
    method: "POST",
    target: "http://a.test/",
    form: "absolute",
    version: "HTTP/1.1",
    headers: [
      ["Host", "a.test"],
      ["X-Camel", "v"],
      ["Content-Length", "2"],
    ],
  });
});

test("empty lines before the request line are skipped (RFC 9112 §2.2)", () => {
  const r = head("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
  expect(r.head.method).toBe("GET");
  // they count as part of what the head took
  expect(r.length).toBe("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n".length);
});

describe("incomplete until the empty line, and 431 past the limit", () => {
  const full = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  test.each(Array.from({ length: full.length - 1 }, (_, n) => n + 1))("the first %i bytes are incomplete", (n) => {
    expect(parseHead(bytes(full.slice(0, n)))).toEqual({ kind: "incomplete" });
  });
  test("bytes no request starts with are refused from the first one, not when the deadline passes", () => {
    for (const first of [0x16, 0x80, 0x00, 0x20, 0x0a]) {
      expect(parseHead(Uint8Array.of(first, 0x03, 0x01))).toEqual({ kind: "invalid", reason: "not an HTTP request" });
    }
    expect(parseHead(bytes("\r"))).toEqual({ kind: "incomplete" });
    expect(parseHead(bytes("\r\nG"))).toEqual({ kind: "incomplete" });
  });
  test("a head that does not end within the limit is too large", () => {
    const big = bytes(`GET / HTTP/1.1\r\nX-Big: ${"a".repeat(MAX_HEAD_BYTES)}\r\n\r\n`);
    expect(parseHead(big)).toEqual({ kind: "too-large" });
    expect(parseHead(big.subarray(0, MAX_HEAD_BYTES - 1))).toEqual({ kind: "incomplete" });
  });
  test("a head that ends exactly at the limit is fine", () => {
    const line = "GET / HTTP/1.1\r\nX: ";
    const text = line + "a".repeat(100 - line.length - 4) + "\r\n\r\n";
    expect(parseHead(bytes(text), 100).kind).toBe("head");
    expect(parseHead(bytes(text), 99)).toEqual({ kind: "too-large" });
  });
});

describe("refused as a strict server refuses them", () => {
  test.each([
    ["GET / HTTP/1.1\nHost: x\n\n", /without CRLF/],
    ["GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", /without CRLF/],
    ["GET  / HTTP/1.1\r\n\r\n", /method target version/],
    ["GET / HTTP/2.0\r\n\r\n", /protocol version/],
    ["G(T / HTTP/1.1\r\n\r\n", /method is not a token/],
    ["GET a.test/x HTTP/1.1\r\n\r\n", /not a path, a URL or host:port/],
    ["GET * HTTP/1.1\r\n\r\n", /only OPTIONS/],
    ["CONNECT http://a.test/ HTTP/1.1\r\n\r\n", /CONNECT takes host:port/],
    ["GET / HTTP/1.1\r\nHost : x\r\n\r\n", /not a token/],
    ["GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", /obs-fold/],
    ["GET / HTTP/1.1\r\n: x\r\n\r\n", /no name/],
    ["GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", /control characters/],
  ])("%j", (text, reason) => {
    const r = parseHead(bytes(text));
    expect(r.kind).toBe("invalid");
    expect((r as { reason: string }).reason).toMatch(reason);
  });
});

describe("parseAuthority", () => {
  test.each([
    ["api.example.com:443", { host: "api.example.com", port: 443 }],
    ["API.Example.COM:8443", { host: "api.example.com", port: 8443 }],
    ["127.0.0.1:1", { host: "127.0.0.1", port: 1 }],
    ["[::1]:65535", { host: "::1", port: 65535 }],
    ["[::ffff:127.0.0.1]:443", { host: "::ffff:127.0.0.1", port: 443 }],
  ])("%s", (text, expected) => expect(parseAuthority(text)).toEqual(expected));

  test.each([
    ["api.example.com", /port is missing/],
    ["api.example.com:0", /not 1–65535/],
    ["api.example.com:65536", /not 1–65535/],
    ["api.example.com:+443", /not 1–65535/],
    ["user@api.example.com:443", /userinfo/],
    ["::1:443", /must be in brackets/],
    ["[::1]443", /\[address\]:port/],
    ["[a b]:443", /not an IPv6 address/],
    [":443", /not a host name/],
    ["a/b:443", /not a host name/],
  ])("%s is refused", (text, reason) => expect(parseAuthority(text)).toMatch(reason));
});
