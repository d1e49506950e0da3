/** `name[:port]` hosts: the port rules routing and the breaker registry share, and the Host check. */
import { describe, expect, test } from "bun:test";
import { DEFAULT_PORT, hasPort, isValidHost } from "../../src/net/host-port.ts";

describe("hasPort", () => {
  test.each<[string, boolean]>([
    ["example.com", false],
    ["example.com:8080", true],
    ["a:80", true],
    ["[::1]", false],
    ["[::1]:443", true],
    ["[2001:db8::1]", false],
    ["example.com:", false],
  ])("%p → %p", (host, expected) => {
    expect(hasPort(host)).toBe(expected);
  });
});

test("DEFAULT_PORT", () => {
  expect(DEFAULT_PORT).toEqual({ http: "80", https: "443" });
});

describe("isValidHost", () => {
  test.each(["a.example", "a.example:8080", "a.example:65535", "a.example:", "127.0.0.1:1", "[::1]:9090", "[::1]", "", "xn--bcher-kva.example", "a_b.example"])("accepts %p", (host) => {
    expect(isValidHost(host)).toBe(true);
  });
  test.each(["a@b", "a/b", "a?b", "a#b", "a b", "a\\b", "[::1", "a:b:c", "a:99999999", "a:65536", "a:99999", "[::1]:65536"])("refuses %p", (host) => {
    expect(isValidHost(host)).toBe(false);
  });
});
