/** Breaker state machines (gobreaker semantics as Skipper uses them), step by step on a fake clock. */
import { describe, expect, test } from "bun:test";
import { FailureWindow } from "../../src/circuit/breaker.ts";
import { breakerSettings } from "../../src/circuit/settings.ts";
import {
  admit,
  advance,
  expectClosed,
  expectHalfOpen,
  expectLog,
  expectOpen,
  expectRefused,
  fail,
  global,
  HOST,
  report,
  request,
  run,
  times,
  type Step,
} from "./steps.ts";
import { sync } from "../support/sync.ts";

const consecutive = (fields: Parameters<typeof global>[0]) => ({ entries: [global(fields)] });
const rate = (fields: Parameters<typeof global>[0]) => ({ entries: [global({ type: "rate", ...fields })] });

describe("consecutive breaker", () => {
  test.each<{ name: string; options: ReturnType<typeof consecutive>; steps: (Step | Step[])[] }>([
    {
      name: "opens on the nth failure in a row, and then refuses",
      options: consecutive({ failures: 3 }),
      steps: [times(2, request(502)), expectClosed, request(500), expectOpen, expectLog(`circuit breaker ${HOST} went from closed to open`)],
    },
    {
      name: "a success in between starts the count again",
      options: consecutive({ failures: 3 }),
      steps: [times(2, request(502)), request(200), times(2, fail), expectClosed, fail, expectOpen],
    },
    {
      name: "4xx is a success, connection failures count like 5xx",
      options: consecutive({ failures: 2 }),
      steps: [request(503), request(404), fail, expectClosed, fail, expectOpen],
    },
    {
      name: "stays open for the timeout, then one probe that succeeds closes it",
      options: consecutive({ failures: 1, timeout: 30_000 }),
      steps: [
        fail,
        advance(29_999),
        expectOpen,
        advance(1),
        expectHalfOpen,
        request(200),
        expectClosed,
        expectLog(`circuit breaker ${HOST} went from closed to open`, `circuit breaker ${HOST} went from open to half-open`, `circuit breaker ${HOST} went from half-open to closed`),
      ],
    },
    {
      name: "a failed probe opens it again for another timeout",
      options: consecutive({ failures: 1, timeout: 1000 }),
      steps: [fail, advance(1000), fail, expectOpen, advance(999), expectOpen, advance(1), request(200), expectClosed],
    },
    {
      name: "half-open admits half-open-requests in total, not at a time; that many successes close it",
      options: consecutive({ failures: 1, timeout: 1000, halfOpenRequests: 2 }),
      steps: [fail, advance(1000), admit, report(200), admit, expectRefused, report(200), expectClosed],
    },
    {
      name: "half-open: a failure among the probes reopens it",
      options: consecutive({ failures: 1, timeout: 1000, halfOpenRequests: 3 }),
      steps: [fail, advance(1000), request(200), request(200), fail, expectOpen],
    },
    {
      name: "defaults: timeout 60s and one probe",
      options: consecutive({ failures: 1 }),
      steps: [fail, advance(59_999), expectOpen, advance(1), admit, expectRefused, report(200), expectClosed],
    },
    {
      name: "failures=0 trips on the first failure (gobreaker compares with >=)",
      options: consecutive({ failures: 0 }),
      steps: [request(200), fail, expectOpen],
    },
    {
      name: "an outcome from before a state change is ignored",
      options: consecutive({ failures: 2, timeout: 1000 }),
      steps: [admit, times(2, fail), expectOpen, report(500), advance(1000), request(200), expectClosed],
    },
    {
      name: "counts are never cleared by time alone while closed",
      options: consecutive({ failures: 3, idleTTL: 48 * 3_600_000 }),
      steps: [times(2, fail), advance(24 * 3_600_000), fail, expectOpen],
    },
  ])("$name", ({ options, steps }) => {
    run(options, steps);
  });
});

describe("rate breaker", () => {
  test.each<{ name: string; options: ReturnType<typeof rate>; steps: (Step | Step[])[] }>([
    {
      name: "opens when the failures among the last `window` outcomes reach `failures`",
      options: rate({ window: 4, failures: 2 }),
      steps: [fail, request(200), request(200), expectClosed, fail, expectOpen],
    },
    {
      name: "the window is a count of outcomes, not time: old failures slide out",
      options: rate({ window: 4, failures: 2 }),
      steps: [fail, times(3, request(200)), fail, expectClosed, advance(3_600_000), fail, expectOpen],
    },
    {
      name: "recovers like the consecutive breaker",
      options: rate({ window: 10, failures: 3, timeout: 5000, halfOpenRequests: 2 }),
      steps: [times(3, fail), expectOpen, advance(5000), times(2, request(200)), expectClosed],
    },
    {
      // Skipper keeps the window across state changes: the failures that opened it are still in it.
      name: "the window is not cleared by recovery, so one more failure reopens it at once",
      options: rate({ window: 10, failures: 3, timeout: 5000 }),
      steps: [times(3, fail), advance(5000), request(200), expectClosed, fail, expectOpen],
    },
  ])("$name", ({ options, steps }) => {
    run(options, steps);
  });

  test("window 0 counts as 1", () => {
    run(rate({ window: 0, failures: 1 }), [request(200), fail, expectOpen]);
  });

  test("FailureWindow keeps a running count over a ring", () => {
    const w = new FailureWindow(3);
    const counts = [true, true, false, false, true, true, true].map((failed) => (w.add(failed), w.failures));
    expect(counts).toEqual([1, 2, 2, 1, 1, 2, 3]);
  });
});

test("settings are per breaker: two routes' settings to one host are two breakers", () => {
  const w = run({}, []);
  const tight = breakerSettings({ type: "consecutive", failures: 1 });
  const loose = breakerSettings({ type: "consecutive", failures: 5 });
  const a = w.registry.get(HOST, tight);
  a.done(sync(a.allow()), false);
  expect(w.registry.get(HOST, tight).allow()).toBe(-1);
  expect(w.registry.get(HOST, loose).allow()).toBeGreaterThanOrEqual(0);
});
