/** Backend origins and the port rules the breaker registry shares. */
import { describe, expect, test } from "bun:test";
import { DEFAULT_PORT, hasPort, originOf, parseOrigin } from "../../src/routing/origin.ts";

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

describe("originOf: the key always names the port", () => {
  test.each<["http" | "https", string, string]>([
    ["http", "Example.COM", "example.com:80"],
    ["https", "example.com", "example.com:443"],
    ["https", "example.com:8443", "example.com:8443"],
    ["https", "[::1]", "[::1]:443"],
    ["http", "[::1]:8080", "[::1]:8080"],
  ])("%s %p → %p", (scheme, host, key) => {
    expect(originOf(scheme, host).key).toBe(key);
  });

  test("parseOrigin", () => {
    expect(parseOrigin("https://api.example.com/ignored").key).toBe(`api.example.com:${DEFAULT_PORT.https}`);
  });
});
