/** Go value syntax: durations (time.ParseDuration), ints (strconv.ParseInt base 0), bools, and Duration.String. */
import { describe, expect, test } from "bun:test";
import { parseGoBool, parseGoInt, splitList } from "../../src/cli/_goflag.ts";
import { formatGoDuration } from "../../src/cli/_usage.ts";
import { parseDuration } from "../../src/util/duration.ts";

describe("parseDuration", () => {
  test.each([
    { input: "0", ms: 0 },
    { input: "-0", ms: 0 },
    { input: "+5s", ms: 5000 },
    { input: "10s", ms: 10_000 },
    { input: "1m30s", ms: 90_000 },
    { input: "300ms", ms: 300 },
    { input: "1h", ms: 3_600_000 },
    { input: "1.5s", ms: 1500 },
    { input: ".5s", ms: 500 },
    { input: "1.s", ms: 1000 },
    { input: "0.3s", ms: 300 },
    { input: "-1.5h", ms: -5_400_000 },
    { input: "1h2m3.5s", ms: 3_723_500 },
    { input: "2s500ms", ms: 2500 },
    { input: "1500us", ms: 1.5 },
    { input: "1µs", ms: 0.001 },
    { input: "1μs", ms: 0.001 },
    { input: "250ns", ms: 0.00025 },
  ])("$input → $ms ms", ({ input, ms }) => {
    expect(parseDuration(input)).toBe(ms);
  });

  test.each([
    { input: "10", error: 'time: missing unit in duration "10"' },
    { input: "1.5", error: 'time: missing unit in duration "1.5"' },
    { input: "0.0", error: 'time: missing unit in duration "0.0"' },
    { input: "", error: 'time: invalid duration ""' },
    { input: "-", error: 'time: invalid duration "-"' },
    { input: "s", error: 'time: invalid duration "s"' },
    { input: ".s", error: 'time: invalid duration ".s"' },
    { input: "1d", error: 'time: unknown unit "d" in duration "1d"' },
    { input: "1 s", error: 'time: unknown unit " s" in duration "1 s"' },
    { input: "1S", error: 'time: unknown unit "S" in duration "1S"' },
    { input: "3000000h", error: 'time: invalid duration "3000000h"' },
  ])("$input is an error", ({ input, error }) => {
    expect(() => parseDuration(input)).toThrow(new Error(error));
  });
});

describe("formatGoDuration (Go's Duration.String, for usage defaults)", () => {
  test.each([
    { ms: 0, text: "0s" },
    { ms: 60_000, text: "1m0s" },
    { ms: 300_000, text: "5m0s" },
    { ms: 3_600_000, text: "1h0m0s" },
    { ms: 3_723_500, text: "1h2m3.5s" },
    { ms: 1500, text: "1.5s" },
    { ms: 10_000, text: "10s" },
    { ms: 300, text: "300ms" },
    { ms: 1.5, text: "1.5ms" },
    { ms: 0.5, text: "500µs" },
    { ms: 0.00025, text: "250ns" },
    { ms: -2000, text: "-2s" },
  ])("$ms ms → $text", ({ ms, text }) => {
    expect(formatGoDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});

describe("parseGoInt", () => {
  test.each([
    { input: "0", value: 0 },
    { input: "42", value: 42 },
    { input: "-42", value: -42 },
    { input: "+42", value: 42 },
    { input: "0x1F", value: 31 },
    { input: "0X1f", value: 31 },
    { input: "0x_1f", value: 31 },
    { input: "017", value: 15 },
    { input: "0o17", value: 15 },
    { input: "0b101", value: 5 },
    { input: "1_000", value: 1000 },
    { input: "-0x10", value: -16 },
    { input: "9223372036854775807", value: 9223372036854775807 },
  ])("$input → $value", ({ input, value }) => {
    expect(parseGoInt(input)).toBe(value);
  });

  test.each([
    { input: "", reason: "parse error" },
    { input: "-", reason: "parse error" },
    { input: " 1", reason: "parse error" },
    { input: "1.0", reason: "parse error" },
    { input: "1e3", reason: "parse error" },
    { input: "08", reason: "parse error" },
    { input: "0x", reason: "parse error" },
    { input: "0xg", reason: "parse error" },
    { input: "1__0", reason: "parse error" },
    { input: "_1", reason: "parse error" },
    { input: "1_", reason: "parse error" },
    { input: "9223372036854775808", reason: "value out of range" },
    { input: "-9223372036854775809", reason: "value out of range" },
  ])("$input: $reason", ({ input, reason }) => {
    expect(() => parseGoInt(input)).toThrow(new Error(reason));
  });
});

describe("parseGoBool", () => {
  test.each(["1", "t", "T", "true", "TRUE", "True"])("%s is true", (s) => expect(parseGoBool(s)).toBe(true));
  test.each(["0", "f", "F", "false", "FALSE", "False"])("%s is false", (s) => expect(parseGoBool(s)).toBe(false));
  test.each(["", "yes", "no", "tRUE", "on", "2"])("%p is not a bool", (s) => expect(parseGoBool(s)).toBeUndefined());
});

describe("splitList", () => {
  test.each<{ input: string; list: string[] }>([
    { input: "", list: [] },
    { input: "a", list: ["a"] },
    { input: "a,b", list: ["a", "b"] },
    { input: " a , b ,, ", list: ["a", "b"] },
  ])("$input", ({ input, list }) => {
    expect(splitList(input)).toEqual(list);
  });
});
