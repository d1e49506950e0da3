/**
 * @module
 * The explicit list of built-in filters. A new filter is one spec object added here.
 */
import { LimiterRegistry } from "../ratelimit/registry.ts";
import { systemClock } from "../util/clock.ts";
import { createRegistry, type Registry } from "../util/registry.ts";
import { backendTimeout, dynamicBackendFilters } from "./backend.ts";
import { breakerFilters } from "./circuit.ts";
import { inlineContent, status } from "./content.ts";
import { headerFilters } from "./headers.ts";
import { modPath, setPath } from "./path.ts";
import { ratelimitFilters } from "./ratelimit.ts";
import { retry } from "./retry.ts";
import { secretFilters } from "./secrets.ts";
import type { FilterSpec } from "./types.ts";
import type { SecretsReader } from "../secrets/index.ts";

/** What built-in filters need from the running proxy; passed in, never read from globals. */
export interface FilterDeps {
  /** the `-credentials-paths` store read by bearerinjector and setRequestHeaderFromSecret */
  readonly secrets: SecretsReader;
  /**
   * the limiters ratelimit and clientRatelimit count in, shared by routes with equal settings
   * and kept across route reloads; default: a fresh one (enough for `check`)
   */
  readonly ratelimits?: LimiterRegistry;
}

export function builtinFilters(deps: FilterDeps): FilterSpec[] {
  return [
    ...headerFilters, setPath, modPath, status, inlineContent, backendTimeout, ...dynamicBackendFilters,
    ...secretFilters(deps.secrets),
    ...breakerFilters, retry,
    ...ratelimitFilters(deps.ratelimits ?? new LimiterRegistry(systemClock)),
  ];
}

export const builtinFilterRegistry = (deps: FilterDeps): Registry<FilterSpec> => createRegistry(builtinFilters(deps), "filter");
