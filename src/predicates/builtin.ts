/**
 * @module
 * The built-in predicates, listed explicitly (Skipper's `builtin.Filters()` shape): what is
 * loaded is visible here, and nothing registers itself as an import side effect.
 */
import { cookieSpec } from "./cookie.ts";
import { headerRegexpSpec, headerSpec } from "./header.ts";
import { hostSpec } from "./host.ts";
import { methodSpec, methodsSpec } from "./method.ts";
import { pathRegexpSpec, pathSpec, pathSubtreeSpec } from "./path.ts";
import { falseSpec, trueSpec, weightSpec } from "./primitive.ts";
import { queryParamSpec } from "./query.ts";
import type { Registry } from "../util/registry.ts";
import { createRegistry } from "../util/registry.ts";
import { clientIpSpec, sourceFromLastSpec, sourceSpec } from "./source.ts";
import type { PredicateSpec } from "./types.ts";

export function builtinPredicates(): PredicateSpec[] {
  return [
    hostSpec,
    pathSpec,
    pathSubtreeSpec,
    pathRegexpSpec,
    methodSpec,
    methodsSpec,
    headerSpec,
    headerRegexpSpec,
    cookieSpec,
    queryParamSpec,
    trueSpec,
    falseSpec,
    weightSpec,
    clientIpSpec,
    sourceSpec,
    sourceFromLastSpec,
  ];
}

export function builtinPredicateRegistry(): Registry<PredicateSpec> {
  return createRegistry(builtinPredicates(), "predicate");
}
