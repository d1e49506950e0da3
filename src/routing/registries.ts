/**
 * @module
 * The built-in filter and predicate registries a table is built with: what `serve` and `check`
 * both use, so a route that passes `check` builds the same way when served.
 */
import { builtinFilterRegistry, type FilterDeps } from "../filters/builtin.ts";
import { builtinPredicateRegistry } from "../predicates/builtin.ts";
import { NO_SECRETS } from "../secrets/index.ts";
import type { Registries } from "./build.ts";

/** Without deps (e.g. `check`), secret filters build but find no secrets. */
export const builtinRegistries = (deps: FilterDeps = { secrets: NO_SECRETS }): Registries => ({
  filters: builtinFilterRegistry(deps),
  predicates: builtinPredicateRegistry(),
});
