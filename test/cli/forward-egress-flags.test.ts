/** The forward proxy and egress flags through the whole CLI: argv → config, or the flag's error and exit 2. */
import { describe, expect, test } from "bun:test";
import type { Config } from "../../src/config/index.ts";
import { DEFAULT_CONFIG } from "../support/config.ts";
import { cli } from "./helpers.ts";

describe("argv → config", () => {
  test("not given: the defaults (pinned literally in DEFAULT_CONFIG)", async () => {
    const r = await cli([]);
    expect(r.config).toEqual(DEFAULT_CONFIG);
  });

  test.each<{ name: string; argv: string[]; config: Partial<Config> }>([
    { name: "-forward-address", argv: ["-forward-address", "127.0.0.1:3128"], config: { forwardAddress: "127.0.0.1:3128" } },
    { name: "-forward-address=[::1]:3128", argv: ["-forward-address=[::1]:3128"], config: { forwardAddress: "[::1]:3128" } },
    { name: "-connect-ports, as numbers", argv: ["-connect-ports", "443, 8443,22"], config: { connectPorts: [443, 8443, 22] } },
    { name: "-connect-ports= allows none", argv: ["-connect-ports="], config: { connectPorts: [] } },
    { name: "-connect-ports repeated replaces", argv: ["-connect-ports", "1,2", "-connect-ports", "3"], config: { connectPorts: [3] } },
    { name: "-forward-head-timeout 1.5s", argv: ["-forward-head-timeout", "1.5s"], config: { forwardHeadTimeout: 1500 } },
    { name: "-forward-auth-file", argv: ["-forward-auth-file=/etc/sallyport/htpasswd"], config: { forwardAuthFile: "/etc/sallyport/htpasswd" } },
    {
      name: "-egress-allow, parsed into rules",
      argv: ["-egress-allow", "api.github.com, *.example.com,10.0.0.0/8,[::1]:8443"],
      config: {
        egressAllow: [
          { kind: "host", entry: "api.github.com", host: "api.github.com" },
          { kind: "subdomains", entry: "*.example.com", domain: "example.com" },
          { kind: "network", entry: "10.0.0.0/8", cidr: "10.0.0.0/8" },
          { kind: "network", entry: "[::1]:8443", cidr: "::1/128", port: 8443 },
        ],
      },
    },
    { name: "-egress-deny, parsed into rules", argv: ["--egress-deny=metadata.internal:80"], config: { egressDeny: [{ kind: "host", entry: "metadata.internal:80", host: "metadata.internal", port: 80 }] } },
    { name: "-egress-allow repeated replaces", argv: ["-egress-allow", "a.example", "-egress-allow", "b.example"], config: { egressAllow: [{ kind: "host", entry: "b.example", host: "b.example" }] } },
    { name: "-egress-allow-file", argv: ["-egress-allow-file", "allow.txt"], config: { egressAllowFile: "allow.txt" } },
    { name: "-egress-deny-file", argv: ["-egress-deny-file=/etc/deny.txt"], config: { egressDenyFile: "/etc/deny.txt" } },
    { name: "-egress-allow-private", argv: ["-egress-allow-private"], config: { egressAllowPrivate: true } },
    { name: "-dns-servers, normalised", argv: ["-dns-servers", "8.8.8.8,1.1.1.1:5353,[2001:db8::53]:5300,::1"], config: { dnsServers: ["8.8.8.8:53", "1.1.1.1:5353", "[2001:db8::53]:5300", "[::1]:53"] } },
    { name: "-dns-lookup-family V4", argv: ["-dns-lookup-family", "V4"], config: { dnsLookupFamily: "v4" } },
    { name: "-dns-lookup-family Envoy's V6_ONLY", argv: ["-dns-lookup-family=V6_ONLY"], config: { dnsLookupFamily: "v6" } },
    { name: "-dns-lookup-family Envoy's AUTO", argv: ["-dns-lookup-family=AUTO"], config: { dnsLookupFamily: "any" } },
    { name: "-dns-min-ttl and -dns-max-ttl", argv: ["-dns-min-ttl", "30s", "-dns-max-ttl", "1h"], config: { dnsMinTtl: 30_000, dnsMaxTtl: 3_600_000 } },
    { name: "-dns-min-ttl 0", argv: ["-dns-min-ttl=0"], config: { dnsMinTtl: 0 } },
    { name: "-dns-timeout 250ms", argv: ["-dns-timeout", "250ms"], config: { dnsTimeout: 250 } },
  ])("$name", async ({ argv, config }) => {
    const r = await cli(argv);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.config).toEqual({ ...DEFAULT_CONFIG, ...config });
  });
});

// A bad value is not a syntax error: one line per problem, no usage screen (as for -address).
describe("bad values: the flag and why, exit 2", () => {
  test.each<{ name: string; argv: string[]; message: string }>([
    { name: "forward address without port", argv: ["-forward-address", "localhost"], message: 'invalid value "localhost" for flag -forward-address: missing port in address' },
    { name: "forward address with a bad port", argv: ["-forward-address=:99999"], message: 'invalid value ":99999" for flag -forward-address: invalid port "99999"' },
    { name: "CONNECT port out of range", argv: ["-connect-ports", "443,65536"], message: 'invalid value "443,65536" for flag -connect-ports: entry "65536": not a port (1–65535)' },
    { name: "CONNECT port by name", argv: ["-connect-ports", "https"], message: 'invalid value "https" for flag -connect-ports: entry "https": not a port (1–65535)' },
    { name: "zero head timeout", argv: ["-forward-head-timeout", "0s"], message: 'invalid value "0s" for flag -forward-head-timeout: must be more than 0' },
    { name: "bad CIDR", argv: ["-egress-allow", "10.0.0.0/33"], message: 'invalid value "10.0.0.0/33" for flag -egress-allow: entry "10.0.0.0/33": prefix length 33 is out of range' },
    { name: "bad deny entry", argv: ["-egress-deny", "*"], message: 'invalid value "*" for flag -egress-deny: entry "*": a wildcard is only allowed as a leading `*.`' },
    { name: "a name as DNS server", argv: ["-dns-servers", "8.8.8.8,dns.google"], message: 'invalid value "8.8.8.8,dns.google" for flag -dns-servers: entry "dns.google": a DNS server must be an IP address, not a name' },
    { name: "DNS server with a bad port", argv: ["-dns-servers=8.8.8.8:0"], message: 'invalid value "8.8.8.8:0" for flag -dns-servers: entry "8.8.8.8:0": "0" is not a port (1–65535)' },
    {
      name: "bad lookup family",
      argv: ["-dns-lookup-family", "ipv4"],
      message: "invalid value \"ipv4\" for flag -dns-lookup-family: not a lookup family, use any, v4 or v6 (or Envoy's AUTO, V4_ONLY, V6_ONLY)",
    },
    { name: "min TTL over max TTL", argv: ["-dns-max-ttl", "1m", "-dns-min-ttl", "2m"], message: 'invalid value "2m" for flag -dns-min-ttl: must not be more than the maximum DNS TTL (-dns-max-ttl)' },
    // The issue is the min's, so a max under the default min names the min's default.
    { name: "max TTL under the default min TTL", argv: ["-dns-max-ttl", "500ms"], message: 'invalid value "1s" for flag -dns-min-ttl: must not be more than the maximum DNS TTL (-dns-max-ttl)' },
    { name: "zero DNS timeout", argv: ["-dns-timeout=0"], message: 'invalid value "0" for flag -dns-timeout: must be more than 0' },
    {
      name: "every bad entry at once",
      argv: ["-connect-ports", "0,x", "-dns-servers", "localhost"],
      message: [
        'invalid value "0,x" for flag -connect-ports: entry "0": not a port (1–65535)',
        'invalid value "0,x" for flag -connect-ports: entry "x": not a port (1–65535)',
        'invalid value "localhost" for flag -dns-servers: entry "localhost": a DNS server must be an IP address, not a name',
      ].join("\n"),
    },
  ])("$name", async ({ argv, message }) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.config).toBeUndefined();
    expect(r.stderr).toBe(`${message}\n`);
  });

  test.each<{ argv: string[]; message: string }>([
    { argv: ["-dns-timeout", "5"], message: 'invalid value "5" for flag -dns-timeout: parse error' },
    { argv: ["-forward-head-timeout=10x"], message: 'invalid value "10x" for flag -forward-head-timeout: parse error' },
    { argv: ["-egress-allow-private=yes"], message: 'invalid boolean value "yes" for -egress-allow-private: parse error' },
    { argv: ["-forward-address"], message: "flag needs an argument: -forward-address" },
  ])("syntax, Go's error and usage: $argv", async ({ argv, message }) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.config).toBeUndefined();
    expect(r.stderr).toStartWith(`${message}\nUsage: sallyport [flags]\n`);
  });
});

describe("usage", () => {
  test.each<{ name: string; lines: string }>([
    { name: "forward-address", lines: "  -forward-address string\n    \tTCP address of the forward proxy port (http_proxy and https_proxy/CONNECT clients); empty disables it\n" },
    { name: "connect-ports", lines: '  -connect-ports string\n    \tcomma-separated ports CONNECT may reach; any other is refused with 403 (default "443")\n' },
    { name: "forward-head-timeout", lines: "  -forward-head-timeout duration\n    \thow long a client of the forward port has to send a complete request head (then 408) (default 10s)\n" },
    { name: "forward-auth-file", lines: "  -forward-auth-file file\n    \thtpasswd file (bcrypt or argon2 hashes) the forward port checks Proxy-Authorization against (else 407); re-read on change\n" },
    { name: "egress-allow", lines: "  -egress-allow string\n    \tcomma-separated destinations clients may choose: host, *.domain, host:port, IP or CIDR; with an allow list anything else is denied\n" },
    { name: "egress-deny", lines: "  -egress-deny string\n    \tcomma-separated destinations clients may not choose, as -egress-allow; deny wins over allow\n" },
    { name: "egress-allow-file", lines: "  -egress-allow-file file\n    \tfile of -egress-allow entries, one a line, # comments; re-read on change\n" },
    { name: "egress-deny-file", lines: "  -egress-deny-file file\n    \tfile of -egress-deny entries, one a line, # comments; re-read on change\n" },
    { name: "egress-allow-private", lines: "  -egress-allow-private\n    \tlet client-chosen destinations reach private and other special-purpose addresses (loopback, RFC 1918, link-local, ...)\n" },
    { name: "dns-servers", lines: "  -dns-servers string\n    \tcomma-separated DNS servers (ip, ip:port, [v6]:port) for client-chosen names; empty uses the system's\n" },
    { name: "dns-lookup-family", lines: "  -dns-lookup-family string\n    \trecords a client-chosen name resolves to: any, v4 or v6 (Envoy's AUTO, V4_ONLY, V6_ONLY too) (default \"any\")\n" },
    { name: "dns-min-ttl", lines: "  -dns-min-ttl duration\n    \tshortest time a DNS answer is cached, whatever its TTL says (default 1s)\n" },
    { name: "dns-max-ttl", lines: "  -dns-max-ttl duration\n    \tlongest time a DNS answer is cached, whatever its TTL says (default 5m0s)\n" },
    { name: "dns-timeout", lines: "  -dns-timeout duration\n    \thow long a DNS lookup may take (then 504 dns-timeout) (default 5s)\n" },
  ])("-$name", async ({ lines }) => {
    expect((await cli(["-help"])).stdout).toContain(lines);
  });
});
