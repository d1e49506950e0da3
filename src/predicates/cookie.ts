/**
 * @module
 * `Cookie(name, re)`, after Skipper's predicates/cookie: the first cookie with that name (Go's
 * `req.Cookie`) must exist and its value match the unanchored expression.
 */
import { readArgs } from "../util/args.ts";
import { findCookie } from "../util/http.ts";
import type { PredicateSpec } from "./types.ts";

export const COOKIE = "Cookie";

/** `Cookie("tcial", /^enabled$/)`. Weighs 1. */
export const cookieSpec: PredicateSpec = {
  name: COOKIE,
  create(args) {
    const a = readArgs(COOKIE, args).count(2);
    const name = a.string(0, "name");
    if (name === "" || name.includes("=") || name.includes(";")) {
      throw a.error(0, "name", `must be a cookie name, got ${JSON.stringify(name)}`);
    }
    const re = a.regexp(1, "value");
    return {
      weight: 1,
      match(req) {
        const header = req.headers.get("cookie");
        if (header === null) return false;
        const value = findCookie(header, name);
        return value !== undefined && re.test(value);
      },
    };
  },
};
