/**
 * @module
 * `Cookie(name, re)`, after Skipper's predicates/cookie: the first cookie with that name (Go's
 * `req.Cookie`) must exist and its value match the unanchored expression.
 */
import { readArgs } from "../util/args.ts";
import type { PredicateSpec } from "./types.ts";

export const COOKIE = "Cookie";

const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;

const isSpace = (c: number) => c === SPACE || c === TAB;

/**
 * The value of the first cookie called `name` in a Cookie header (`a=1; b="2"`), surrounding
 * double quotes removed as Go does, or undefined. Bun joins repeated Cookie lines with "; ", so one
 * scan covers all of them. Allocates only the returned value.
 */
export function findCookie(header: string, name: string): string | undefined {
  const end = header.length;
  let pos = 0;
  while (pos < end) {
    let pairEnd = header.indexOf(";", pos);
    if (pairEnd < 0) pairEnd = end;
    let start = pos;
    while (start < pairEnd && isSpace(header.charCodeAt(start))) start++;
    const eq = start + name.length;
    if (header.startsWith(name, start) && eq < pairEnd && header.charCodeAt(eq) === 0x3d /* = */) {
      let valueStart = eq + 1;
      let valueEnd = pairEnd;
      while (valueEnd > valueStart && isSpace(header.charCodeAt(valueEnd - 1))) valueEnd--;
      if (valueEnd - valueStart >= 2 && header.charCodeAt(valueStart) === QUOTE && header.charCodeAt(valueEnd - 1) === QUOTE) {
        valueStart++;
        valueEnd--;
      }
      return header.slice(valueStart, valueEnd);
    }
    pos = pairEnd + 1;
  }
  return undefined;
}

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
