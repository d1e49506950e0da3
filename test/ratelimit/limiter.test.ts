/** The sliding-window limiter as step lists on a fake clock. */
import { describe, expect, test } from "bun:test";
import { NEVER_MS, NO_LIMIT, rejectionHeaders, SlidingWindowLimiter } from "../../src/ratelimit/limiter.ts";
import { FakeClock } from "../support/clock.ts";

interface World {
  clock: FakeClock;
  limiter: SlidingWindowLimiter;
}
type Step = (w: World) => void;

/** A request of client `key` that passes. */
const pass =
  (key = "a"): Step =>
  (w) =>
    expect(w.limiter.take(key), `${key} should pass`).toBe(0);
/** A request of client `key` that is refused, with the ms until a slot frees. */
const refused =
  (retryMs: number, key = "a"): Step =>
  (w) =>
    expect(w.limiter.take(key)).toBe(retryMs);
/** Client `key`'s newest slot is given back: its request never reached the backend whole. */
const giveBack =
  (key = "a"): Step =>
  (w) =>
    w.limiter.giveBack(key);
const times = (n: number, step: Step): Step[] => Array.from({ length: n }, () => step);
const advance =
  (ms: number): Step =>
  (w) =>
    w.clock.advance(ms);

function run(max: number, window: number, steps: (Step | Step[])[], maxKeys?: number): World {
  const clock = new FakeClock();
  const w = { clock, limiter: new SlidingWindowLimiter(max, window, clock, maxKeys) };
  for (const step of steps.flat()) step(w);
  return w;
}

describe("sliding window", () => {
  test.each<{ name: string; max: number; window: number; steps: (Step | Step[])[] }>([
    { name: "max requests pass, the next is refused until the oldest leaves the window", max: 2, window: 1000, steps: [times(2, pass()), refused(1000), advance(999), refused(1), advance(1), times(2, pass()), refused(1000)] },
    {
      name: "the window slides: each slot frees one window after its own request",
      max: 2,
      window: 1000,
      steps: [pass(), advance(500), pass(), advance(400), refused(100), advance(100), pass(), advance(100), refused(400), advance(400), pass()],
    },
    { name: "refused requests take no slot", max: 1, window: 1000, steps: [pass(), times(5, refused(1000)), advance(1000), pass()] },
    { name: "keys are independent", max: 1, window: 1000, steps: [pass("a"), refused(1000, "a"), pass("b"), refused(1000, "b")] },
    { name: "max 0 refuses everything, for about five years", max: 0, window: 1000, steps: [refused(NEVER_MS), advance(10_000), refused(NEVER_MS)] },
    { name: "a slot given back is free at once", max: 2, window: 1000, steps: [times(2, pass()), refused(1000), giveBack(), pass(), refused(1000)] },
    {
      name: "given back from a full ring: the newest pass goes, the older ones still free the slots when due",
      max: 3,
      window: 1000,
      steps: [times(3, pass()), advance(1000), pass(), advance(100), pass(), advance(100), pass(), giveBack(), advance(100), pass(), refused(700), advance(700), pass(), refused(100)],
    },
    { name: "giving back more than was taken frees no slot that was never taken", max: 1, window: 1000, steps: [pass(), giveBack(), giveBack(), giveBack("unknown"), pass(), refused(1000)] },
    { name: "a give-back touches only its own key", max: 1, window: 1000, steps: [pass("a"), pass("b"), giveBack("b"), refused(1000, "a"), pass("b")] },
    { name: "a long quiet period resets nothing it should not", max: 3, window: 60_000, steps: [times(3, pass()), advance(3_600_000), times(3, pass()), refused(60_000)] },
  ])("$name", ({ max, window, steps }) => {
    run(max, window, steps);
  });
});

describe("bounded memory", () => {
  test("buckets idle for a window are swept when a new key arrives", () => {
    const w = run(5, 1000, [pass("a"), pass("b"), pass("c")]);
    expect(w.limiter.size).toBe(3);
    w.clock.advance(1000);
    pass("d")(w);
    expect(w.limiter.size).toBe(1);
  });

  test("a bucket still in its window survives the sweep", () => {
    const w = run(5, 1000, [pass("old"), advance(600), pass("recent"), advance(400), pass("new")]);
    expect(w.limiter.size).toBe(2);
  });

  test("past maxKeys the oldest key is evicted", () => {
    const w = run(1, 60_000, [pass("a"), pass("b"), pass("c")], 2);
    expect(w.limiter.size).toBe(2);
    pass("a")(w); // a was evicted, so it starts fresh (the price of a flood of keys)
  });
});

test("rejection headers: X-Rate-Limit per hour, Retry-After in whole seconds, rounded up", () => {
  const clock = new FakeClock();
  expect(rejectionHeaders(new SlidingWindowLimiter(2, 1000, clock), 1)).toEqual({ "x-rate-limit": "7200", "retry-after": "1" });
  expect(rejectionHeaders(new SlidingWindowLimiter(10, 60_000, clock), 30_500)).toEqual({ "x-rate-limit": "600", "retry-after": "31" });
  expect(rejectionHeaders(new SlidingWindowLimiter(1, 7 * 60_000, clock), 60_000)).toEqual({ "x-rate-limit": "8", "retry-after": "60" });
  expect(rejectionHeaders(new SlidingWindowLimiter(5, 2 * 3_600_000, clock), 1000)).toEqual({ "x-rate-limit": "2", "retry-after": "1" });
});

test("the null limiter lets everything through", () => {
  expect(NO_LIMIT.take("x")).toBe(0);
});

test("peek counts the key's requests still in the window and takes nothing", () => {
  const w = run(3, 1000, [pass(), advance(600), pass()]);
  expect([w.limiter.peek("a"), w.limiter.peek("a"), w.limiter.peek("other")]).toEqual([2, 2, 0]);
  w.clock.advance(400);
  expect(w.limiter.peek("a")).toBe(1);
  pass()(w);
  pass()(w);
  expect(w.limiter.peek("a")).toBe(3);
  refused(600)(w);
});
