/**
 * @module
 * consecutiveBreaker, rateBreaker and disableBreaker (Skipper's filters/circuit): they only set
 * the route's breaker settings for the request; the proxy merges them over the host and global
 * settings and asks the breaker of the actual destination before calling it (src/circuit).
 *
 * ```
 * consecutiveBreaker(5)                       // open after 5 failures in a row
 * consecutiveBreaker(5, "1m", 12, "30m")      // … stay open 1m, 12 probes, idle TTL 30m
 * rateBreaker(30, 300, 60000)                 // 30 failures among the last 300 outcomes; 60 s open
 * disableBreaker()                            // no breaker for this route
 * ```
 *
 * Duration arguments take a Go duration string or a number of milliseconds, as in Skipper.
 * Several breaker filters on one route: the last one wins.
 */
import { breakerSettings, type BreakerSettings } from "../circuit/settings.ts";
import { BREAKER_SETTINGS } from "../exchange/keys.ts";
import { readArgs, type ArgReader } from "../util/args.ts";
import type { Filter, FilterSpec } from "./types.ts";

const settingsFilter = (settings: BreakerSettings): Filter => ({
  request(ctx) {
    ctx.state.set(BREAKER_SETTINGS, settings);
  },
});

function count(a: ArgReader, i: number, name: string): number {
  const n = a.integer(i, name);
  if (n < 0) throw a.error(i, name, `must not be negative, got ${n}`);
  return n;
}

function optionalDuration(a: ArgReader, i: number, name: string): number {
  const ms = a.optional(i, name, "duration") ?? 0;
  if (ms < 0) throw a.error(i, name, "must not be negative");
  return ms;
}

/** The arguments after failures (and window): timeout, half-open requests, idle TTL. */
function tail(a: ArgReader, from: number) {
  return {
    timeout: optionalDuration(a, from, "timeout"),
    halfOpenRequests: a.has(from + 1) ? count(a, from + 1, "half-open requests") : 0,
    idleTTL: optionalDuration(a, from + 2, "idle TTL"),
  };
}

export const consecutiveBreaker: FilterSpec = {
  name: "consecutiveBreaker",
  create(args) {
    const a = readArgs("consecutiveBreaker", args).count(1, 4);
    return settingsFilter(breakerSettings({ type: "consecutive", failures: count(a, 0, "failures"), ...tail(a, 1) }));
  },
};

export const rateBreaker: FilterSpec = {
  name: "rateBreaker",
  create(args) {
    const a = readArgs("rateBreaker", args).count(2, 5);
    return settingsFilter(breakerSettings({ type: "rate", failures: count(a, 0, "failures"), window: count(a, 1, "window"), ...tail(a, 2) }));
  },
};

const DISABLED = breakerSettings({ type: "disabled" });

export const disableBreaker: FilterSpec = {
  name: "disableBreaker",
  create(args) {
    readArgs("disableBreaker", args).count(0);
    return settingsFilter(DISABLED);
  },
};

export const breakerFilters: FilterSpec[] = [consecutiveBreaker, rateBreaker, disableBreaker];
