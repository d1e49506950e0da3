/** Builds matchers from compact route descriptions: `route("a", ["Path", "/a"], ["Method", "GET"])`. */
import type { Arg } from "../../src/eskip/ast.ts";
import type { Matcher, MatcherEntry } from "../../src/routing/matcher.ts";
import { createMatcher } from "../../src/routing/matcher.ts";
import { predicate } from "../predicates/create.ts";
import type { RequestInit } from "../predicates/request.ts";
import { request } from "../predicates/request.ts";

export type Call = [name: string, ...args: Arg[]];

export function route(id: string, ...calls: Call[]): MatcherEntry<string> {
  return { value: id, predicates: calls.map(([name, ...args]) => predicate(name, ...args)) };
}

export function matcherOf(...routes: MatcherEntry<string>[]): Matcher<string> {
  const { matcher, rejected } = createMatcher(routes);
  if (rejected.length > 0) throw new Error(`rejected: ${rejected.map((r) => `${r.value}: ${r.error.message}`).join("; ")}`);
  return matcher;
}

/** The matched route id and params (as a plain object), or undefined. */
export function lookup(matcher: Matcher<string>, init: RequestInit): { id: string; params: Record<string, string> } | undefined {
  const found = matcher.match(request(init));
  return found && { id: found.value, params: { ...found.params } };
}

/** Just the id ("" when nothing matched), for compact tables. */
export const idFor = (matcher: Matcher<string>, init: RequestInit): string => matcher.match(request(init))?.value ?? "";
