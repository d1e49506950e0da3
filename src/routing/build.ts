/**
 * @module
 * Turns eskip route definitions into a routing table. As in Skipper (routing/datasource.go), a
 * route that cannot be built is dropped and reported with a reason code; the others still serve.
 */
import type { Backend, Call, RouteDef } from "../eskip/ast.ts";
import type { Filter, FilterSpec } from "../filters/types.ts";
import type { Predicate, PredicateSpec } from "../predicates/types.ts";
import { ArgError } from "../util/args.ts";
import { createBalancer } from "./loadbalancer.ts";
import { createMatcher } from "./matcher.ts";
import { parseOrigin } from "./origin.ts";
import { RoutingTable } from "./table.ts";
import type { BackendTarget, Route, RouteFilter, RouteProblem, RouteProblemReason } from "./types.ts";

interface Lookup<T> {
  get(name: string): T | undefined;
}

export interface Registries {
  readonly filters: Lookup<FilterSpec>;
  readonly predicates: Lookup<PredicateSpec>;
}

class RouteBuildError extends Error {
  constructor(
    readonly reason: RouteProblemReason,
    message: string,
    readonly call?: Call,
  ) {
    super(message);
  }
}

/** Builds the table. Duplicate ids: the last definition wins, as within one Skipper routes file. */
export function buildTable(defs: readonly RouteDef[], registries: Registries): RoutingTable {
  const byId = new Map<string, RouteDef>();
  for (const def of defs) {
    byId.delete(def.id); // keep the order of the winning definition
    byId.set(def.id, def);
  }
  const problems: RouteProblem[] = [];
  const entries: { value: Route; predicates: Predicate[] }[] = [];
  for (const def of byId.values()) {
    try {
      entries.push(buildRoute(def, registries));
    } catch (e) {
      if (!(e instanceof RouteBuildError)) throw e;
      problems.push({ id: def.id, reason: e.reason, message: e.message, loc: e.call?.loc ?? def.loc });
    }
  }
  const { matcher, rejected } = createMatcher(entries);
  const dropped = new Set(rejected.map((r) => r.value));
  for (const { value, error } of rejected) {
    problems.push({ id: value.id, reason: "invalid_matcher", message: error.message, loc: value.def.loc });
  }
  const routes = entries.map((e) => e.value).filter((r) => !dropped.has(r));
  for (const r of dropped) closeFilters(r.filters);
  return new RoutingTable(routes, problems, matcher);
}

function buildRoute(def: RouteDef, registries: Registries): { value: Route; predicates: Predicate[] } {
  const predicates = def.predicates.map((call) =>
    create(call, registries.predicates, "unknown_predicate", "invalid_predicate_params", "predicate"),
  );
  const backend = buildBackend(def.backend);
  const filters: RouteFilter[] = [];
  try {
    for (const call of def.filters) {
      const filter: Filter = create(call, registries.filters, "unknown_filter", "invalid_filter_params", "filter");
      filters.push({ name: call.name, filter });
    }
  } catch (e) {
    closeFilters(filters);
    throw e;
  }
  return { value: { id: def.id, def, filters, backend }, predicates };
}

function create<T>(
  call: Call,
  registry: Lookup<{ create(args: Call["args"]): T }>,
  unknown: RouteProblemReason,
  invalid: RouteProblemReason,
  kind: string,
): T {
  const spec = registry.get(call.name);
  if (!spec) throw new RouteBuildError(unknown, `unknown ${kind} ${JSON.stringify(call.name)}`, call);
  try {
    return spec.create(call.args);
  } catch (e) {
    // Specs report bad arguments as ArgError; anything else is a bug in the spec, and saying
    // "invalid params" would send the route's author hunting for a mistake that is not theirs.
    if (e instanceof ArgError) throw new RouteBuildError(invalid, e.message, call);
    throw new RouteBuildError("internal_error", `internal error in ${kind} ${JSON.stringify(call.name)}: ${String(e)}`, call);
  }
}

function buildBackend(backend: Backend): BackendTarget {
  try {
    switch (backend.type) {
      case "network":
        return { type: "network", origin: parseOrigin(backend.address) };
      case "lb":
        return { type: "lb", balancer: createBalancer(backend.algorithm, backend.endpoints) };
      case "forward":
        throw new Error("<forward> backends need -forward-backend-url, which sallyport does not have; use a network backend");
      default:
        return { type: backend.type };
    }
  } catch (e) {
    throw new RouteBuildError("failed_backend_split", (e as Error).message);
  }
}

export function closeFilters(filters: readonly RouteFilter[]): void {
  for (const { filter } of filters) filter.close?.();
}
