/**
 * @module
 * The explicit list of built-in filters. A new filter is one spec object added here.
 */
import { backendTimeout, dynamicBackendFilters } from "./backend.ts";
import { inlineContent, status } from "./content.ts";
import { headerFilters } from "./headers.ts";
import { modPath, setPath } from "./path.ts";
import { FilterRegistry } from "./registry.ts";
import type { FilterSpec } from "./types.ts";

export function builtinFilters(): FilterSpec[] {
  return [...headerFilters, setPath, modPath, status, inlineContent, backendTimeout, ...dynamicBackendFilters];
}

export const builtinFilterRegistry = (): FilterRegistry => new FilterRegistry(builtinFilters());
