/**
 * @module
 * `Header(name, value)` and `HeaderRegexp(name, re)`. Names are case-insensitive (Skipper
 * canonicalises them; fetch's Headers compares them lower-cased).
 *
 * Skipper sees each header line separately and matches if **any** line's value fits. Bun's
 * `Headers` joins repeated lines with ", ", so a value is tried whole first (one line, or a value
 * that itself contains commas) and then element by element.
 */
import type { ArgReader } from "../util/args.ts";
import { readArgs } from "../util/args.ts";
import { isHeaderName } from "../util/http.ts";
import type { PredicateSpec } from "./types.ts";

export const HEADER = "Header";
export const HEADER_REGEXP = "HeaderRegexp";

export function readHeaderName(a: ArgReader, i: number): string {
  const name = a.string(i, "name");
  // fetch's Headers throws on a name that is no RFC 9110 token, so refuse such a name up front.
  if (!isHeaderName(name)) throw a.error(i, "name", `must be a header name, got ${JSON.stringify(name)}`);
  return name.toLowerCase();
}

/** Whether `value` is the whole of `joined` or one of its ", "-separated elements; no allocation. */
export function hasListElement(joined: string, value: string): boolean {
  if (joined === value) return true;
  const end = joined.length;
  for (let i = joined.indexOf(value); i >= 0; i = joined.indexOf(value, i + 1)) {
    const after = i + value.length;
    const startsElement = i === 0 || (i >= 2 && joined.startsWith(", ", i - 2));
    const endsElement = after === end || joined.startsWith(", ", after);
    if (startsElement && endsElement) return true;
    // indexOf clamps its start, so an empty value would be found at the end forever.
    if (i >= end) break;
  }
  return false;
}

/** Whether `re` matches `joined` or one of its ", "-separated elements. */
export function matchesListElement(joined: string, re: RegExp): boolean {
  if (re.test(joined)) return true;
  // Only repeated header lines (or a value with commas) get here: the split's cost is rare.
  if (!joined.includes(", ")) return false;
  for (const element of joined.split(", ")) if (re.test(element)) return true;
  return false;
}

/** `Header("X-Tenant", "acme")`: some value equals exactly. Weighs 1 per distinct name. */
export const headerSpec: PredicateSpec = {
  name: HEADER,
  create(args) {
    const a = readArgs(HEADER, args).count(2);
    const name = readHeaderName(a, 0);
    const value = a.string(1, "value");
    return {
      weight: 1,
      weightGroup: `${HEADER} ${name}`,
      match(req) {
        const joined = req.headers.get(name);
        return joined !== null && hasListElement(joined, value);
      },
    };
  },
};

/** `HeaderRegexp("User-Agent", /curl/)`: some value matches, unanchored. Weighs 1 per distinct name. */
export const headerRegexpSpec: PredicateSpec = {
  name: HEADER_REGEXP,
  create(args) {
    const a = readArgs(HEADER_REGEXP, args).count(2);
    const name = readHeaderName(a, 0);
    const re = a.regexp(1, "value");
    return {
      weight: 1,
      weightGroup: `${HEADER_REGEXP} ${name}`,
      match(req) {
        const joined = req.headers.get(name);
        return joined !== null && matchesListElement(joined, re);
      },
    };
  },
};
