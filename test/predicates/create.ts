/** Creates a built-in predicate by name, as the route builder would. */
import type { Arg } from "../../src/eskip/ast.ts";
import { builtinPredicateRegistry } from "../../src/predicates/builtin.ts";
import type { Predicate } from "../../src/predicates/types.ts";

const registry = builtinPredicateRegistry();

export function predicate(name: string, ...args: Arg[]): Predicate {
  const spec = registry.get(name);
  if (!spec) throw new Error(`no predicate ${name}`);
  return spec.create(args);
}

/** Whether a predicate accepts a request; one without `match` accepts everything. */
export const accepts = (p: Predicate, req: Parameters<NonNullable<Predicate["match"]>>[0]) => p.match?.(req) ?? true;
