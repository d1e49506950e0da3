/** Which breaker a request gets: keys, global → host → route merging, idle TTL. */
import { describe, expect, test } from "bun:test";
import { NO_BREAKER } from "../../src/circuit/breaker.ts";
import { breakerSettings } from "../../src/circuit/settings.ts";
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
