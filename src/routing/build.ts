/**
 * @module
 * Turns eskip route definitions into a routing table. As in Skipper (routing/datasource.go), a
 * route that cannot be built is dropped and reported with a reason code; the others still serve.
 * Beyond Skipper, a route that was valid and turns invalid on a reload keeps serving its previous
 * version (see {@link BuildOptions.previous}): a typo in one edit should not take a live route down.
 */
import type { Backend, Call, RouteDef } from "../eskip/ast.ts";
import type { Filter, FilterSpec } from "../filters/types.ts";
import type { Predicate, PredicateSpec } from "../predicates/types.ts";
import { ArgError } from "../util/args.ts";
import { runSteps, runStepsAsync } from "../util/steps.ts";
import { createBalancer } from "./loadbalancer.ts";
import { matcherSteps } from "./matcher.ts";
import { parseOrigin } from "./origin.ts";
import { RoutingTable } from "./table.ts";
import type { BackendTarget, DuplicateRoute, Route, RouteFilter, RouteProblem, RouteProblemReason } from "./types.ts";

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

export interface BuildOptions {
  /**
   * The definitions serving now, by id (the table being replaced). A route whose new definition
   * is invalid keeps serving its previous one, reported as `kept`; a new id has nothing to keep.
   */
  readonly previous?: ReadonlyMap<string, RouteDef>;
}

export interface AsyncBuildOptions extends BuildOptions {
  /** routes built between two yields to the event loop */
  readonly yieldEvery?: number;
}

type Entry = { value: Route; predicates: Predicate[] };

/** Builds the table in one go: for `sallyport check`, tests and small tables. */
export function buildTable(defs: readonly RouteDef[], registries: Registries, options: BuildOptions = {}): RoutingTable {
  return runSteps(buildSteps(defs, registries, options));
}

/**
 * Builds the table as {@link buildTable} does, pausing for a macrotask every `yieldEvery` steps (a
 * route built, a route placed in the matcher) so that requests keep being served while a large
 * table is built.
 */
export function buildTableAsync(defs: readonly RouteDef[], registries: Registries, options: AsyncBuildOptions = {}): Promise<RoutingTable> {
  return runStepsAsync(buildSteps(defs, registries, options), options.yieldEvery ?? DEFAULT_YIELD_EVERY);
}

/** Steps (routes parsed, built or placed) between two turns of the event loop. */
export const DEFAULT_YIELD_EVERY = 2_000;

/** The one build, yielding after each route so that a driver decides when to pause. */
function* buildSteps(defs: readonly RouteDef[], registries: Registries, { previous }: BuildOptions): Generator<void, RoutingTable> {
  const { serving, duplicates } = lastDefinitions(defs);
  const problems: RouteProblem[] = [];
  const entries: Entry[] = [];
  for (const def of serving) {
    try {
      entries.push(buildRoute(def, registries));
    } catch (e) {
      if (!(e instanceof RouteBuildError)) throw e;
      const kept = buildPrevious(def, previous, registries);
      if (kept) entries.push(kept);
      problems.push({ id: def.id, def, reason: e.reason, message: e.message, loc: e.call?.loc ?? def.loc, kept: kept !== undefined });
    }
    yield;
  }
  const { matcher, routes } = yield* place(entries, previous, registries, problems);
  return new RoutingTable(routes, problems, matcher, duplicates);
}

/**
 * Puts the routes into a matcher. A route the matcher refuses (two path predicates, a wildcard
 * mid-path) is invalid like any other and keeps its previous version; that costs a second matcher
 * build, only when it happens.
 */
function* place(entries: Entry[], previous: BuildOptions["previous"], registries: Registries, problems: RouteProblem[]) {
  let { matcher, rejected } = yield* matcherSteps(entries);
  const refused = rejected.map((r) => r.value);
  const replacements = new Map<Route, Entry>();
  for (const { value, error } of rejected) {
    const kept = buildPrevious(value.def, previous, registries);
    if (kept) replacements.set(value, kept);
    problems.push({ id: value.id, def: value.def, reason: "invalid_matcher", message: error.message, loc: value.def.loc, kept: kept !== undefined });
  }
  if (replacements.size > 0) {
    entries = entries.map((e) => replacements.get(e.value) ?? e);
    ({ matcher, rejected } = yield* matcherSteps(entries));
  }
  const dropped = new Set([...refused, ...rejected.map((r) => r.value)]);
  for (const route of dropped) closeFilters(route.filters);
  return { matcher, routes: entries.map((e) => e.value).filter((r) => !dropped.has(r)) };
}

/** The previous version of an invalid route, built anew (the old table closes its own filters). */
function buildPrevious(def: RouteDef, previous: BuildOptions["previous"], registries: Registries): Entry | undefined {
  const old = previous?.get(def.id);
  // The same object failing again is not a previous version, just the same invalid route.
  if (old === undefined || old === def) return undefined;
  try {
    return buildRoute(old, registries);
  } catch (e) {
    if (e instanceof RouteBuildError) return undefined;
    throw e;
  }
}

/**
 * Which definitions serve: the last one of each id, in the order of those last definitions (as
 * within one Skipper routes file), and every id defined more than once.
 */
export function lastDefinitions(defs: readonly RouteDef[]): { serving: RouteDef[]; duplicates: DuplicateRoute[] } {
  const byId = new Map<string, RouteDef>();
  const duplicates: DuplicateRoute[] = [];
  for (const def of defs) {
    const shadowed = byId.get(def.id);
    if (shadowed) {
      duplicates.push({ def, shadowed });
      byId.delete(def.id); // keep the order of the serving definition
    }
    byId.set(def.id, def);
  }
  return { serving: [...byId.values()], duplicates };
}

/** `file:line:col: duplicate route id "x" (also defined at file:line:col)`; `where` names a definition's place. */
export function describeDuplicate({ def, shadowed }: DuplicateRoute, where: (def: RouteDef) => string): string {
  return `${where(def)}: duplicate route id ${JSON.stringify(def.id)} (also defined at ${where(shadowed)})`;
}

function buildRoute(def: RouteDef, registries: Registries): Entry {
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
