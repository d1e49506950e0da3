/** @module The runtime shape of a route, built from its eskip definition. */
import type { Loc, RouteDef } from "../eskip/ast.ts";
import type { Filter } from "../filters/types.ts";
import type { Balancer } from "./loadbalancer.ts";
import type { Origin } from "./origin.ts";

export type BackendTarget =
  | { readonly type: "network"; readonly origin: Origin }
  | { readonly type: "lb"; readonly balancer: Balancer }
  | { readonly type: "shunt" }
  | { readonly type: "loopback" }
  | { readonly type: "dynamic" };

export interface RouteFilter {
  readonly name: string;
  readonly filter: Filter;
}

export interface Route {
  readonly id: string;
  readonly def: RouteDef;
  readonly filters: readonly RouteFilter[];
  readonly backend: BackendTarget;
}

/** Skipper's reason codes (routing/errors.go); they double as metric labels. */
export type RouteProblemReason =
  | "unknown_filter"
  | "invalid_filter_params"
  | "unknown_predicate"
  | "invalid_predicate_params"
  | "failed_backend_split"
  | "invalid_matcher"
  /** not Skipper's: a filter or predicate spec threw something other than an argument error (a bug) */
  | "internal_error";

export interface RouteProblem {
  readonly id: string;
  /** the invalid definition */
  readonly def: RouteDef;
  readonly reason: RouteProblemReason;
  readonly message: string;
  readonly loc?: Loc;
  /** whether the route's previous, valid version serves in its place */
  readonly kept: boolean;
}

/** An id defined more than once; the last definition serves, as in Skipper. */
export interface DuplicateRoute {
  /** the later definition (the one that serves, when it is the last) */
  readonly def: RouteDef;
  /** the definition before it */
  readonly shadowed: RouteDef;
}
