/**
 * @module
 * Breaker scenarios as step lists, after Skipper's proxy/breaker_test.go but on a fake clock:
 *
 * ```ts
 * run({ entries: [global({ failures: 3 })] }, [times(3, request(502)), expectOpen, advance(60_000), request(200), expectClosed]);
 * ```
 *
 * Each request asks the registry for the breaker of its host, as the proxy does per request.
 */
import { expect } from "bun:test";
import { REFUSED, type BreakerState } from "../../src/circuit/breaker.ts";
import { BreakerRegistry } from "../../src/circuit/registry.ts";
import { breakerSettings, NO_SETTINGS, type BreakerSettings } from "../../src/circuit/settings.ts";
import { FakeClock } from "../support/clock.ts";
import { sync } from "../support/sync.ts";

export const HOST = "api.example.com:443";

export interface World {
  readonly clock: FakeClock;
  readonly registry: BreakerRegistry;
  readonly logs: string[];
  /** tickets taken by `admit` and not yet reported */
  readonly held: number[];
  host: string;
  route: BreakerSettings;
}

export type Step = (w: World) => void;

export function run(options: { entries?: BreakerSettings[]; route?: BreakerSettings; host?: string }, steps: (Step | Step[])[]): World {
  const clock = new FakeClock();
  const logs: string[] = [];
  const registry = new BreakerRegistry({ entries: options.entries ?? [], clock, log: (m) => logs.push(m) });
  const world: World = { clock, registry, logs, held: [], host: options.host ?? HOST, route: options.route ?? NO_SETTINGS };
  for (const step of steps.flat()) step(world);
  return world;
}

const breaker = (w: World) => w.registry.get(w.host, w.route);

/** One request that the breaker lets through, answered with `status` (≥ 500 is a failure). */
export const request =
  (status: number): Step =>
  (w) => {
    const b = breaker(w);
    const ticket = sync(b.allow());
    expect(ticket, `request(${status}) was refused`).not.toBe(REFUSED);
    b.done(ticket, status < 500);
  };

/** A request that failed without a response (reset, refused, timeout). */
export const fail: Step = (w) => request(599)(w);

export const times = (n: number, step: Step): Step[] => Array.from({ length: n }, () => step);

export const advance =
  (ms: number): Step =>
  (w) =>
    w.clock.advance(ms);

/** The breaker refuses the next request (what the proxy answers with 503 X-Circuit-Open). */
export const expectRefused: Step = (w) => expect(breaker(w).allow()).toBe(REFUSED);

/** Lets a request through and keeps its ticket, to report later with `report`. */
export const admit: Step = (w) => {
  const ticket = sync(breaker(w).allow());
  expect(ticket).not.toBe(REFUSED);
  w.held.push(ticket);
};

/** Reports the oldest held request's outcome. */
export const report =
  (status: number): Step =>
  (w) =>
    breaker(w).done(w.held.shift()!, status < 500);

const expectState =
  (state: BreakerState): Step =>
  (w) => {
    const b = breaker(w);
    expect("state" in b ? (b as { state: BreakerState }).state : "none").toBe(state);
  };

export const expectClosed = expectState("closed");
export const expectOpen: Step[] = [expectState("open"), expectRefused];
export const expectHalfOpen = expectState("half-open");
/** No breaker at all applies: every request passes, nothing is counted. */
export const expectNoBreaker: Step = (w) => expect(breaker(w).allow()).toBe(0);

export const onHost =
  (host: string): Step =>
  (w) => {
    w.host = host;
  };

export const expectLog =
  (...lines: string[]): Step =>
  (w) =>
    expect(w.logs).toEqual(lines);

export const global = (fields: Partial<BreakerSettings>) => breakerSettings({ type: "consecutive", ...fields });
export const hostEntry = (host: string, fields: Partial<BreakerSettings>) => breakerSettings({ type: "consecutive", host, ...fields });
