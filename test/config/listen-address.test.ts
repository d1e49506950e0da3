/** parseListenAddress: Go's host:port rules (net.SplitHostPort), decimal ports only, IPs that parse. */
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
    { input: "0.0.0.0:80", hostname: "0.0.0.0", port: 80 },
    { input: "255.255.255.255:1", hostname: "255.255.255.255", port: 1 },
    { input: "[::ffff:1.2.3.4]:80", hostname: "::ffff:1.2.3.4", port: 80 },
    { input: "[10.0.0.1]:80", hostname: "10.0.0.1", port: 80 },
    { input: "my-host.example:80", hostname: "my-host.example", port: 80 },
    { input: "host1.example:80", hostname: "host1.example", port: 80 },
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
    { input: "999.1.1.1:8080", reason: 'invalid IP address "999.1.1.1"' },
    { input: "256.0.0.1:80", reason: 'invalid IP address "256.0.0.1"' },
    { input: "1.2.3:80", reason: 'invalid IP address "1.2.3"' },
    { input: "1.2.3.4.5:80", reason: 'invalid IP address "1.2.3.4.5"' },
    { input: "1..2.3:80", reason: 'invalid IP address "1..2.3"' },
    { input: "01.2.3.4:80", reason: 'invalid IP address "01.2.3.4"' },
    { input: "8080:80", reason: 'invalid IP address "8080"' },
    { input: "[1::2::3]:80", reason: 'invalid IP address "1::2::3"' },
    { input: "[gggg::1]:80", reason: 'invalid IP address "gggg::1"' },
    { input: "[::1.2.3]:80", reason: 'invalid IP address "::1.2.3"' },
    { input: "[fe80::1%]:80", reason: 'invalid IP address "fe80::1%"' },
    { input: "[999.1.1.1]:80", reason: 'invalid IP address "999.1.1.1"' },
  ])("$input: $reason", ({ input, reason }) => {
    expect(() => parseListenAddress(input)).toThrow(new Error(reason));
  });
});
