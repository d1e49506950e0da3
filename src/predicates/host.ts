/**
 * @module
 * `Host(re)`: the raw Host header, port included, against an unanchored RE2 expression
 * (Skipper's `matchLeaf` tests `req.Host`). `Host("a.localhost")` therefore also matches
 * `xa.localhost:9090`; write `Host(/^a\.localhost(:\d+)?$/)` to mean one name.
 */
import { readArgs } from "../util/args.ts";
import type { Predicate, PredicateSpec } from "./types.ts";

export const HOST = "Host";

// `^name$` or `^name(:\d+)?$`, where name is letters, digits, `-` and dots written `\.` or `[.]`. Such an
// expression matches nothing but that literal name (plus a port), so a request whose Host is not
// that name can never match it — which is what makes indexing the route by the name safe.
const NAME = String.raw`((?:[A-Za-z0-9-]|\\\.|\[\.\])+)`;
const OPTIONAL_PORT = String.raw`(?:\((?:\?:)?:(?:\\d|\[0-9\])\+\)\?)?`;
const EXACT_HOST = new RegExp(String.raw`^\^${NAME}${OPTIONAL_PORT}\$$`);

/**
 * The lower-cased host name an expression can only ever match, or undefined. The matcher uses it to
 * narrow the candidate routes and still runs the expression, so it only has to be a superset.
 */
export function exactHostOf(re: RegExp): string | undefined {
  const m = EXACT_HOST.exec(re.source);
  return m?.[1]?.replaceAll("\\.", ".").replaceAll("[.]", ".").toLowerCase();
}

/** `Host(/^api\.example\.com(:\d+)?$/)`. Repeatable; each one weighs 1. */
export const hostSpec: PredicateSpec = {
  name: HOST,
  create(args) {
    const a = readArgs(HOST, args).count(1);
    const re = a.regexp(0, "host");
    const predicate: Predicate = { weight: 1, match: (req) => re.test(req.host) };
    const exactHost = exactHostOf(re);
    if (exactHost !== undefined) predicate.exactHost = exactHost;
    return predicate;
  },
};
