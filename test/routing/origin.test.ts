/** Backend origins: the key always names the port. */
import { describe, expect, test } from "bun:test";
import { DEFAULT_PORT } from "../../src/net/host-port.ts";
import { originOf, parseOrigin } from "../../src/routing/origin.ts";

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
