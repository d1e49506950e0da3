/** consecutiveBreaker, rateBreaker, disableBreaker: they set the route's breaker settings on the context. */
import { describe, expect, test } from "bun:test";
import { breakerSettings } from "../../src/circuit/settings.ts";
import type { Arg } from "../../src/eskip/ast.ts";
import { BREAKER_SETTINGS } from "../../src/exchange/keys.ts";
import { createFilter, makeContext, run } from "../filters/helpers.ts";

describe("settings set by the filters", () => {
  test.each<[string, Arg[], Parameters<typeof breakerSettings>[0]]>([
    ["consecutiveBreaker", [5], { type: "consecutive", failures: 5 }],
    ["consecutiveBreaker", [5, "1m", 12, "30m"], { type: "consecutive", failures: 5, timeout: 60_000, halfOpenRequests: 12, idleTTL: 1_800_000 }],
    // numbers for durations are milliseconds here (Skipper's getDurationArg)
    ["consecutiveBreaker", [5, 1500, 2, 60000], { type: "consecutive", failures: 5, timeout: 1500, halfOpenRequests: 2, idleTTL: 60_000 }],
    ["rateBreaker", [30, 300], { type: "rate", failures: 30, window: 300 }],
    ["rateBreaker", [30, 300, "1m", 12, "30m"], { type: "rate", failures: 30, window: 300, timeout: 60_000, halfOpenRequests: 12, idleTTL: 1_800_000 }],
    ["disableBreaker", [], { type: "disabled" }],
  ])("%s(%j)", async (name, args, settings) => {
    expect((await run(createFilter(name, ...args), makeContext())).state.get(BREAKER_SETTINGS)).toEqual(breakerSettings(settings));
  });

  test("the last breaker filter of a route wins", async () => {
    const ctx = makeContext();
    await run(createFilter("consecutiveBreaker", 5), ctx);
    await run(createFilter("disableBreaker"), ctx);
    expect(ctx.state.get(BREAKER_SETTINGS)?.type).toBe("disabled");
  });
});

test.each([
  ["consecutiveBreaker", [], /consecutiveBreaker: expects 1 to 4 arguments, got 0/],
  ["consecutiveBreaker", ["5"], /argument 1 \(failures\) must be a number/],
  ["consecutiveBreaker", [-1], /argument 1 \(failures\) must not be negative/],
  ["consecutiveBreaker", [5, "1x"], /argument 2 \(timeout\) must be a duration/],
  ["consecutiveBreaker", [5, "1m", 1.5], /argument 3 \(half-open requests\) must be an integer/],
  ["rateBreaker", [30], /rateBreaker: expects 2 to 5 arguments, got 1/],
  ["rateBreaker", [30, "300s"], /argument 2 \(window\) must be a number/],
  ["disableBreaker", [1], /disableBreaker: expects no arguments, got 1/],
] as [string, Arg[], RegExp][])("%s(%j) is refused", (name, args, message) => {
  expect(() => createFilter(name, ...args)).toThrow(message);
});
