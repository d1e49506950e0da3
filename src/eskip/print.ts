/**
 * @module
 * Turns the eskip syntax tree back into eskip text, in Skipper's layout
 * (`id: Path("/") && Method("GET") -> setPath("/x") -> "https://example.org";`).
 * Whatever it prints parses back to the same tree.
 */
import type { Arg, Backend, Call, RouteDef } from "./ast.ts";

export interface PrintOptions {
  /** one filter and the backend per line, indented, as Skipper's pretty printer does */
  pretty?: boolean;
}

/**
 * A routing document. A single route without id prints as an anonymous route (the form of
 * `-inline-routes`); otherwise every route needs an id and ends with ";", one per line.
 */
export function print(routes: readonly RouteDef[], options: PrintOptions = {}): string {
  if (routes.length === 1 && routes[0]!.id === "") return printRoute(routes[0]!, options);
  return routes
    .map((r) => {
      if (r.id === "") throw new TypeError("only a document of one single route may have a route without id");
      return `${symbol(r.id, "route id")}: ${printRoute(r, options)};`;
    })
    .join(options.pretty ? "\n\n" : "\n");
}

/** A route without its id: `predicates -> filters -> backend`. */
export function printRoute(route: RouteDef, options: PrintOptions = {}): string {
  const parts = [...route.filters.map(printCall), printBackend(route.backend)];
  const separator = options.pretty ? "\n  -> " : " -> ";
  return `${printPredicates(route.predicates)}${separator}${parts.join(separator)}`;
}

/** Predicates joined by "&&"; none at all is the catch-all `*`. */
export function printPredicates(predicates: readonly Call[]): string {
  return predicates.length ? predicates.map(printCall).join(" && ") : "*";
}

/** Filters joined by "->". */
export function printFilters(filters: readonly Call[]): string {
  return filters.map(printCall).join(" -> ");
}

export function printCall(call: Call): string {
  // Parsing drops `*`, but a tree built by hand may hold it.
  if (call.name === "*" && call.args.length === 0) return "*";
  return `${symbol(call.name, "predicate or filter name")}(${call.args.map(printArg).join(", ")})`;
}

export function printBackend(backend: Backend): string {
  switch (backend.type) {
    case "network":
      return printString(backend.address);
    case "lb": {
      const endpoints = backend.endpoints.map(printString);
      if (!endpoints.length) throw new TypeError("a load-balanced backend needs at least one endpoint");
      const algorithm = backend.algorithm ? [symbol(backend.algorithm, "LB algorithm")] : [];
      return `<${[...algorithm, ...endpoints].join(", ")}>`;
    }
    default:
      return `<${backend.type}>`;
  }
}

export function printArg(arg: Arg): string {
  if (typeof arg === "number") return printNumber(arg);
  if (typeof arg === "string") return printString(arg);
  return printRegExp(arg.regexp);
}

const stringEscapes: Record<string, string> = {
  "\\": "\\\\", '"': '\\"', "\x07": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
};

/** A double-quoted string; every backslash is doubled, since the lexer keeps unknown escapes. */
export function printString(s: string): string {
  return `"${s.replace(/[\\"\x07\b\f\n\r\t\v]/g, (c) => stringEscapes[c]!)}"`;
}

/**
 * A `/.../` literal. The lexer decodes only `\/` and `\\`, keeping `\d` and the like as written,
 * and it does not end the literal at a "/" inside an unescaped `[...]` class. So every "/" is
 * escaped, and backslashes are written so that no class is left open before the closing "/".
 */
export function printRegExp(value: string): string {
  // Keep escapes as written where possible; if that leaves a class open (`[\]` from source
  // `/[\\]/`), write the backslash before a "]" as `\\` so that the "]" closes the class.
  const plain = encodeRegExp(value, false);
  const text = plain.open ? encodeRegExp(value, true) : plain;
  if (text.open) throw new TypeError(`regexp ${JSON.stringify(value)} cannot be written in eskip: unclosed "["`);
  return `/${text.body}/`;
}

function encodeRegExp(value: string, closeClasses: boolean): { body: string; open: boolean } {
  let body = "";
  let open = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === "/") body += "\\/";
    else if (c === "\\") {
      const next = value[i + 1];
      // `\\` decodes to one backslash; `\x` stays `\x` and hides x from the class tracking.
      if (next === undefined || next === "/" || next === "\\" || (closeClasses && open && next === "]")) body += "\\\\";
      else {
        body += c + next;
        i++;
      }
    } else {
      if (c === "[") open = true;
      else if (c === "]") open = false;
      body += c;
    }
  }
  return { body, open };
}

/**
 * A number as eskip spells it: plain decimal digits, since eskip has no exponent syntax.
 * JavaScript's shortest round-trip digits are kept, so the value parses back exactly.
 */
export function printNumber(n: number): string {
  if (Number.isNaN(n)) throw new TypeError("NaN cannot be written in eskip");
  // Beyond the float64 range a long digit string parses to ±Infinity, in Go as in JavaScript.
  if (!Number.isFinite(n)) return `${n < 0 ? "-" : ""}1${"0".repeat(309)}`;
  if (Object.is(n, -0)) return "-0";
  const text = String(n);
  const e = text.indexOf("e");
  if (e < 0) return text;
  const sign = text.startsWith("-") ? "-" : "";
  const mantissa = text.slice(sign.length, e);
  const exponent = Number(text.slice(e + 1));
  const dot = mantissa.indexOf(".");
  const digits = mantissa.replace(".", "");
  // Position of the decimal point within `digits` once the exponent is applied.
  const point = (dot < 0 ? mantissa.length : dot) + exponent;
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

const symbolRe = /^[A-Za-z_][A-Za-z0-9_]*$/;

function symbol(name: string, what: string): string {
  if (!symbolRe.test(name)) throw new TypeError(`invalid ${what} ${JSON.stringify(name)}: not an eskip symbol`);
  return name;
}
