/**
 * @module
 * Route path patterns as Skipper reads them (routing/matcher.go `normalizePath`,
 * `extractWildcardParamNames`, `addSubtreeLeafsToPath`):
 *
 * - `Path("/a/:id")`: `:name` matches one non-empty segment.
 * - `Path("/a/*rest")`, `Path("/a/**")`: a free wildcard matches the non-empty rest of the path and
 *   must come last (`free wildcard param should be last`). Its param value starts with "/".
 * - `PathSubtree("/a")`: registered at `/a`, `/a/` and `/a/**`; the sub-path (at least "/")
 *   becomes param `*`, or the name of a trailing `*rest` (`PathSubtree("/a/*rest")`).
 * - `:` or `*` inside a static segment (`/a:b`) is refused, as pathmux refuses it.
 *
 * Param names do not shape the tree: `/a/:id` and `/a/:name` share one position.
 */

/** A route's place(s) in the path tree and how to name what the tree captures. */
export interface PathPattern {
  /**
   * One segment list per tree position. A segment is a static string, `:` (one-segment
   * wildcard), `*` (catch-all, always last) or "" (always last: the path ends in a slash).
   */
  readonly positions: readonly (readonly string[])[];
  /** in path order; the catch-all / subtree name last */
  readonly paramNames: readonly string[];
  /** the last param is a free wildcard, so its value gets a leading "/" */
  readonly freeWildcard: boolean;
}

const FREE_WILDCARD = /\/\*[^/]*$/;

/**
 * Cleans a route pattern like Go's httppath.Clean: a leading "/", no empty, `.` or `..` segments,
 * and a trailing slash kept (also for a final `.`).
 */
export function cleanPatternPath(p: string): string {
  if (p === "") return "/";
  const kept: string[] = [];
  const segments = p.split("/");
  for (const seg of segments) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") kept.pop();
    else kept.push(seg);
  }
  const trailing = (p.length > 2 && p.endsWith("/")) || segments[segments.length - 1] === ".";
  const cleaned = "/" + kept.join("/");
  return trailing && kept.length > 0 ? cleaned + "/" : cleaned;
}

/** Throws an Error with Skipper's wording when the pattern cannot go into the tree. */
export function parsePathPattern(pattern: string, subtree: boolean): PathPattern {
  const path = cleanPatternPath(pattern);
  const tokens = path.slice(1).split("/");
  const paramNames: string[] = [];
  tokens.forEach((token, i) => {
    if (token.startsWith("*") && i < tokens.length - 1) throw new Error("free wildcard param should be last");
    const wildcard = token.startsWith(":") || token.startsWith("*");
    if (!wildcard && (token.includes(":") || token.includes("*"))) {
      throw new Error(`* or : in middle of path component ${JSON.stringify(token)}`);
    }
    if (wildcard && token.length > 1) paramNames.push(token.slice(1));
  });
  const hasFreeWildcard = FREE_WILDCARD.test(path);
  if (path.endsWith("/*") || (subtree && !hasFreeWildcard)) paramNames.push("*");

  let places = [path];
  if (subtree) {
    const base = path.replace(FREE_WILDCARD, "").replace(/\/$/, "");
    places = base === "" ? ["/", "/**"] : [base, `${base}/`, `${base}/**`];
  }
  return {
    positions: places.map(toSegments),
    paramNames,
    freeWildcard: subtree || hasFreeWildcard,
  };
}

function toSegments(place: string): string[] {
  return place
    .slice(1)
    .split("/")
    .map((s) => (s.startsWith(":") ? ":" : s.startsWith("*") ? "*" : s));
}

/** Shared by every match without params; frozen, so treat params as read-only. */
export const EMPTY_PARAMS: Record<string, string> = Object.freeze(Object.create(null));

/**
 * Names the captured values, the way Skipper's `matchPathTree` does: values are `path` slices at
 * `captures[2k]..captures[2k+1]`; names and values are aligned from the end; a subtree route found
 * at its base position captured one value fewer than it has names, and gets "" for the sub-path.
 */
export function nameParams(
  pattern: PathPattern,
  path: string,
  captures: readonly number[],
  count: number,
): Record<string, string> {
  const names = pattern.paramNames;
  if (names.length === 0) return EMPTY_PARAMS;
  const subPathMissing = names.length === count + 1;
  const total = subPathMissing ? count + 1 : count;
  const params: Record<string, string> = Object.create(null);
  const aligned = Math.min(total, names.length);
  for (let k = 0; k < aligned; k++) {
    params[names[names.length - 1 - k]!] = capturedValue(path, captures, total - 1 - k, subPathMissing ? count : -1);
  }
  if (aligned > 0 && pattern.freeWildcard) {
    params[names[names.length - 1]!] = "/" + capturedValue(path, captures, total - 1, subPathMissing ? count : -1);
  }
  return params;
}

function capturedValue(path: string, captures: readonly number[], v: number, emptyAt: number): string {
  // The request path was decoded once when it arrived; a captured value is not decoded again.
  return v === emptyAt ? "" : path.slice(captures[2 * v], captures[2 * v + 1]);
}
