/**
 * @module
 * Usage text in the shape of Go's `flag.PrintDefaults`, so `sallyport -help` reads like
 * `skipper -help`: flags sorted by name, a type word, usage on the next line, and the
 * default only when it is not the zero value.
 */
import { defaultValue, quote, type FlagDef } from "./_goflag.ts";

/** A subcommand line under "Commands:". */
export interface CommandLine {
  name: string;
  description: string;
}

export interface UsageSpec {
  /** e.g. `["sallyport [flags]", "sallyport <command> [arguments]"]` */
  synopsis: readonly string[];
  description?: string;
  commands?: readonly CommandLine[];
  flags?: readonly FlagDef[];
}

/** The full help screen: synopsis, description, commands, then the flag defaults. */
export function renderUsage(spec: UsageSpec): string {
  const [first = "", ...more] = spec.synopsis;
  const parts = [[`Usage: ${first}`, ...more.map((line) => `       ${line}`)].join("\n")];
  if (spec.description) parts.push(spec.description);
  if (spec.commands?.length) {
    const width = Math.max(...spec.commands.map((c) => c.name.length));
    const lines = spec.commands.map((c) => `  ${c.name.padEnd(width)}  ${c.description}`);
    parts.push(["Commands:", ...lines].join("\n"));
  }
  if (spec.flags?.length) parts.push(`Flags:\n${printDefaults(spec.flags)}`);
  return `${parts.join("\n\n")}\n`;
}

/** Go's `FlagSet.PrintDefaults`, byte for byte (tabs included). */
export function printDefaults(defs: readonly FlagDef[]): string {
  const sorted = [...defs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return sorted.map(flagLines).join("\n");
}

function flagLines(def: FlagDef): string {
  const { name, usage } = unquoteUsage(def);
  let line = `  -${def.name}${name ? ` ${name}` : ""}`;
  // Go keeps one-letter bool flags (`-v`) on one line; everything else wraps.
  line += line.length <= 4 ? "\t" : "\n    \t";
  return line + usage + defaultSuffix(def);
}

// Go's UnquoteUsage: a `word` in backquotes names the value; otherwise the type does.
function unquoteUsage(def: FlagDef): { name: string; usage: string } {
  const match = /`([^`]*)`/.exec(def.usage);
  if (match) return { name: match[1]!, usage: def.usage.replace(match[0], match[1]!) };
  const names: Record<FlagDef["kind"], string> = {
    string: "string",
    bool: "",
    int: "int",
    duration: "duration",
    list: "string",
    repeat: "value",
  };
  return { name: names[def.kind], usage: def.usage };
}

function defaultSuffix(def: FlagDef): string {
  const value = defaultValue(def);
  switch (def.kind) {
    case "string":
      return value === "" ? "" : ` (default ${quote(def.default)})`;
    case "list":
      return def.default.length === 0 ? "" : ` (default ${quote(def.default.join(","))})`;
    case "repeat":
      return def.default.length === 0 ? "" : ` (default [${def.default.join(" ")}])`;
    case "duration":
      return value === 0 ? "" : ` (default ${formatGoDuration(value as number)})`;
    default:
      return value === 0 || value === false ? "" : ` (default ${String(value)})`;
  }
}

/** Go's `time.Duration.String` for a value in milliseconds: 60000 → `1m0s`, 1.5 → `1.5ms`. */
export function formatGoDuration(ms: number): string {
  const sign = ms < 0 ? "-" : "";
  const ns = Math.round(Math.abs(ms) * 1e6);
  if (ns === 0) return "0s";
  if (ns < 1e3) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${decimal(ns, 1e3)}µs`;
  if (ns < 1e9) return `${sign}${decimal(ns, 1e6)}ms`;
  const hours = Math.floor(ns / 3600e9);
  const minutes = Math.floor((ns % 3600e9) / 60e9);
  const seconds = decimal(ns % 60e9, 1e9);
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}

// `value / unit` without float noise: whole part, then the remainder's digits, trailing zeros cut.
function decimal(value: number, unit: number): string {
  const whole = Math.floor(value / unit);
  const rest = value % unit;
  if (rest === 0) return String(whole);
  const digits = String(rest).padStart(String(unit).length - 1, "0").replace(/0+$/, "");
  return `${whole}.${digits}`;
}
