/**
 * @module
 * The eskip syntax tree. Its JSON shape is the one of `shared/conformance/eskip-cases.json`
 * (`routes`, `filters`, `predicates`), so `sallyport eskip parse` can print it as it is,
 * once the source locations (`loc`, non-enumerable) are left out by JSON.stringify.
 */

/** A `/.../` literal, kept apart from strings so the printer can write it back as a regexp. */
export interface RegExpArg {
  regexp: string;
}

export type Arg = string | number | RegExpArg;

/** Where a route, predicate or filter starts in its source: 1-based line and column (bytes). */
export interface Loc {
  line: number;
  column: number;
}

/** A predicate or filter call: `Host("a")`, `setPath("/x")`. */
export interface Call {
  name: string;
  args: Arg[];
  /** non-enumerable */
  loc?: Loc;
}

export type Backend =
  | { type: "network"; address: string }
  | { type: "shunt" }
  | { type: "loopback" }
  | { type: "dynamic" }
  | { type: "forward" }
  | { type: "lb"; algorithm?: string; endpoints: string[] };

export interface RouteDef {
  /** "" for the anonymous single route */
  id: string;
  predicates: Call[];
  filters: Call[];
  backend: Backend;
  /** non-enumerable */
  loc?: Loc;
}

export const isRegExpArg = (a: Arg): a is RegExpArg => typeof a === "object" && a !== null;
