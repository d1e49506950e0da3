/** parseListenAddress: Go's host:port rules (net.SplitHostPort), decimal ports only. */
import { describe, expect, test } from "bun:test";
import { parseListenAddress } from "../../src/config/index.ts";

describe("parseListenAddress", () => {
  test.each([
    { input: ":9090", hostname: "0.0.0.0", port: 9090 },
    { input: ":0", hostname: "0.0.0.0", port: 0 },
    { input: "127.0.0.1:0", hostname: "127.0.0.1", port: 0 },
    { input: "127.0.0.1:65535", hostname: "127.0.0.1", port: 65535 },
    { input: "localhost:8080", hostname: "localhost", port: 8080 },
    { input: "[::1]:9090", hostname: "::1", port: 9090 },
    { input: "[::]:9090", hostname: "::", port: 9090 },
    { input: "[fe80::1%eth0]:80", hostname: "fe80::1%eth0", port: 80 },
  ])("$input", ({ input, hostname, port }) => {
    expect(parseListenAddress(input)).toEqual({ hostname, port });
  });

  test.each([
    { input: "", reason: "missing port in address" },
    { input: "localhost", reason: "missing port in address" },
    { input: "::1:9090", reason: "too many colons in address" },
    { input: "[::1]", reason: "missing port in address" },
    { input: "[::1]9090", reason: "missing port in address" },
    { input: "[::1]:x:9090", reason: "too many colons in address" },
    { input: "[::1:9090", reason: "missing ']' in address" },
    { input: "a[b:80", reason: "unexpected '[' in address" },
    { input: "a]b:80", reason: "unexpected ']' in address" },
    { input: "localhost:", reason: 'invalid port ""' },
    { input: ":http", reason: 'invalid port "http"' },
    { input: ":-1", reason: 'invalid port "-1"' },
    { input: ":65536", reason: 'invalid port "65536"' },
    { input: ":123456", reason: 'invalid port "123456"' },
  ])("$input: $reason", ({ input, reason }) => {
    expect(() => parseListenAddress(input)).toThrow(new Error(reason));
  });
});
