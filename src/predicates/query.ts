/**
 * @module
 * `QueryParam(name[, re])`, after Skipper's predicates/query. Names and values are compared
 * decoded, as Go's `URL.Query()` and `URLSearchParams` both decode them.
 */
import { readArgs } from "../util/args.ts";
import type { PredicateSpec } from "./types.ts";

export const QUERY_PARAM = "QueryParam";

/**
 * `QueryParam("debug")`: the parameter is present, even empty (`?debug` or `?debug=`).
 * `QueryParam("page", /^[0-9]+$/)`: some value of it matches, unanchored. Weighs 1.
 */
export const queryParamSpec: PredicateSpec = {
  name: QUERY_PARAM,
  create(args) {
    const a = readArgs(QUERY_PARAM, args).count(1, 2);
    const name = a.string(0, "name");
    const re = a.optional(1, "value", "regexp");
    if (re === undefined) return { weight: 1, match: (req) => req.query.has(name) };
    return {
      weight: 1,
      match(req) {
        const first = req.query.get(name);
        if (first === null) return false;
        if (re.test(first)) return true;
        // Repeated parameters are rare; only then pay for the array.
        const all = req.query.getAll(name);
        for (let i = 1; i < all.length; i++) if (re.test(all[i]!)) return true;
        return false;
      },
    };
  },
};
