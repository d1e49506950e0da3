/** The -breaker value syntax (Skipper's config/breakerflags_test.go cases, plus the key in each message) and merging. */
import { describe, expect, test } from "bun:test";
import { breakerSettings, mergeSettings, parseBreakerFlag, type BreakerSettings } from "../../src/circuit/settings.ts";

describe("parseBreakerFlag accepts", () => {
  test.each<{ value: string; settings: Partial<BreakerSettings> }>([
    {
      value: "type=consecutive,host=example.com,timeout=3s,half-open-requests=3,idle-ttl=5s",
      settings: { type: "consecutive", host: "example.com", timeout: 3000, halfOpenRequests: 3, idleTTL: 5000 },
    },
    { value: "type=consecutive,window=4,host=example.com,failures=2", settings: { type: "consecutive", host: "example.com", window: 4, failures: 2 } },
    { value: "type=rate,host=example.com:443,window=300,failures=30", settings: { type: "rate", host: "example.com:443", window: 300, failures: 30 } },
    { value: "type=disabled", settings: { type: "disabled" } },
    { value: "failures=5", settings: { type: "consecutive", failures: 5 } },
    { value: "host=API.Example.COM,failures=1", settings: { type: "consecutive", host: "api.example.com", failures: 1 } },
    { value: "timeout=0,idle-ttl=1h30m", settings: { type: "consecutive", timeout: 0, idleTTL: 5_400_000 } },
    { value: "failures=+3", settings: { type: "consecutive", failures: 3 } },
  ])("$value", ({ value, settings }) => {
    expect(parseBreakerFlag(value)).toEqual(breakerSettings(settings));
  });
});

describe("parseBreakerFlag refuses, naming the key", () => {
  test.each([
    ["type=invalid,host=example.com", 'invalid breaker config: type: "invalid" (allowed values are: consecutive, rate or disabled)'],
    ["type=consecutive,foo=bar", 'invalid breaker config: unknown key "foo" (allowed keys are: type, host, window, failures, timeout, half-open-requests, idle-ttl)'],
    // circuit/doc.go's example spelling; the key is idle-ttl
    ["type=rate,idleTTL=30m", 'invalid breaker config: unknown key "idleTTL" (allowed keys are: type, host, window, failures, timeout, half-open-requests, idle-ttl)'],
    ["consecutive", 'invalid breaker config: "consecutive" is not key=value'],
    ["", 'invalid breaker config: "" is not key=value'],
    // the usage text's example; window is a count of outcomes
    ["type=rate,window=300s", 'invalid breaker config: window: strconv.Atoi: parsing "300s": invalid syntax'],
    ["failures=n", 'invalid breaker config: failures: strconv.Atoi: parsing "n": invalid syntax'],
    ["half-open-requests=a", 'invalid breaker config: half-open-requests: strconv.Atoi: parsing "a": invalid syntax'],
    ["failures=0x10", 'invalid breaker config: failures: strconv.Atoi: parsing "0x10": invalid syntax'],
    ["failures=-1", "invalid breaker config: failures: must not be negative, got -1"],
    // the usage text claims milliseconds work; the flag takes Go durations only
    ["timeout=3000", 'invalid breaker config: timeout: time: missing unit in duration "3000"'],
    ["timeout=3n", 'invalid breaker config: timeout: time: unknown unit "n" in duration "3n"'],
    ["idle-ttl=5as", 'invalid breaker config: idle-ttl: time: unknown unit "as" in duration "5as"'],
    ["timeout=-1s", 'invalid breaker config: timeout: must not be negative, got "-1s"'],
  ])("%p", (value, message) => {
    expect(() => parseBreakerFlag(value)).toThrow(message);
  });
});

describe("mergeSettings (Skipper's rules)", () => {
  const s = breakerSettings;
  test.each<{ name: string; to: BreakerSettings; from: BreakerSettings; merged: BreakerSettings }>([
    {
      name: "unset fields are filled",
      to: s({ type: "consecutive", failures: 5 }),
      from: s({ type: "consecutive", failures: 9, timeout: 1000, halfOpenRequests: 2, idleTTL: 60_000 }),
      merged: s({ type: "consecutive", failures: 5, timeout: 1000, halfOpenRequests: 2, idleTTL: 60_000 }),
    },
    {
      name: "failures and window come along with an inherited rate type",
      to: s({ timeout: 7 }),
      from: s({ type: "rate", window: 100, failures: 10, timeout: 1 }),
      merged: s({ type: "rate", window: 100, failures: 10, timeout: 7 }),
    },
    {
      name: "an inherited consecutive type brings failures only",
      to: s({ window: 3 }),
      from: s({ type: "consecutive", window: 100, failures: 10 }),
      merged: s({ type: "consecutive", window: 3, failures: 10 }),
    },
    {
      name: "a set type keeps its own (even zero) failures",
      to: s({ type: "rate", window: 10 }),
      from: s({ type: "rate", window: 100, failures: 10 }),
      merged: s({ type: "rate", window: 10, failures: 0 }),
    },
    {
      name: "the host stays the more specific level's",
      to: s({ host: "a:1" }),
      from: s({ type: "disabled", host: "" }),
      merged: s({ type: "disabled", host: "a:1" }),
    },
  ])("$name", ({ to, from, merged }) => {
    expect(mergeSettings(to, from)).toEqual(merged);
  });
});
