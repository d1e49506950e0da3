/**
 * @module
 * The checks Skipper's eskip.Parse runs on each parsed route (eskip/eskip.go
 * `newRouteDefinition` and `applyPredicates`), with Skipper's messages. They carry no position in
 * Skipper; here they name the offending predicate or endpoint so the caller can place them.
 */
import type { Arg, RouteDef } from "./ast.ts";
import { goQuote } from "./errors.ts";
import { parseRequestURI } from "./requri.ts";

export interface RouteProblem {
  /** Skipper's error text, e.g. `duplicate method predicate` */
  message: string;
  /** the message without the `invalid route "id": ` wrapper */
  reason: string;
  /** index of the offending predicate in `route.predicates` */
  predicate?: number;
  /** index of the offending LB endpoint */
  endpoint?: number;
}

/** Predicates Skipper moves into fixed route fields, with the number of string arguments they take. */
const arity = new Map([["Path", 1], ["Host", 1], ["PathRegexp", 1], ["Method", 1], ["Header", 2], ["HeaderRegexp", 2]]);

/** The first problem of a route, in Skipper's order: LB endpoints, then predicates in source order. */
export function checkRoute(route: RouteDef): RouteProblem | undefined {
  return checkEndpoints(route) ?? checkPredicates(route);
}

function checkEndpoints(route: RouteDef): RouteProblem | undefined {
  if (route.backend.type !== "lb") return undefined;
  let scheme = "";
  const endpoints = route.backend.endpoints;
  for (let i = 0; i < endpoints.length; i++) {
    const url = endpoints[i]!;
    const parsed = parseRequestURI(url);
    if ("error" in parsed) {
      const message = `parse ${goQuote(url)}: ${parsed.error}`;
      return { message, reason: message, endpoint: i };
    }
    // As in Skipper, a scheme-less endpoint only conflicts when it comes after one with a scheme.
    if (scheme !== "" && scheme !== parsed.scheme) {
      const message = "loadbalancer endpoints cannot have mixed protocols";
      return { message, reason: message, endpoint: i };
    }
    scheme = parsed.scheme;
  }
  return undefined;
}

function checkPredicates(route: RouteDef): RouteProblem | undefined {
  let path = false;
  let method = false;
  const headers = new Set<string>();
  const predicates = route.predicates;
  for (let i = 0; i < predicates.length; i++) {
    const p = predicates[i]!;
    const n = arity.get(p.name);
    if (n === undefined) continue;
    // The duplicate check comes before the argument check, as in Skipper.
    if (p.name === "Path" && path) return plain("duplicate path tree predicate", i);
    if (p.name === "Method" && method) return plain("duplicate method predicate", i);
    if (p.args.length !== n || !p.args.every(isStringArg)) {
      const reason = `${p.name} predicate expects ${n === 1 ? "1 string argument" : `${n} string arguments`}`;
      return { message: `invalid route ${goQuote(route.id)}: ${reason}`, reason, predicate: i };
    }
    if (p.name === "Path") path = true;
    if (p.name === "Method") method = true;
    if (p.name === "Header") {
      const name = argText(p.args[0]!);
      if (headers.has(name)) return plain(`duplicate header predicate: ${name}`, i);
      headers.add(name);
    }
  }
  return undefined;
}

const plain = (message: string, predicate: number): RouteProblem => ({ message, reason: message, predicate });

/** In Skipper a regexp literal is a string once parsed; only numbers fail. */
const isStringArg = (a: Arg) => typeof a !== "number";

/** Header names compare as strings; a regexp literal's value is its text. */
const argText = (a: Arg): string => (typeof a === "object" ? a.regexp : String(a));
