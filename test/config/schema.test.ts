/** validateConfig: one row per rule, each a change to an otherwise valid config. */
import { describe, expect, test } from "bun:test";
import { validateConfig, type Config, type ConfigIssue } from "../../src/config/index.ts";
import { DEFAULT_CONFIG } from "../support/config.ts";

// Every default is valid: rows below change one field of it. VALID is the input the CLI hands over
// for the defaults (a list flag's entries are strings), DEFAULT_CONFIG what it validates to.
const VALID: Record<string, unknown> = { ...DEFAULT_CONFIG, connectPorts: ["443"] };

describe("validateConfig accepts", () => {
  test.each<{ name: string; change: Record<string, unknown>; output?: Partial<Config> }>([
    { name: "the defaults", change: {} },
    { name: "an ephemeral port", change: { address: "127.0.0.1:0" } },
    { name: "an IPv6 address", change: { address: "[::1]:8080" } },
    { name: "no support listener", change: { supportListener: "" } },
    { name: "status 200", change: { defaultHttpStatus: 200 } },
    { name: "status 599", change: { defaultHttpStatus: 599 } },
    { name: "zero timeouts (no limit)", change: { timeoutBackend: 0, readTimeoutServer: 0 } },
    { name: "sub-millisecond durations", change: { idleTimeoutServer: 0.5 } },
    { name: "no loopbacks", change: { maxLoopbacks: 0 } },
    { name: "route files", change: { routesFile: ["a.eskip", "b.eskip"] } },
    { name: "credentials paths", change: { credentialsPaths: ["/tmp/secrets"] } },
    { name: "credentials interval <= 0 is Skipper's 10m", change: { credentialsUpdateInterval: -1 }, output: { credentialsUpdateInterval: 600_000 } },
    { name: "log level upper case, normalised", change: { applicationLogLevel: "INFO" }, output: { applicationLogLevel: "info" } },
    { name: "log level mixed case", change: { applicationLogLevel: "Trace" }, output: { applicationLogLevel: "trace" } },
    { name: "logrus' warning alias", change: { applicationLogLevel: "Warning" }, output: { applicationLogLevel: "warn" } },
    ...["panic", "fatal", "error", "warn", "info", "debug", "trace"].map((level) => ({
      name: `log level ${level}`,
      change: { applicationLogLevel: level.toUpperCase() },
      output: { applicationLogLevel: level } as Partial<Config>,
    })),
    { name: "a forward port", change: { forwardAddress: "127.0.0.1:3128" } },
    { name: "a forward port on IPv6", change: { forwardAddress: "[::1]:3128" } },
    { name: "CONNECT ports, as numbers", change: { connectPorts: ["443", "8443", "1", "65535"] }, output: { connectPorts: [443, 8443, 1, 65535] } },
    { name: "no CONNECT ports", change: { connectPorts: [] } },
    { name: "a sub-millisecond head timeout", change: { forwardHeadTimeout: 0.5 } },
    { name: "an auth file", change: { forwardAuthFile: "/etc/sallyport/htpasswd" } },
    {
      name: "allow entries of every kind, parsed into rules",
      change: { egressAllow: ["api.github.com", "*.Example.com", "api.example.org:8443", "10.0.0.0/8", "0177.1", "[::1]:8443"] },
      output: {
        egressAllow: [
          { kind: "host", entry: "api.github.com", host: "api.github.com" },
          { kind: "subdomains", entry: "*.Example.com", domain: "example.com" },
          { kind: "host", entry: "api.example.org:8443", host: "api.example.org", port: 8443 },
          { kind: "network", entry: "10.0.0.0/8", cidr: "10.0.0.0/8" },
          { kind: "network", entry: "0177.1", cidr: "127.0.0.1/32" },
          { kind: "network", entry: "[::1]:8443", cidr: "::1/128", port: 8443 },
        ],
      },
    },
    { name: "deny entries, parsed into rules", change: { egressDeny: ["169.254.0.0/16"] }, output: { egressDeny: [{ kind: "network", entry: "169.254.0.0/16", cidr: "169.254.0.0/16" }] } },
    { name: "allow and deny files (read by the app, not here)", change: { egressAllowFile: "allow.txt", egressDenyFile: "/no/such/deny.txt" } },
    { name: "private destinations allowed", change: { egressAllowPrivate: true } },
    {
      name: "DNS servers, normalised to ip:port and [v6]:port (53 by default)",
      change: { dnsServers: ["8.8.8.8", "1.1.1.1:5353", "[2001:4860:4860::8888]:53", "2001:4860:4860::8844", "[::1]", "0177.1"] },
      output: { dnsServers: ["8.8.8.8:53", "1.1.1.1:5353", "[2001:4860:4860::8888]:53", "[2001:4860:4860::8844]:53", "[::1]:53", "127.0.0.1:53"] },
    },
    ...[
      ["v4", "v4"],
      ["V6", "v6"],
      ["Any", "any"],
      ["AUTO", "any"],
      ["V4_ONLY", "v4"],
      ["v6_only", "v6"],
    ].map(([given, family]) => ({ name: `lookup family ${given}`, change: { dnsLookupFamily: given }, output: { dnsLookupFamily: family } as Partial<Config> })),
    { name: "min TTL equal to max TTL", change: { dnsMinTtl: 60_000, dnsMaxTtl: 60_000 } },
    { name: "min TTL 0 (the record's TTL, however short)", change: { dnsMinTtl: 0 } },
    { name: "a short DNS timeout", change: { dnsTimeout: 1 } },
  ])("$name", ({ change, output = change }) => {
    expect(validateConfig({ ...VALID, ...change })).toEqual({ ok: true, config: { ...DEFAULT_CONFIG, ...output } as Config });
  });
});

describe("validateConfig rejects", () => {
  test.each<{ name: string; change: Record<string, unknown>; issues: ConfigIssue[] }>([
    { name: "address without port", change: { address: "localhost" }, issues: [{ key: "address", message: "missing port in address" }] },
    { name: "empty address", change: { address: "" }, issues: [{ key: "address", message: "missing port in address" }] },
    { name: "support listener with a bad port", change: { supportListener: ":99999" }, issues: [{ key: "supportListener", message: 'invalid port "99999"' }] },
    { name: "address with an impossible IPv4", change: { address: "999.1.1.1:8080" }, issues: [{ key: "address", message: 'invalid IP address "999.1.1.1"' }] },
    { name: "status 199 (1xx cannot end a request)", change: { defaultHttpStatus: 199 }, issues: [{ key: "defaultHttpStatus", message: "must be an HTTP status between 200 and 599" }] },
    { name: "status 600", change: { defaultHttpStatus: 600 }, issues: [{ key: "defaultHttpStatus", message: "must be an HTTP status between 200 and 599" }] },
    { name: "fractional status", change: { defaultHttpStatus: 404.5 }, issues: [{ key: "defaultHttpStatus", message: "must be an HTTP status between 200 and 599" }] },
    { name: "zero poll interval", change: { sourcePollTimeout: 0 }, issues: [{ key: "sourcePollTimeout", message: "must be a positive number of milliseconds" }] },
    { name: "negative timeout", change: { responseHeaderTimeoutBackend: -1 }, issues: [{ key: "responseHeaderTimeoutBackend", message: "must not be negative" }] },
    { name: "negative loopbacks", change: { maxLoopbacks: -1 }, issues: [{ key: "maxLoopbacks", message: "must not be negative" }] },
    {
      name: "unknown log level",
      change: { applicationLogLevel: "verbose" },
      issues: [{ key: "applicationLogLevel", message: "not a valid log level, use one of panic, fatal, error, warn, info, debug, trace" }],
    },
    { name: "forward port without a port", change: { forwardAddress: "localhost" }, issues: [{ key: "forwardAddress", message: "missing port in address" }] },
    { name: "forward port with a bad port", change: { forwardAddress: ":99999" }, issues: [{ key: "forwardAddress", message: 'invalid port "99999"' }] },
    { name: "CONNECT port 0", change: { connectPorts: ["0"] }, issues: [{ key: "connectPorts", message: 'entry "0": not a port (1–65535)' }] },
    { name: "CONNECT port 65536", change: { connectPorts: ["65536"] }, issues: [{ key: "connectPorts", message: 'entry "65536": not a port (1–65535)' }] },
    { name: "CONNECT port in hex", change: { connectPorts: ["0x1bb"] }, issues: [{ key: "connectPorts", message: 'entry "0x1bb": not a port (1–65535)' }] },
    {
      name: "every bad CONNECT port, each named",
      change: { connectPorts: ["443", "https", "-1"] },
      issues: [
        { key: "connectPorts", message: 'entry "https": not a port (1–65535)' },
        { key: "connectPorts", message: 'entry "-1": not a port (1–65535)' },
      ],
    },
    { name: "zero head timeout", change: { forwardHeadTimeout: 0 }, issues: [{ key: "forwardHeadTimeout", message: "must be more than 0" }] },
    { name: "a CIDR with a bad prefix", change: { egressAllow: ["10.0.0.0/33"] }, issues: [{ key: "egressAllow", message: 'entry "10.0.0.0/33": prefix length 33 is out of range' }] },
    { name: "a CIDR of a name", change: { egressDeny: ["example.com/8"] }, issues: [{ key: "egressDeny", message: 'entry "example.com/8": a CIDR needs an IP address before the `/`' }] },
    { name: "a wildcard inside a name", change: { egressDeny: ["api.*.example.com"] }, issues: [{ key: "egressDeny", message: 'entry "api.*.example.com": a wildcard is only allowed as a leading `*.`' }] },
    { name: "an allow entry with a bad port", change: { egressAllow: ["api.github.com", "example.com:0"] }, issues: [{ key: "egressAllow", message: 'entry "example.com:0": "0" is not a port (1–65535)' }] },
    { name: "a name as DNS server", change: { dnsServers: ["dns.google"] }, issues: [{ key: "dnsServers", message: 'entry "dns.google": a DNS server must be an IP address, not a name' }] },
    { name: "a name:port as DNS server", change: { dnsServers: ["localhost:53"] }, issues: [{ key: "dnsServers", message: 'entry "localhost:53": a DNS server must be an IP address, not a name' }] },
    { name: "an impossible IPv4 as DNS server", change: { dnsServers: ["999.1.1.1"] }, issues: [{ key: "dnsServers", message: 'entry "999.1.1.1": not an IP address' }] },
    { name: "a DNS server on port 0", change: { dnsServers: ["8.8.8.8:0"] }, issues: [{ key: "dnsServers", message: 'entry "8.8.8.8:0": "0" is not a port (1–65535)' }] },
    { name: "a DNS server on port 65536", change: { dnsServers: ["[::1]:65536"] }, issues: [{ key: "dnsServers", message: 'entry "[::1]:65536": "65536" is not a port (1–65535)' }] },
    { name: "a DNS server without its ]", change: { dnsServers: ["[::1:53"] }, issues: [{ key: "dnsServers", message: 'entry "[::1:53": not ip, ip:port, [v6] or [v6]:port' }] },
    {
      name: "an unknown lookup family",
      change: { dnsLookupFamily: "V4_PREFERRED" },
      issues: [{ key: "dnsLookupFamily", message: "not a lookup family, use any, v4 or v6 (or Envoy's AUTO, V4_ONLY, V6_ONLY)" }],
    },
    { name: "min TTL over max TTL: named at the min", change: { dnsMinTtl: 600_000 }, issues: [{ key: "dnsMinTtl", message: "must not be more than the maximum DNS TTL (-dns-max-ttl)" }] },
    { name: "a negative max TTL: one issue, not also min > max", change: { dnsMaxTtl: -1 }, issues: [{ key: "dnsMaxTtl", message: "must not be negative" }] },
    { name: "zero DNS timeout", change: { dnsTimeout: 0 }, issues: [{ key: "dnsTimeout", message: "must be more than 0" }] },
    {
      name: "every problem at once, in schema order",
      change: { maxLoopbacks: -1, address: "x" },
      issues: [
        { key: "address", message: "missing port in address" },
        { key: "maxLoopbacks", message: "must not be negative" },
      ],
    },
  ])("$name", ({ change, issues }) => {
    expect(validateConfig({ ...VALID, ...change })).toEqual({ ok: false, issues });
  });

  // The flag table and the schema must agree; these catch a flag added to only one of them.
  test("an unknown key", () => {
    const result = validateConfig({ ...VALID, noSuchKey: [] });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.issues.map((issue) => issue.key)).toEqual(["noSuchKey"]);
  });

  test("a missing key", () => {
    const { maxLoopbacks: _, ...partial } = VALID;
    const result = validateConfig(partial);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.issues.map((issue) => issue.key)).toEqual(["maxLoopbacks"]);
  });

  test.each([
    { key: "routesFile", value: "a.eskip" },
    { key: "proxyPreserveHost", value: "true" },
    { key: "timeoutBackend", value: "60s" },
    { key: "connectPorts", value: [443] },
    { key: "egressAllow", value: "api.github.com" },
    { key: "dnsLookupFamily", value: 4 },
  ])("a wrongly typed $key", ({ key, value }) => {
    const result = validateConfig({ ...VALID, [key]: value });
    expect(!result.ok && result.issues.map((issue) => issue.key)).toEqual([key]);
  });
});
