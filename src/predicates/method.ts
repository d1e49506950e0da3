/**
 * @module
 * `Method(m)` compares exactly and case-sensitively, as Skipper's matcher does; `Methods(m...)`
 * is Skipper's predicates/methods: case-insensitive, limited to the standard methods.
 */
import { readArgs } from "../util/args.ts";
import type { PredicateSpec } from "./types.ts";

export const METHOD = "Method";
export const METHODS = "Methods";

const STANDARD_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
]);

/** `Method("GET")`. Weighs 1. */
export const methodSpec: PredicateSpec = {
  name: METHOD,
  create(args) {
    const method = readArgs(METHOD, args).count(1).string(0, "method");
    // Skipper stores the method as a plain field where "" means "no method condition" (and no weight).
    if (method === "") return { weight: 0 };
    return { weight: 1, match: (req) => req.method === method };
  },
};

/** `Methods("GET", "post")`: any of the listed methods, in any case. Weighs 1. */
export const methodsSpec: PredicateSpec = {
  name: METHODS,
  create(args) {
    const a = readArgs(METHODS, args).count(1, Infinity);
    const methods = new Set<string>();
    a.rest(0, "method", "string").forEach((m, i) => {
      const upper = m.toUpperCase();
      if (!STANDARD_METHODS.has(upper)) {
        throw a.error(i, "method", `${JSON.stringify(m)} is not allowed, use one of ${[...STANDARD_METHODS].join(", ")}`);
      }
      methods.add(upper);
    });
    // Clients send methods upper-case; only an odd one pays for the conversion.
    return { weight: 1, match: (req) => methods.has(req.method) || methods.has(req.method.toUpperCase()) };
  },
};
