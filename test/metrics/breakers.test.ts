/** Circuit breakers in /metrics: the state gauge per destination and the transition counter, on the fake clock. */
import { afterEach, expect, test } from "bun:test";
import { REFUSED } from "../../src/circuit/breaker.ts";
import { BreakerRegistry } from "../../src/circuit/registry.ts";
import { breakerSettings } from "../../src/circuit/settings.ts";
import { Exchanges } from "../../src/exchange/record.ts";
import { createMetrics, type Metrics } from "../../src/metrics/index.ts";
import { FakeClock } from "../support/clock.ts";
import { valueOf } from "./samples.ts";
import { sync } from "../support/sync.ts";

let metrics: Metrics | undefined;
afterEach(() => metrics?.stop());

function setup(maxHosts = 1000) {
  const clock = new FakeClock();
  const logs: string[] = [];
  const breakers = new BreakerRegistry({ entries: [breakerSettings({ type: "consecutive", failures: 2, timeout: 1000 })], clock, log: (m) => logs.push(m) });
  metrics = createMetrics({ clock, maxHosts, exchanges: new Exchanges(clock), breakers });
  const fail = (host: string) => {
    const b = breakers.get(host);
    const ticket = sync(b.allow());
    expect(ticket).not.toBe(REFUSED);
    b.done(ticket, false);
  };
  const state = (host: string) => {
    const text = metrics!.render();
    return ["closed", "half-open", "open"].filter((s) => valueOf(text, "sallyport_circuit_breaker_state", { host, state: s }) === 1);
  };
  return { clock, breakers, logs, fail, state, scrape: () => metrics!.render() };
}

test("a breaker opening shows in its destination's gauge and in the transitions", async () => {
  const { clock, fail, state, scrape, logs } = setup();
  fail("api.example:443");
  expect(state("api.example:443")).toEqual(["closed"]);
  fail("api.example:443");
  expect(state("api.example:443")).toEqual(["open"]);
  expect(valueOf(scrape(), "sallyport_circuit_breaker_state", { host: "api.example:443" })).toBe(1);
  expect(valueOf(scrape(), "sallyport_circuit_breaker_transitions_total", { host: "api.example:443", from: "closed", to: "open" })).toBe(1);
  // The log line is still written.
  expect(logs).toEqual(["circuit breaker api.example:443 went from closed to open"]);
  await clock.advance(1000);
  // The timeout passed: the scrape reads it half-open and counts that transition in the same scrape.
  const text = scrape();
  expect(valueOf(text, "sallyport_circuit_breaker_state", { host: "api.example:443", state: "half-open" })).toBe(1);
  expect(valueOf(text, "sallyport_circuit_breaker_transitions_total", { host: "api.example:443", from: "open", to: "half-open" })).toBe(1);
});

test("each destination has its own gauge; hosts beyond the cap are summed under other", () => {
  const { fail, scrape } = setup(1);
  fail("a:443");
  fail("a:443");
  fail("b:443");
  fail("b:443");
  fail("c:443");
  const text = scrape();
  expect(valueOf(text, "sallyport_circuit_breaker_state", { host: "a:443", state: "open" })).toBe(1);
  expect(valueOf(text, "sallyport_circuit_breaker_state", { host: "other", state: "open" })).toBe(1);
  expect(valueOf(text, "sallyport_circuit_breaker_state", { host: "other", state: "closed" })).toBe(1);
  expect(valueOf(text, "sallyport_circuit_breaker_transitions_total", { host: "other" })).toBe(1);
  expect(text).not.toContain('host="b:443"');
});

test("stop() ends the transition count", () => {
  const { fail, scrape } = setup();
  metrics!.stop();
  fail("a:443");
  fail("a:443");
  expect(valueOf(scrape(), "sallyport_circuit_breaker_transitions_total")).toBe(0);
});
