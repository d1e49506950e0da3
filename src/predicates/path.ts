/**
 * @module
 * `Path`, `PathSubtree` and `PathRegexp`. The first two never match anything themselves: they carry
 * the pattern the matcher's path tree is built from (see routing/path-pattern.ts for the syntax and
 * its errors). `PathRegexp` is an ordinary check against the cleaned request path.
 */
import { readArgs } from "../util/args.ts";
import type { PredicateSpec } from "./types.ts";

export const PATH = "Path";
export const PATH_SUBTREE = "PathSubtree";
export const PATH_REGEXP = "PathRegexp";

/** `Path("/users/:id")`, `Path("/static/*file")`. At most one tree predicate per route; weighs 0. */
export const pathSpec: PredicateSpec = {
  name: PATH,
  create(args) {
    const pattern = readArgs(PATH, args).count(1).string(0, "path");
    return { weight: 0, path: { pattern, subtree: false } };
  },
};

/** `PathSubtree("/api")`: `/api`, `/api/` and everything below; the rest becomes param `*`. Weighs 0. */
export const pathSubtreeSpec: PredicateSpec = {
  name: PATH_SUBTREE,
  create(args) {
    const pattern = readArgs(PATH_SUBTREE, args).count(1).string(0, "path");
    return { weight: 0, path: { pattern, subtree: true } };
  },
};

/** `PathRegexp(/\.json$/)`: unanchored, against the cleaned path. Repeatable; each one weighs 1. */
export const pathRegexpSpec: PredicateSpec = {
  name: PATH_REGEXP,
  create(args) {
    const re = readArgs(PATH_REGEXP, args).count(1).regexp(0, "path");
    return { weight: 1, match: (req) => re.test(req.path) };
  },
};
