/** validateConfig: one row per rule, each a change to an otherwise valid config. */
import { describe, expect, test } from "bun:test";
import { validateConfig, type Config, type ConfigIssue } from "../../src/config/index.ts";
import { DEFAULT_CONFIG } from "../support/config.ts";

// Every default is valid: rows below change one field of it.
const VALID = DEFAULT_CONFIG;

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
  ])("$name", ({ change, output = change }) => {
    expect(validateConfig({ ...VALID, ...change })).toEqual({ ok: true, config: { ...VALID, ...output } as Config });
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
  ])("a wrongly typed $key", ({ key, value }) => {
    const result = validateConfig({ ...VALID, [key]: value });
    expect(!result.ok && result.issues.map((issue) => issue.key)).toEqual([key]);
  });
});
