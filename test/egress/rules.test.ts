/** Entries of -egress-allow / -egress-deny and their files, good and bad. */
import { describe, expect, test } from "bun:test";
import { parseEgressFile, parseEgressList, parseEgressRule, type EgressRule } from "../../src/egress/rules.ts";

describe("parseEgressRule", () => {
  test.each<[string, EgressRule]>([
    ["api.github.com", { kind: "host", entry: "api.github.com", host: "api.github.com", port: undefined }],
    ["API.GitHub.com.", { kind: "host", entry: "API.GitHub.com.", host: "api.github.com", port: undefined }],
    [" localhost ", { kind: "host", entry: "localhost", host: "localhost", port: undefined }],
    ["_dmarc.example.com", { kind: "host", entry: "_dmarc.example.com", host: "_dmarc.example.com", port: undefined }],
    ["xn--bcher-kva.example", { kind: "host", entry: "xn--bcher-kva.example", host: "xn--bcher-kva.example", port: undefined }],
    ["api.github.com:443", { kind: "host", entry: "api.github.com:443", host: "api.github.com", port: 443 }],
    ["*.example.com", { kind: "subdomains", entry: "*.example.com", domain: "example.com", port: undefined }],
    ["*.Example.COM.:8443", { kind: "subdomains", entry: "*.Example.COM.:8443", domain: "example.com", port: 8443 }],
    ["10.1.2.3", { kind: "network", entry: "10.1.2.3", cidr: "10.1.2.3/32", port: undefined }],
    ["10.1.2.3:5432", { kind: "network", entry: "10.1.2.3:5432", cidr: "10.1.2.3/32", port: 5432 }],
    // every numeric spelling is the address the URL parser reads
    ["2130706433", { kind: "network", entry: "2130706433", cidr: "127.0.0.1/32", port: undefined }],
    ["0177.0.0.1", { kind: "network", entry: "0177.0.0.1", cidr: "127.0.0.1/32", port: undefined }],
    ["0x7f.1:80", { kind: "network", entry: "0x7f.1:80", cidr: "127.0.0.1/32", port: 80 }],
    ["127.1.", { kind: "network", entry: "127.1.", cidr: "127.0.0.1/32", port: undefined }],
    ["0.0.0.0", { kind: "network", entry: "0.0.0.0", cidr: "0.0.0.0/32", port: undefined }],
    ["10.0.0.0/8", { kind: "network", entry: "10.0.0.0/8", cidr: "10.0.0.0/8", port: undefined }],
    ["10.0.0.0/8:443", { kind: "network", entry: "10.0.0.0/8:443", cidr: "10.0.0.0/8", port: 443 }],
    ["0xa000000/8", { kind: "network", entry: "0xa000000/8", cidr: "10.0.0.0/8", port: undefined }],
    ["2001:DB8::/32", { kind: "network", entry: "2001:DB8::/32", cidr: "2001:db8::/32", port: undefined }],
    ["::1", { kind: "network", entry: "::1", cidr: "::1/128", port: undefined }],
    ["[::1]", { kind: "network", entry: "[::1]", cidr: "::1/128", port: undefined }],
    ["[2001:db8::1]:443", { kind: "network", entry: "[2001:db8::1]:443", cidr: "2001:db8::1/128", port: 443 }],
    ["::ffff:127.0.0.1", { kind: "network", entry: "::ffff:127.0.0.1", cidr: "::ffff:7f00:1/128", port: undefined }],
  ])("%p", (entry, rule) => {
    expect(parseEgressRule(entry)).toEqual({ rule });
  });

  test.each<[string, string]>([
    ["", "empty entry"],
    ["   ", "empty entry"],
    ["*", '"*": a wildcard is only allowed as a leading `*.`'],
    ["*.", '"*.": `*.` must be followed by a domain name'],
    ["*example.com", '"*example.com": a wildcard is only allowed as a leading `*.`'],
    ["api.*.example.com", '"api.*.example.com": a wildcard is only allowed as a leading `*.`'],
    ["*.*.example.com", '"*.*.example.com": `*.` must be followed by a domain name'],
    ["*.10.0.0.1", '"*.10.0.0.1": `*.` must be followed by a domain name'],
    ["256.1.1.1", '"256.1.1.1": not a host name or an IP address'],
    ["0x100000000", '"0x100000000": not a host name or an IP address'],
    ["1.2.3.4.5", '"1.2.3.4.5": not a host name or an IP address'],
    ["a.1", '"a.1": not a host name or an IP address'],
    ["bücher.example", '"bücher.example": not a host name or an IP address'],
    ["127%2e0%2e0%2e1", '"127%2e0%2e0%2e1": not a host name or an IP address'],
    ["a..b", '"a..b": not a host name'],
    ["host:", '"host:": "" is not a port (1–65535)'],
    ["host:0", '"host:0": "0" is not a port (1–65535)'],
    ["host:65536", '"host:65536": "65536" is not a port (1–65535)'],
    ["host:https", '"host:https": "https" is not a port (1–65535)'],
    ["host:-1", '"host:-1": "-1" is not a port (1–65535)'],
    ["[::1", '"[::1": no closing `]`'],
    ["[::1]443", '"[::1]443": after `]` only `:port` may follow'],
    ["[example.com]:443", '"[example.com]:443": not a host name or an IP address'],
    ["10.0.0.0/33", '"10.0.0.0/33": prefix length 33 is out of range'],
    ["10.0.0.0/08", '"10.0.0.0/08": "08" is not a prefix length'],
    ["10.0.0.0/", '"10.0.0.0/": "" is not a prefix length'],
    ["example.com/8", '"example.com/8": a CIDR needs an IP address before the `/`'],
    ["http://example.com", '"http://example.com": "//example.com" is not a port (1–65535)'],
  ])("refuses %p", (entry, message) => {
    const result = parseEgressRule(entry);
    expect("error" in result && result.error).toStartWith(message);
  });
});

describe("parseEgressList", () => {
  test("a comma list, spaces and empty items ignored, each bad entry reported", () => {
    const { rules, errors } = parseEgressList(" api.github.com, *.example.com,,10.0.0.0/8:443 ,bad..host,host:0");
    expect(rules.map((rule) => rule.entry)).toEqual(["api.github.com", "*.example.com", "10.0.0.0/8:443"]);
    expect(errors).toEqual(['"bad..host": not a host name (letters, digits, `-`, `_` and dots; write IDNs as punycode)', '"host:0": "0" is not a port (1–65535)']);
  });

  test("an empty flag is no rules", () => {
    expect(parseEgressList("")).toEqual({ rules: [], errors: [] });
  });
});

describe("parseEgressFile", () => {
  const file = ["# egress allow list", "", "api.github.com", "  *.example.com   # the team's", "256.0.0.1", "\t", "10.0.0.0/8", "host:99999 # too high", "[::1]:443"].join("\r\n");

  test("one entry per line; comments, blank lines and CRLF skipped; bad lines named file:line and why", () => {
    const { rules, errors } = parseEgressFile(file, "/etc/sallyport/allow");
    expect(rules.map((rule) => rule.entry)).toEqual(["api.github.com", "*.example.com", "10.0.0.0/8", "[::1]:443"]);
    expect(errors).toEqual([
      '/etc/sallyport/allow:5: "256.0.0.1": not a host name or an IP address (a number out of range, or a character a URL host cannot hold)',
      '/etc/sallyport/allow:8: "host:99999": "99999" is not a port (1–65535)',
    ]);
  });

  test("an empty file is no rules", () => {
    expect(parseEgressFile("\n# nothing yet\n", "deny")).toEqual({ rules: [], errors: [] });
  });
});
