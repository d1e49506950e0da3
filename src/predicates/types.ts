/**
 * @module
 * The predicate contract. A predicate spec turns eskip arguments into a {@link Predicate};
 * the matcher reads a predicate's optional hints (`path`, `host`) to index routes, and
 * calls `match` for everything else.
 */
import type { Arg } from "../eskip/ast.ts";

/** What a predicate can see of a request. Fields are computed once per request, lazily where costly. */
export interface MatchRequest {
  readonly method: string;
  /** the raw Host header value, port included when the client sent one */
  readonly host: string;
  /** the request path, cleaned (`/a/./b/../c` → `/a/c`), not decoded */
  readonly path: string;
  readonly headers: Headers;
  /** the parsed query string */
  readonly query: URLSearchParams;
  /** the TCP peer address (no port) */
  readonly peer: string;
}

export interface Predicate {
  /** Omitted for predicates that only carry hints (Path, PathSubtree, Weight) or always match (True). */
  match?(req: MatchRequest): boolean;
  /** Contribution to the route's priority (Skipper's leaf weight). */
  weight: number;
  /** Path and PathSubtree place the route in the path tree instead of matching. */
  path?: { pattern: string; subtree: boolean };
  /** A plain, anchored host name the matcher may index by (lower-case, no port). */
  exactHost?: string;
  /**
   * Predicates of one route that share a group count their weight once. Skipper counts distinct
   * `Header` keys and distinct `HeaderRegexp` keys, not predicates: `HeaderRegexp("X", /a/) &&
   * HeaderRegexp("X", /b/)` weighs 1.
   */
  weightGroup?: string;
}

export interface PredicateSpec {
  readonly name: string;
  /** Throws an ArgError (util/args.ts) naming the bad argument. */
  create(args: readonly Arg[]): Predicate;
}
