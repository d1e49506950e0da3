/**
 * @module
 * A port of Go's `flag` package rules, table-driven. Skipper is configured through Go's
 * `flag`, so its command lines (`-address :9090`, `--routes-file=a,b`, `-flag=false`) must
 * mean the same here. Messages are Go's, word for word.
 *
 * citty's parser (node:util.parseArgs underneath) reads `-address` as the short flags
 * `-a -d -d …`, silently accepts unknown flags and lets `-flag false` consume `false`.
 * Rewriting argv for it would still leave those differences, so flags are parsed here
 * and citty keeps what it is good at: the command tree and its metadata.
 */
import { parseDuration } from "../util/duration.ts";

export type FlagKind = "string" | "bool" | "int" | "duration" | "list" | "repeat";

interface FlagBase<K extends FlagKind, D> {
  /** without dashes: `address` is given as `-address` or `--address` */
  readonly name: string;
  readonly kind: K;
  readonly default: D;
  /** One line. A word in backquotes names the value in usage: "load `file`" → `-x file`. */
  readonly usage: string;
  /** where the value goes in the config object; flags without a key are actions (-version) */
  readonly key?: string;
}

/**
 * One flag. Kinds:
 * - `string`, `bool`, `int` (Go syntax: `0x1f`, `017`, `1_000`): the last one given wins;
 * - `duration`: Go syntax (`1m30s`), default written the same way, parsed to milliseconds;
 * - `list`: comma-separated; giving the flag again replaces the whole list;
 * - `repeat`: every occurrence appends one raw entry (Skipper's `-breaker`); `check` may refuse an
 *   entry as Go's `flag.Value.Set` does, its message becomes Go's `invalid value … for flag -x: …`.
 */
export type FlagDef =
  | FlagBase<"string", string>
  | FlagBase<"bool", boolean>
  | FlagBase<"int", number>
  | FlagBase<"duration", string>
  | FlagBase<"list", readonly string[]>
  | (FlagBase<"repeat", readonly string[]> & { readonly check?: (entry: string) => void });

export type FlagValue = string | boolean | number | string[];

export interface ParsedFlags {
  /** every declared flag by name, defaults filled in */
  values: Map<string, FlagValue>;
  /** the text each flag was last given on the command line, for error messages */
  given: Map<string, string>;
  /** what follows the flags: parsing stops at the first non-flag or after `--` */
  args: string[];
  /** `-h` or `-help` was seen (and not declared); parsing stopped there */
  help: boolean;
}

/** A command-line error; the message is Go's. Callers print it with usage and exit 2. */
export class FlagError extends Error {
  override name = "FlagError";
}

/** Parses `argv` against `defs` the way Go's `FlagSet.Parse` does. Throws {@link FlagError}. */
export function parseFlags(defs: readonly FlagDef[], argv: readonly string[]): ParsedFlags {
  const byName = new Map(defs.map((def) => [def.name, def]));
  const values = new Map(defs.map((def) => [def.name, defaultValue(def)]));
  const given = new Map<string, string>();
  const result = (help: boolean, rest: number): ParsedFlags => ({
    values,
    given,
    args: argv.slice(rest),
    help,
  });

  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    // "-" alone is an argument (conventionally stdin), not a flag.
    if (arg.length < 2 || arg[0] !== "-") break;
    const dashes = arg[1] === "-" ? 2 : 1;
    if (arg === "--") return result(false, i + 1);
    i++;

    let name = arg.slice(dashes);
    if (name === "" || name[0] === "-" || name[0] === "=") {
      throw new FlagError(`bad flag syntax: ${arg}`);
    }
    let value: string | undefined;
    const eq = name.indexOf("=");
    if (eq > 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }

    const def = byName.get(name);
    if (def === undefined) {
      if (name === "help" || name === "h") return result(true, i);
      throw new FlagError(`flag provided but not defined: -${name}`);
    }

    if (def.kind === "bool") {
      // A bool never takes the next argument: `-flag false` leaves `false` as a positional.
      const parsed = parseGoBool(value ?? "true");
      if (parsed === undefined) {
        throw new FlagError(`invalid boolean value ${quote(value ?? "")} for -${name}: parse error`);
      }
      values.set(name, parsed);
    } else {
      if (value === undefined) {
        if (i === argv.length) throw new FlagError(`flag needs an argument: -${name}`);
        value = argv[i++]!;
      }
      try {
        values.set(name, parseValue(def, value, values.get(name)!));
      } catch (error) {
        throw new FlagError(
          `invalid value ${quote(value)} for flag -${name}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
    given.set(name, value ?? "true");
  }
  return result(false, i);
}

/** The value a flag has when not given. */
export function defaultValue(def: FlagDef): FlagValue {
  switch (def.kind) {
    case "duration":
      return parseDuration(def.default);
    case "list":
    case "repeat":
      return [...def.default];
    default:
      return def.default;
  }
}

/** Go's `strconv.ParseBool`. */
export function parseGoBool(s: string): boolean | undefined {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(s)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(s)) return false;
  return undefined;
}

// Go's strconv.ParseInt(s, 0, 64): optional sign, 0x/0o/0b prefixes, a leading 0 for
// octal, and `_` only between digits (or right after a prefix).
const GO_INT = /^[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|0(?:_?[0-7])*|[1-9](?:_?\d)*)$/;
const INT64_MAX = 2n ** 63n - 1n;

/** Go's `strconv.ParseInt(s, 0, 64)`. Throws Go's flag reasons: `parse error`, `value out of range`. */
export function parseGoInt(s: string): number {
  if (!GO_INT.test(s)) throw new Error("parse error");
  const negative = s[0] === "-";
  let digits = s.replace(/^[+-]/, "").replaceAll("_", "");
  // BigInt reads 0x/0o/0b itself but takes "017" as decimal.
  if (/^0\d/.test(digits)) digits = `0o${digits.slice(1)}`;
  const n = negative ? -BigInt(digits) : BigInt(digits);
  if (n > INT64_MAX || n < -INT64_MAX - 1n) throw new Error("value out of range");
  return Number(n);
}

function parseValue(def: FlagDef, text: string, current: FlagValue): FlagValue {
  switch (def.kind) {
    case "string":
      return text;
    case "bool":
      return parseGoBool(text) ?? fail("parse error");
    case "int":
      return parseGoInt(text);
    case "duration":
      // Go's flag package reports every duration mistake as a bare "parse error".
      try {
        return parseDuration(text);
      } catch {
        return fail("parse error");
      }
    case "list":
      return splitList(text);
    case "repeat":
      def.check?.(text);
      return [...(current as string[]), text];
  }
}

/** `a, b,,c` → `["a", "b", "c"]`; empty entries are dropped so `-routes-file=` clears the list. */
export function splitList(text: string): string[] {
  return text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
}

/** Go's `%q` for the strings we print (close enough: JSON escapes what Go escapes). */
export const quote = (s: string): string => JSON.stringify(s);

const fail = (reason: string): never => {
  throw new Error(reason);
};

/**
 * The error for arguments left after the flags of a command that takes none. Skipper says
 * `invalid arguments: [false]`; we add why when a bare bool flag came right before, since
 * `-flag false` is the usual way to get here.
 */
export function unexpectedArgs(defs: readonly FlagDef[], argv: readonly string[], args: readonly string[]): FlagError {
  let message = `invalid arguments: [${args.join(" ")}]`;
  const previous = argv[argv.length - args.length - 1];
  const name = previous?.replace(/^--?/, "");
  const def = defs.find((d) => d.name === name);
  if (def?.kind === "bool" && parseGoBool(args[0] ?? "") !== undefined) {
    message += `\n(a boolean flag takes its value after "=": -${def.name}=${args[0]})`;
  }
  return new FlagError(message);
}
