/** Which breaker a request gets: keys, global → host → route merging, idle TTL. */
import { describe, expect, test } from "bun:test";
import { NO_BREAKER, REFUSED, type Breaker } from "../../src/circuit/breaker.ts";
import { BreakerRegistry, DEFAULT_MAX_BREAKERS } from "../../src/circuit/registry.ts";
import { breakerSettings } from "../../src/circuit/settings.ts";
import { FakeClock } from "../support/clock.ts";
import {
  advance,
  expectClosed,
  expectLog,
  expectNoBreaker,
  expectOpen,
  fail,
  global,
  hostEntry,
  onHost,
  request,
  run,
  times,
  type Step,
} from "./steps.ts";
import { sync } from "../support/sync.ts";

const route = (fields: Parameters<typeof breakerSettings>[0]) => breakerSettings(fields);

describe("keys and host settings", () => {
  test.each<{ name: string; options: Parameters<typeof run>[0]; steps: (Step | Step[])[] }>([
    {
      name: "one breaker per destination host:port",
      options: { entries: [global({ failures: 1 })], host: "a.example:443" },
      steps: [fail, expectOpen, onHost("b.example:443"), expectClosed, request(200), onHost("a.example:8443"), expectClosed],
    },
    {
      name: "no settings anywhere: no breaker",
      options: {},
      steps: [times(10, fail), expectNoBreaker],
    },
    {
      name: "a host entry applies to that host only",
      options: { entries: [hostEntry("a.example:443", { failures: 1 })], host: "a.example:443" },
      steps: [fail, expectOpen, onHost("b.example:443"), expectNoBreaker],
    },
    {
      name: "host= without a port matches :443 and :80, not other ports",
      options: { entries: [hostEntry("a.example", { failures: 1 })], host: "a.example:443" },
      steps: [fail, expectOpen, onHost("a.example:80"), fail, expectOpen, onHost("a.example:8443"), expectNoBreaker],
    },
    {
      name: "a host entry with the port wins over one without, whatever their order",
      options: { entries: [hostEntry("a.example:443", { failures: 3 }), hostEntry("a.example", { failures: 1 })], host: "a.example:443" },
      steps: [times(2, fail), expectClosed, fail, expectOpen, onHost("a.example:80"), fail, expectOpen],
    },
    {
      name: "host entries merge over the global default (timeout inherited)",
      options: { entries: [global({ timeout: 5000 }), hostEntry("a.example:443", { failures: 1 })], host: "a.example:443" },
      steps: [fail, advance(5000), request(200), expectClosed],
    },
    {
      name: "type=disabled globally and a breaker for one host (Skipper's example)",
      options: { entries: [global({ type: "disabled" }), hostEntry("a.example:443", { type: "rate", window: 10, failures: 2 })], host: "b.example:443" },
      steps: [times(5, fail), expectNoBreaker, onHost("a.example:443"), times(2, fail), expectOpen],
    },
    {
      name: "a disabled host entry turns off the global breaker for that host",
      options: { entries: [global({ failures: 1 }), hostEntry("a.example:443", { type: "disabled" })], host: "a.example:443" },
      steps: [times(3, fail), expectNoBreaker],
    },
    {
      name: "global entries merge into one default: the first wins, later ones fill what it left unset",
      options: { entries: [global({ failures: 2 }), global({ failures: 5, timeout: 1000 })] },
      steps: [times(2, fail), expectOpen, advance(1000), request(200), expectClosed],
    },
    {
      name: "a later entry for the same host is merged over the earlier one",
      options: { entries: [hostEntry("a.example:443", { failures: 1, timeout: 1000 }), hostEntry("a.example:443", { failures: 2 })], host: "a.example:443" },
      steps: [fail, expectClosed, fail, expectOpen, advance(1000), request(200), expectClosed],
    },
  ])("$name", ({ options, steps }) => {
    run(options, steps);
  });
});

describe("route settings from the breaker filters", () => {
  test.each<{ name: string; options: Parameters<typeof run>[0]; steps: (Step | Step[])[] }>([
    {
      name: "a route breaker works without any -breaker flag",
      options: { route: route({ type: "consecutive", failures: 2 }) },
      steps: [times(2, fail), expectOpen],
    },
    {
      name: "route failures win; timeout, half-open and idle TTL come from the host or global",
      options: { entries: [global({ failures: 10, timeout: 2000 })], route: route({ type: "consecutive", failures: 1 }) },
      steps: [fail, expectOpen, advance(2000), request(200), expectClosed],
    },
    {
      name: "failures and window are not inherited across a type change",
      options: { entries: [global({ type: "rate", window: 5, failures: 4 })], route: route({ type: "consecutive", failures: 1 }) },
      steps: [fail, expectOpen],
    },
    {
      name: "disableBreaker wins over global and host settings",
      options: { entries: [global({ failures: 1 })], route: route({ type: "disabled" }) },
      steps: [times(3, fail), expectNoBreaker],
    },
  ])("$name", ({ options, steps }) => {
    run(options, steps);
  });

  test("equal settings from two routes share one breaker", () => {
    const a = route({ type: "consecutive", failures: 1 });
    const b = route({ type: "consecutive", failures: 1 });
    const w = run({ route: a }, [fail]);
    w.route = b;
    expectOpen.forEach((step) => step(w));
  });
});

describe("idle TTL", () => {
  test("an idle breaker is dropped and starts fresh, even if it was open", () => {
    run({ entries: [global({ failures: 1, timeout: 3_600_000, idleTTL: 60_000 })] }, [
      fail,
      advance(60_000),
      expectOpen,
      advance(60_001),
      expectClosed,
      expectLog("circuit breaker api.example.com:443 went from closed to open"),
    ]);
  });

  test("idle TTL defaults to one hour", () => {
    run({ entries: [global({ failures: 1, timeout: 24 * 3_600_000 })] }, [fail, advance(3_600_000), expectOpen, advance(3_600_001), expectClosed]);
  });

  test("idle breakers are swept when a new one is created", () => {
    const w = run({ entries: [global({ failures: 1, idleTTL: 1000 })] }, [onHost("a:1"), request(200), onHost("b:1"), request(200)]);
    expect(w.registry.size).toBe(2);
    w.clock.advance(1001);
    w.host = "c:1";
    request(200)(w);
    expect(w.registry.size).toBe(1);
  });
});

test("the null breaker lets everything through", () => {
  expect(NO_BREAKER.allow()).toBe(0);
  NO_BREAKER.done(0, false);
  expect(NO_BREAKER.allow()).toBe(0);
});

test("a host whose only breaker was swept still keeps the new one", () => {
  const w = run({ entries: [global({ failures: 1, idleTTL: 1000 })], host: "a:1" }, [request(200)]);
  w.clock.advance(1001);
  w.route = breakerSettings({ type: "consecutive", failures: 1, timeout: 5000 });
  fail(w);
  expect(w.registry.size).toBe(1);
  expectOpen.forEach((step) => step(w));
});

describe("the cap on live breakers (dynamic destinations)", () => {
  const settings = global({ failures: 1, idleTTL: 1000 });
  const otherRoute = breakerSettings({ type: "consecutive", failures: 7 });

  /**
   * Steps: `"a"` asks for the breaker of host `a:1`, `"a/r"` for it under other route settings,
   * `"+N"` moves the clock N ms. `kept` still have the breaker they got last; `dropped` get a new one.
   */
  test.each<{ name: string; max: number; steps: string[]; size: number; kept: string[]; dropped: string[] }>([
    { name: "at the cap, a new breaker drops the least recently used", max: 3, steps: ["a", "b", "c", "d"], size: 3, kept: ["b", "c", "d"], dropped: ["a"] },
    { name: "a use moves a breaker to the recent end", max: 3, steps: ["a", "b", "c", "a", "d"], size: 3, kept: ["a", "c", "d"], dropped: ["b"] },
    { name: "a cap of one keeps the latest only", max: 1, steps: ["a", "b"], size: 1, kept: ["b"], dropped: ["a"] },
    { name: "a breaker used again does not count twice", max: 2, steps: ["a", "a", "a", "b", "b"], size: 2, kept: ["a", "b"], dropped: [] },
    { name: "every breaker of a host counts, one per route settings", max: 2, steps: ["a", "a/r", "b"], size: 2, kept: ["a/r", "b"], dropped: ["a"] },
    { name: "idle ones are swept first, so nothing in use is dropped", max: 3, steps: ["a", "b", "+1001", "c", "d"], size: 2, kept: ["c", "d"], dropped: ["a", "b"] },
    { name: "an idle breaker replaced in place does not push another out", max: 2, steps: ["a", "+500", "b", "+600", "a"], size: 2, kept: ["a", "b"], dropped: [] },
  ])("$name", ({ max, steps, size, kept, dropped }) => {
    const clock = new FakeClock();
    const registry = new BreakerRegistry({ entries: [settings], clock, maxBreakers: max });
    const get = (step: string) => {
      const [host, route] = step.split("/");
      return registry.get(`${host}:1`, route ? otherRoute : undefined);
    };
    const last = new Map<string, Breaker>();
    for (const step of steps) {
      if (step.startsWith("+")) clock.advance(Number(step.slice(1)));
      else last.set(step, get(step));
    }
    expect(registry.size).toBe(size);
    // Hits first: they only reorder. Each miss after them creates a breaker (and may drop one).
    for (const step of kept) expect(get(step), `${step} kept`).toBe(last.get(step)!);
    for (const step of dropped) expect(get(step), `${step} dropped`).not.toBe(last.get(step)!);
  });

  test("a dropped breaker starts fresh, even if it was open", () => {
    const registry = new BreakerRegistry({ entries: [global({ failures: 1, timeout: 3_600_000 })], clock: new FakeClock(), maxBreakers: 1 });
    const a = registry.get("a:1");
    a.done(sync(a.allow()), false);
    expect(registry.get("a:1").allow()).toBe(REFUSED);
    registry.get("b:1");
    expect(registry.get("a:1").allow()).not.toBe(REFUSED);
    expect(registry.size).toBe(1);
  });

  test(`${DEFAULT_MAX_BREAKERS} by default`, () => {
    const registry = new BreakerRegistry({ entries: [global({ failures: 1 })], clock: new FakeClock() });
    const first = registry.get("h0:443");
    for (let i = 1; i < DEFAULT_MAX_BREAKERS; i++) registry.get(`h${i}:443`);
    expect(registry.size).toBe(DEFAULT_MAX_BREAKERS);
    registry.get("one-more:443");
    expect(registry.size).toBe(DEFAULT_MAX_BREAKERS);
    expect(registry.get("h1:443")).toBe(registry.get("h1:443"));
    expect(registry.get("h0:443")).not.toBe(first);
  });

  test.each([0, -1, 1.5, Number.NaN])("maxBreakers %p is refused", (max) => {
    expect(() => new BreakerRegistry({ entries: [], clock: new FakeClock(), maxBreakers: max })).toThrow(RangeError);
  });
});
