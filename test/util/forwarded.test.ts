/** The first and last X-Forwarded-For entry, as Source/SourceFromLast and the templates read them. */
import { describe, expect, test } from "bun:test";
import { forwardedFor, type ForwardedEnd } from "../../src/util/forwarded.ts";

describe("forwardedFor", () => {
  test.each<{ xff: string | string[] | undefined; end: ForwardedEnd; expected: string | undefined }>([
    { xff: undefined, end: "first", expected: undefined },
    { xff: undefined, end: "last", expected: undefined },
    { xff: "", end: "first", expected: undefined },
    { xff: "1.2.3.4", end: "first", expected: "1.2.3.4" },
    { xff: "1.2.3.4", end: "last", expected: "1.2.3.4" },
    { xff: "1.2.3.4, 5.6.7.8", end: "first", expected: "1.2.3.4" },
    { xff: "1.2.3.4, 5.6.7.8", end: "last", expected: "5.6.7.8" },
    { xff: "1.2.3.4,5.6.7.8", end: "last", expected: "5.6.7.8" },
    { xff: " \t1.2.3.4 , 9.9.9.9", end: "first", expected: "1.2.3.4" },
    { xff: "1.2.3.4:5555", end: "first", expected: "1.2.3.4:5555" },
    { xff: "[2001:db8::1]:443, 1.1.1.1", end: "first", expected: "[2001:db8::1]:443" },
    { xff: "unknown", end: "first", expected: "unknown" },
    { xff: " , 1.1.1.1", end: "first", expected: undefined },
    { xff: "1.1.1.1, ", end: "last", expected: undefined },
    // Bun joins repeated lines with ", ": the last entry of the last line.
    { xff: ["1.2.3.4", "5.6.7.8, 9.9.9.9"], end: "first", expected: "1.2.3.4" },
    { xff: ["1.2.3.4", "5.6.7.8, 9.9.9.9"], end: "last", expected: "9.9.9.9" },
  ])("$xff ($end) → $expected", ({ xff, end, expected }) => {
    const headers = new Headers();
    for (const line of xff === undefined ? [] : [xff].flat()) headers.append("x-forwarded-for", line);
    expect(forwardedFor(headers, end)).toBe(expected);
  });
});
