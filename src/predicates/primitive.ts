/**
 * @module
 * `True()`, `False()` and `Weight(n)`: predicates that shape priority more than they match.
 */
import { readArgs } from "../util/args.ts";
import type { PredicateSpec } from "./types.ts";

export const TRUE = "True";
export const FALSE = "False";
export const WEIGHT = "Weight";

/** `True()`: always matches; arguments are ignored. Like any custom predicate it weighs 1. */
export const trueSpec: PredicateSpec = {
  name: TRUE,
  // No `match`: there is nothing to check, and the matcher skips predicates without one.
  create: () => ({ weight: 1 }),
};

/** `False()`: never matches; arguments are ignored. Weighs 1. */
export const falseSpec: PredicateSpec = {
  name: FALSE,
  create: () => ({ weight: 1, match: () => false }),
};

/**
 * `Weight(n)`: matches everything and adds `n` (truncated to an integer, as Go's `int(n)`) to the
 * route's priority. Several add up; a negative one lowers the route.
 */
export const weightSpec: PredicateSpec = {
  name: WEIGHT,
  create(args) {
    const n = readArgs(WEIGHT, args).count(1).number(0, "weight");
    return { weight: Math.trunc(n) };
  },
};
