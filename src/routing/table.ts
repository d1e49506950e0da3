/**
 * @module
 * An immutable routing table. Reloads build a new one and swap the reference, so a request
 * always sees one whole table, never a half-applied update.
 */
import { print } from "../eskip/print.ts";
import { redactCredentials } from "../eskip/redact.ts";
import type { MatchRequest } from "../predicates/types.ts";
import type { Matcher } from "./matcher.ts";
import type { DuplicateRoute, Route, RouteProblem } from "./types.ts";

export interface RouteMatch {
  readonly value: Route;
  readonly params: Record<string, string>;
}

export class RoutingTable {
  /** how many routes serve their previous version because the new one is invalid */
  readonly kept: number;

  constructor(
    readonly routes: readonly Route[],
    readonly problems: readonly RouteProblem[],
    readonly matcher: Matcher<Route>,
    /** ids defined more than once; the last definition serves */
    readonly duplicates: readonly DuplicateRoute[] = [],
  ) {
    this.kept = problems.filter((p) => p.kept).length;
  }

  match(req: MatchRequest): RouteMatch | undefined {
    return this.matcher.match(req);
  }

  /** The live table as eskip, for `/routes`: credentials written into routes left out. */
  toEskip(): string {
    return print(this.routes.map((r) => redactCredentials(r.def)));
  }
}
