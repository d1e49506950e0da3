/** Creates a built-in predicate by name, as the route builder would. */
import type { Arg } from "../../src/eskip/ast.ts";
import { builtinPredicateRegistry } from "../../src/predicates/builtin.ts";
import type { MatchRequest, Predicate } from "../../src/predicates/types.ts";

const registry = builtinPredicateRegistry();

export function predicate(name: string, ...args: Arg[]): Predicate {
  const spec = registry.get(name);
  if (!spec) throw new Error(`no predicate ${name}`);
  return spec.create(args);
}

/**
 * Runs a predicate's own check. One without `match` (Path, PathSubtree, True, Weight) throws
 * rather than "accepting": what those do happens in the matcher, and a stand-in answer here would
 * make a test pass whatever the predicate did. Test them through the matcher instead.
 */
export function accepts(p: Predicate, req: MatchRequest): boolean {
  if (p.match === undefined) throw new Error("this predicate has no match function; route requests through the matcher to test it");
  return p.match(req);
}
