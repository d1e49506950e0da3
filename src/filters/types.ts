/**
 * @module
 * The filter contract, after Skipper's `filters.Spec` / `filters.Filter`: a spec turns eskip
 * arguments into a filter instance once per route; the instance's hooks run per request.
 * Instances are shared by all requests of a route: per-request data lives on the context, and
 * what a filter hands to the proxy goes into `ctx.state` under a key from exchange/keys.ts.
 */
import type { Arg } from "../eskip/ast.ts";
import type { RequestState, ResponseState, StateBag } from "../exchange/state.ts";

export interface FilterContext {
  readonly request: RequestState;
  /** set once the response phase starts */
  response: ResponseState | undefined;
  /** path parameters captured by Path/PathSubtree */
  readonly params: Readonly<Record<string, string>>;
  /** settings for the proxy: backend timeout, breaker, retry policy, dynamic target */
  readonly state: StateBag;
  /** Answer the request from the filter: later filters and the backend are skipped. */
  serve(response: ResponseState): void;
  /**
   * `giveBack` runs if the request never reaches the backend whole through the client's doing
   * (a body cut off or malformed, a destination the policy refuses; src/proxy/unsent.ts): a
   * rate limit gives its slot back.
   */
  onUnsent(giveBack: () => void): void;
}

export interface Filter {
  request?(ctx: FilterContext): void | Promise<void>;
  response?(ctx: FilterContext): void | Promise<void>;
  /** release what the instance holds when its route leaves the table */
  close?(): void;
}

export interface FilterSpec {
  readonly name: string;
  /** Throws an ArgError naming the bad argument. */
  create(args: readonly Arg[]): Filter;
}
