/**
 * @module
 * The one argument reader for predicate and filter specs. Skipper's specs each repeat their own
 * type assertions and answer a bare "invalid parameters"; here every spec reads its eskip
 * arguments through {@link readArgs}, and a wrong one becomes an {@link ArgError} that names the
 * spec, the argument (1-based, as a user counts) and what was wrong:
 *
 * ```ts
 * const a = readArgs("Header", args);
 * a.count(2);
 * const name = a.string(0, "name");
 * const value = a.regexp(1, "value"); // Header: argument 2 (value) must be a string, got number
 * ```
 */
import type { Arg } from "../eskip/ast.ts";
import { isRegExpArg } from "../eskip/ast.ts";
import { parseDuration } from "./duration.ts";

export { parseDuration };

/** A spec was given arguments it cannot use. Its message is meant for the person who wrote the route. */
export class ArgError extends Error {
  override readonly name = "ArgError";

  constructor(
    /** the predicate or filter name, e.g. `Header` */
    readonly spec: string,
    /** 0-based index of the bad argument; undefined when the argument count is wrong */
    readonly index: number | undefined,
    /** what the argument means, e.g. `value` */
    readonly argName: string | undefined,
    /** why it is wrong, e.g. `must be a string, got number` */
    readonly reason: string,
  ) {
    super(index === undefined ? `${spec}: ${reason}` : `${spec}: argument ${index + 1} (${argName}) ${reason}`);
  }
}

/** How an eskip value is described in error messages. */
export function describeArg(arg: Arg | undefined): string {
  if (arg === undefined) return "nothing";
  if (typeof arg === "number") return "number";
  if (typeof arg === "string") return "string";
  return "regexp";
}

/**
 * Compiles a Skipper (Go RE2) expression for JavaScript. RE2 expressions are unanchored and so
 * are JavaScript's, so the source is used as it is, with two RE2 spellings JavaScript lacks
 * rewritten: a leading flag group such as `(?i)` becomes the flag, and `(?P<name>` becomes `(?<name>`.
 * Throws the engine's SyntaxError for an invalid expression.
 */
export function compileRegExp(source: string): RegExp {
  let flags = "";
  let body = source;
  const leading = /^\(\?([ims]+)\)/.exec(body);
  if (leading) {
    flags = [...new Set(leading[1])].join("");
    body = body.slice(leading[0].length);
  }
  if (body.includes("(?P<")) body = body.replaceAll("(?P<", "(?<");
  return new RegExp(body, flags);
}

/** The value types {@link ArgReader.optional} and {@link ArgReader.rest} can read. */
export interface ArgKinds {
  string: string;
  number: number;
  integer: number;
  regexp: RegExp;
  duration: number;
}
export type ArgKind = keyof ArgKinds;

/** Reads the arguments of one spec call; every method throws an {@link ArgError} on a bad argument. */
export class ArgReader {
  constructor(
    readonly spec: string,
    readonly args: readonly Arg[],
  ) {}

  get length(): number {
    return this.args.length;
  }

  /** Checks the argument count; `max` defaults to `min`, pass `Infinity` for "at least". */
  count(min: number, max: number = min): this {
    const n = this.args.length;
    if (n >= min && n <= max) return this;
    throw new ArgError(this.spec, undefined, undefined, `expects ${expectedCount(min, max)}, got ${n}`);
  }

  has(i: number): boolean {
    return i < this.args.length;
  }

  string(i: number, name: string): string {
    const arg = this.#at(i, name);
    if (typeof arg !== "string") throw this.#wrongType(i, name, "a string", arg);
    return arg;
  }

  number(i: number, name: string): number {
    const arg = this.#at(i, name);
    if (typeof arg !== "number") throw this.#wrongType(i, name, "a number", arg);
    return arg;
  }

  integer(i: number, name: string): number {
    const n = this.number(i, name);
    if (!Number.isInteger(n)) throw this.error(i, name, `must be an integer, got ${n}`);
    return n;
  }

  /** A regexp literal or a string, compiled once here (never per request). */
  regexp(i: number, name: string): RegExp {
    const arg = this.#at(i, name);
    let source: string;
    if (typeof arg === "string") source = arg;
    else if (isRegExpArg(arg)) source = arg.regexp;
    else throw this.#wrongType(i, name, "a regexp or a string", arg);
    try {
      return compileRegExp(source);
    } catch (e) {
      throw this.error(i, name, `is not a valid regular expression: ${(e as Error).message}`);
    }
  }

  /**
   * A Go duration string (`"10s"`, `"1m30s"`, `"300ms"`) or a number of milliseconds, as Skipper's
   * duration arguments accept both. Returns milliseconds.
   */
  duration(i: number, name: string): number {
    const arg = this.#at(i, name);
    if (typeof arg === "number") return arg;
    if (typeof arg !== "string") throw this.#wrongType(i, name, "a duration", arg);
    try {
      return parseDuration(arg);
    } catch {
      throw this.error(i, name, `must be a duration like "10s", "1m30s" or "300ms", got ${JSON.stringify(arg)}`);
    }
  }

  /** The argument at `i` read as `kind`, or undefined when there are fewer arguments. */
  optional<K extends ArgKind>(i: number, name: string, kind: K): ArgKinds[K] | undefined {
    return this.has(i) ? this.#read(i, name, kind) : undefined;
  }

  /** All arguments from `from` on, each read as `kind`: `a.rest(0, "cidr", "string")`. */
  rest<K extends ArgKind>(from: number, name: string, kind: K): ArgKinds[K][] {
    const out: ArgKinds[K][] = [];
    for (let i = from; i < this.args.length; i++) out.push(this.#read(i, name, kind));
    return out;
  }

  /** An error about argument `i` for checks the reader does not know, e.g. a value out of range. */
  error(i: number, name: string, reason: string): ArgError {
    return new ArgError(this.spec, i, name, reason);
  }

  #read<K extends ArgKind>(i: number, name: string, kind: K): ArgKinds[K] {
    // The cast is sound: each branch returns the type ArgKinds maps `kind` to.
    return this[kind](i, name) as ArgKinds[K];
  }

  #at(i: number, name: string): Arg {
    const arg = this.args[i];
    if (arg === undefined) throw this.error(i, name, "is missing");
    return arg;
  }

  #wrongType(i: number, name: string, expected: string, arg: Arg): ArgError {
    return this.error(i, name, `must be ${expected}, got ${describeArg(arg)}`);
  }
}

export function readArgs(spec: string, args: readonly Arg[]): ArgReader {
  return new ArgReader(spec, args);
}

function expectedCount(min: number, max: number): string {
  const plural = (n: number) => (n === 1 ? "argument" : "arguments");
  if (min === max) return min === 0 ? "no arguments" : `${min} ${plural(min)}`;
  if (max === Infinity) return `at least ${min} ${plural(min)}`;
  if (min === 0) return `at most ${max} ${plural(max)}`;
  return max === min + 1 ? `${min} or ${max} arguments` : `${min} to ${max} arguments`;
}
