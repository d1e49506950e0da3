/** Go `flag` rules (skipper-semantics §7.1), one row per rule, against a table with every kind. */
import { describe, expect, test } from "bun:test";
import { FlagError, parseFlags, unexpectedArgs, type FlagDef, type FlagValue } from "../../src/cli/_goflag.ts";

const DEFS: readonly FlagDef[] = [
  { name: "address", kind: "string", default: ":9090", usage: "listen address" },
  { name: "preserve", kind: "bool", default: false, usage: "a bool" },
  { name: "loops", kind: "int", default: 9, usage: "an int" },
  { name: "timeout", kind: "duration", default: "60s", usage: "a duration" },
  { name: "files", kind: "list", default: ["default.eskip"], usage: "a comma list" },
  { name: "breaker", kind: "repeat", default: [], usage: "a repeatable flag" },
];

const BOOL_SPELLINGS: [string, boolean][] = [
  ["1", true], ["t", true], ["T", true], ["true", true], ["TRUE", true], ["True", true],
  ["0", false], ["f", false], ["F", false], ["false", false], ["FALSE", false], ["False", false],
];

interface Row {
  name: string;
  argv: string[];
  /** the flags that differ from their defaults */
  values?: Record<string, FlagValue>;
  args?: string[];
  help?: boolean;
}

const ROWS: Row[] = [
  { name: "no flags: defaults", argv: [], values: {} },
  { name: "-name value", argv: ["-address", ":1"], values: { address: ":1" } },
  { name: "-name=value", argv: ["-address=:1"], values: { address: ":1" } },
  { name: "--name value equals -name value", argv: ["--address", ":1"], values: { address: ":1" } },
  { name: "--name=value", argv: ["--address=:1"], values: { address: ":1" } },
  { name: "only the first = splits", argv: ["-address=a=b"], values: { address: "a=b" } },
  { name: "-name= sets the empty string", argv: ["-address="], values: { address: "" } },
  { name: "the next argument is the value even if it looks like a flag", argv: ["-address", "-loops"], values: { address: "-loops" } },
  { name: "a bool alone is true", argv: ["-preserve"], values: { preserve: true } },
  { name: "--bool alone is true", argv: ["--preserve"], values: { preserve: true } },
  { name: "-bool=false", argv: ["-preserve", "-preserve=false"], values: {} },
  ...BOOL_SPELLINGS.map(([text, value]): Row => ({ name: `-bool=${text}`, argv: [`-preserve=${text}`], values: value ? { preserve: true } : {} })),
  { name: "-bool false does not consume false", argv: ["-preserve", "false"], values: { preserve: true }, args: ["false"] },
  { name: "duration 10s", argv: ["-timeout", "10s"], values: { timeout: 10_000 } },
  { name: "duration 1m30s", argv: ["-timeout", "1m30s"], values: { timeout: 90_000 } },
  { name: "duration 300ms", argv: ["-timeout=300ms"], values: { timeout: 300 } },
  { name: "duration 1h", argv: ["-timeout", "1h"], values: { timeout: 3_600_000 } },
  { name: "duration 0", argv: ["-timeout", "0"], values: { timeout: 0 } },
  { name: "duration 1.5s", argv: ["-timeout", "1.5s"], values: { timeout: 1500 } },
  { name: "duration -2s", argv: ["-timeout", "-2s"], values: { timeout: -2000 } },
  { name: "int decimal", argv: ["-loops", "3"], values: { loops: 3 } },
  { name: "int 0x prefix", argv: ["-loops", "0x1f"], values: { loops: 31 } },
  { name: "int leading 0 is octal", argv: ["-loops", "017"], values: { loops: 15 } },
  { name: "int negative", argv: ["-loops=-1"], values: { loops: -1 } },
  { name: "scalars: the last one wins", argv: ["-loops", "1", "-loops", "2", "-address", ":1", "--address=:2"], values: { loops: 2, address: ":2" } },
  { name: "list: split on commas", argv: ["-files", "a.eskip,b.eskip"], values: { files: ["a.eskip", "b.eskip"] } },
  { name: "list: repeating replaces the whole list", argv: ["-files", "a,b", "-files", "c"], values: { files: ["c"] } },
  { name: "list: blanks and empty entries dropped", argv: ["-files", " a , ,b,"], values: { files: ["a", "b"] } },
  { name: "list: -name= clears it", argv: ["-files="], values: { files: [] } },
  { name: "repeat: every occurrence appends", argv: ["-breaker", "type=rate", "-breaker=type=consecutive"], values: { breaker: ["type=rate", "type=consecutive"] } },
  { name: "parsing stops at the first non-flag", argv: ["-loops", "1", "file", "-address", ":1"], values: { loops: 1 }, args: ["file", "-address", ":1"] },
  { name: "parsing stops after --, which is dropped", argv: ["-loops", "1", "--", "-address", ":1"], values: { loops: 1 }, args: ["-address", ":1"] },
  { name: "a lone - is an argument", argv: ["-", "x"], values: {}, args: ["-", "x"] },
  { name: "-h asks for help", argv: ["-h"], help: true },
  { name: "-help asks for help", argv: ["-help"], help: true },
  { name: "--help asks for help", argv: ["--help"], help: true },
  { name: "help stops parsing before later errors", argv: ["-loops", "1", "-help", "-nope"], help: true, args: ["-nope"] },
];

describe("parseFlags", () => {
  test.each(ROWS)("$name", ({ argv, values = {}, args = [], help = false }) => {
    const parsed = parseFlags(DEFS, argv);
    expect(parsed.help).toBe(help);
    expect(parsed.args).toEqual(args);
    if (help) return;
    const expected = { address: ":9090", preserve: false, loops: 9, timeout: 60_000, files: ["default.eskip"], breaker: [], ...values };
    expect(Object.fromEntries(parsed.values)).toEqual(expected);
  });

  test("given records the text last given, for error messages", () => {
    const parsed = parseFlags(DEFS, ["-loops", "0x1", "-loops", "0x2", "-preserve"]);
    expect(Object.fromEntries(parsed.given)).toEqual({ loops: "0x2", preserve: "true" });
  });

  test("defaults are not shared between parses", () => {
    (parseFlags(DEFS, []).values.get("files") as string[]).push("mutated");
    expect(parseFlags(DEFS, []).values.get("files")).toEqual(["default.eskip"]);
  });
});

const ERRORS: { name: string; argv: string[]; error: string }[] = [
  { name: "unknown flag", argv: ["-nope"], error: "flag provided but not defined: -nope" },
  { name: "unknown flag with --, named with one dash", argv: ["--nope=1"], error: "flag provided but not defined: -nope" },
  { name: "unknown flag after valid ones", argv: ["-loops", "1", "-nope"], error: "flag provided but not defined: -nope" },
  { name: "missing value", argv: ["-address"], error: "flag needs an argument: -address" },
  { name: "missing value after --name", argv: ["-loops", "1", "--address"], error: "flag needs an argument: -address" },
  { name: "a bare number is not a duration", argv: ["-timeout", "10"], error: 'invalid value "10" for flag -timeout: parse error' },
  { name: "unknown duration unit", argv: ["-timeout=10x"], error: 'invalid value "10x" for flag -timeout: parse error' },
  { name: "empty duration", argv: ["-timeout="], error: 'invalid value "" for flag -timeout: parse error' },
  { name: "int: not a number", argv: ["-loops", "abc"], error: 'invalid value "abc" for flag -loops: parse error' },
  { name: "int: 8 is not octal", argv: ["-loops", "08"], error: 'invalid value "08" for flag -loops: parse error' },
  { name: "int: no fractions", argv: ["-loops", "1.5"], error: 'invalid value "1.5" for flag -loops: parse error' },
  { name: "int: beyond int64", argv: ["-loops", "9223372036854775808"], error: 'invalid value "9223372036854775808" for flag -loops: value out of range' },
  { name: "bool: unknown spelling", argv: ["-preserve=yes"], error: 'invalid boolean value "yes" for -preserve: parse error' },
  { name: "bool: empty after =", argv: ["-preserve="], error: 'invalid boolean value "" for -preserve: parse error' },
  { name: "three dashes", argv: ["---address"], error: "bad flag syntax: ---address" },
  { name: "= right after the dash", argv: ["-=x"], error: "bad flag syntax: -=x" },
];

describe("parseFlags errors (Go's messages)", () => {
  test.each(ERRORS)("$name", ({ argv, error }) => {
    expect(() => parseFlags(DEFS, argv)).toThrow(new FlagError(error));
  });
});

describe("unexpectedArgs", () => {
  test.each([
    { name: "lists what is left, Go style", argv: ["-loops", "1", "a", "b"], message: "invalid arguments: [a b]" },
    {
      name: "explains a bool followed by its value",
      argv: ["-preserve", "false"],
      message: 'invalid arguments: [false]\n(a boolean flag takes its value after "=": -preserve=false)',
    },
    { name: "no hint when the word is not a bool", argv: ["-preserve", "maybe"], message: "invalid arguments: [maybe]" },
  ])("$name", ({ argv, message }) => {
    expect(unexpectedArgs(DEFS, argv, parseFlags(DEFS, argv).args).message).toBe(message);
  });
});
