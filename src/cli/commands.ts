/**
 * @module
 * sallyport's commands as a citty tree. citty holds the structure (names, descriptions,
 * subcommands, the default command) and runs each leaf's lifecycle; each leaf parses its
 * own Go-style flags (see _goflag.ts for why citty's parser is not used).
 */
import { defineCommand, type CommandDef, type CommandMeta } from "citty";
import { validateConfig, type Config } from "../config/index.ts";
import { FlagError, parseFlags, quote, unexpectedArgs, type FlagDef, type ParsedFlags } from "./_goflag.ts";
import { renderUsage, type CommandLine } from "./_usage.ts";
import { configInput, flagForKey, SERVE_FLAGS } from "./flags.ts";
import { VERSION } from "./version.ts";

/** Exit codes, as Go's flag package and Skipper use them. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** What the entry point plugs in: the commands' real work. */
export interface CliHandlers {
  /**
   * Runs the proxy until it stops. May resolve to an exit code (1 for a failed start);
   * resolving to nothing means 0. A throw is reported as `Failed to start sallyport: …`, exit 1.
   */
  serve(config: Config): Promise<number | void> | number | void;
  /** Checks a command line and the files it names without starting; resolves to the exit code. */
  check(request: CheckRequest): Promise<number>;
  /** Writes a new interception CA into `dir` (ca.crt, ca.key) and prints how to trust it; resolves to the exit code. */
  caInit(dir: string): Promise<number>;
  /** Parses eskip from stdin and prints it; resolves to the exit code. */
  eskipParse(mode: EskipParseMode): Promise<number>;
  /** Prints what the command line's proxy would do with the request `words` describe (after `--`). */
  explain(config: Config, words: readonly string[]): Promise<number>;
  /** Checks a file of policy cases against the command line's routes and policy; 1 when one fails. */
  testPolicy(config: Config, file: string): Promise<number>;
}

/**
 * What `sallyport check` was asked: route files given as arguments, and the serve command line
 * around them — its config when the flags are valid, else the problems found in them.
 */
export interface CheckRequest {
  readonly files: readonly string[];
  readonly config: Config | undefined;
  /** one line per flag problem, as serve would print it */
  readonly issues: readonly string[];
}

export type EskipParseMode = "routes" | "filters" | "predicates";
const ESKIP_PARSE_MODES: readonly EskipParseMode[] = ["routes", "filters", "predicates"];

/** Where output goes; `process.stdout`/`process.stderr` fit, and so does a test buffer. */
export interface Writer {
  write(chunk: string): unknown;
}

export interface CliIO {
  stdout: Writer;
  stderr: Writer;
}

/**
 * How a leaf was reached, passed as citty's `data`: the command path for usage, the
 * arguments after it, and the parent's command list when the leaf runs as its parent's
 * default (`sallyport -address …`).
 */
export interface Invocation {
  path: readonly string[];
  /** the leaf's own arguments; citty's `rawArgs` stays empty so that its parser never sees them */
  argv: readonly string[];
  asDefaultOf?: { description: string; commands: readonly CommandLine[] };
}

/** A command that takes Go-style flags; its `run` gets the parsed flags and returns an exit code. */
interface GoCommandSpec {
  meta: CommandMeta & { name: string; description: string };
  flags?: readonly FlagDef[];
  /** synopsis of the positional arguments, e.g. `FILE...`; without it, any are an error */
  args?: string;
  /** what precedes the message when `run` throws; the command path by default */
  failure?: string;
  run(parsed: ParsedFlags): Promise<number> | number;
}

const DESCRIPTION =
  "An egress proxy in one binary: Skipper-style eskip routes, secrets injection, forward proxying.";

/** Builds the command tree around the given handlers and output streams. */
export function createCommands(handlers: CliHandlers, io: CliIO): CommandDef {
  return defineCommand({
    meta: { name: "sallyport", version: VERSION, description: DESCRIPTION },
    // Not citty's "when no subcommand is named" but "when the first argument is not one":
    // a Skipper command line starts with flags. See dispatch() in index.ts.
    default: "serve",
    subCommands: {
      serve: goCommand(io, {
        meta: { name: "serve", description: "Run the proxy (the default command)" },
        flags: SERVE_FLAGS,
        // Skipper's wording for a proxy that cannot start (cmd/skipper/main.go).
        failure: "Failed to start sallyport",
        run: (parsed) => serve(parsed, handlers, io),
      }),
      check: goCommand(io, {
        meta: { name: "check", description: "Validate a command line and the files it names (routes, egress lists, htpasswd, secrets paths), then exit" },
        flags: SERVE_FLAGS,
        args: "[FILE...]",
        run: (parsed) => {
          if (parsed.args.length === 0 && parsed.given.size === 0) throw new FlagError("check: nothing to check: give route files, serve flags, or both");
          const result = validateConfig(configInput(parsed));
          const issues = result.ok ? [] : result.issues.map((issue) => describeIssue(parsed, issue.key, issue.message));
          return handlers.check({ files: parsed.args, config: result.ok ? result.config : undefined, issues });
        },
      }),
      explain: goCommand(io, {
        meta: { name: "explain", description: "Print what the proxy would do with a request (route, filters, headers, egress decision, DNS, limits) without sending anything" },
        flags: SERVE_FLAGS,
        args: "-- METHOD URL [-H 'Name: value']... [--client ADDR] [--identity CN] [--user NAME] [--via forward|address|sni] [--no-dns]",
        run: (parsed) => handlers.explain(configFor(parsed, "explain"), parsed.args),
      }),
      "test-policy": goCommand(io, {
        meta: { name: "test-policy", description: "Check a file of cases (`GET https://api.github.com/x from 10.1.2.3 → allow`) against the routes and egress policy; exit 1 on a mismatch" },
        flags: SERVE_FLAGS,
        args: "FILE",
        run: (parsed) => {
          if (parsed.args.length !== 1) throw new FlagError(`test-policy: one case file, not ${parsed.args.length}`);
          return handlers.testPolicy(configFor(parsed, "test-policy"), parsed.args[0]!);
        },
      }),
      ca: defineCommand({
        meta: { name: "ca", description: "The CA that signs certificates for intercepted CONNECT hosts" },
        subCommands: {
          init: goCommand(io, {
            meta: { name: "init", description: "Write a new CA as DIR/ca.crt and DIR/ca.key (mode 0600; never overwrites) and print how clients trust it" },
            args: "DIR",
            run: ({ args }) => {
              if (args.length !== 1) throw new FlagError(args.length === 0 ? "ca init: the directory to write ca.crt and ca.key into is missing" : `ca init: one directory, not ${args.length}`);
              return handlers.caInit(args[0]!);
            },
          }),
        },
      }),
      eskip: defineCommand({
        meta: { name: "eskip", description: "eskip tools" },
        subCommands: {
          parse: goCommand(io, {
            meta: { name: "parse", description: "Parse eskip from stdin and print it as JSON" },
            flags: [{ name: "mode", kind: "string", default: "routes", usage: "what stdin holds: routes, filters or predicates" }],
            run: ({ values }) => {
              const mode = values.get("mode") as EskipParseMode;
              if (!ESKIP_PARSE_MODES.includes(mode)) {
                throw new FlagError(`invalid value ${quote(mode)} for flag -mode: must be routes, filters or predicates`);
              }
              return handlers.eskipParse(mode);
            },
          }),
        },
      }),
    },
  });
}

/** The usage screen of a command group: what `sallyport eskip -help` prints. */
export function groupUsage(path: readonly string[], description: string, commands: readonly CommandLine[]): string {
  return renderUsage({ synopsis: [`${path.join(" ")} <command> [arguments]`], description, commands });
}

async function serve(parsed: ParsedFlags, handlers: CliHandlers, io: CliIO): Promise<number> {
  if (parsed.values.get("version") === true) {
    io.stdout.write(`sallyport ${VERSION}\n`);
    return EXIT_OK;
  }
  const result = validateConfig(configInput(parsed));
  if (!result.ok) {
    // Not a syntax error, so no usage screen: one line per problem, every problem at once.
    for (const issue of result.issues) io.stderr.write(`${describeIssue(parsed, issue.key, issue.message)}\n`);
    return EXIT_USAGE;
  }
  return (await handlers.serve(result.config)) ?? EXIT_OK;
}

/** The serve flags of a command that reads a command line's configuration; a bad flag is a usage error. */
function configFor(parsed: ParsedFlags, command: string): Config {
  const result = validateConfig(configInput(parsed));
  if (!result.ok) throw new FlagError(result.issues.map((issue) => `${command}: ${describeIssue(parsed, issue.key, issue.message)}`).join("\n"));
  return result.config;
}

function describeIssue(parsed: ParsedFlags, key: string | undefined, message: string): string {
  const flag = key === undefined ? undefined : flagForKey(key);
  if (flag === undefined) return `invalid configuration: ${message}`;
  const given = parsed.given.get(flag.name) ?? String(flag.default);
  return `invalid value ${quote(given)} for flag -${flag.name}: ${message}`;
}

// Wraps a spec as a citty command whose run parses Go flags, answers -help, and turns a
// FlagError into message + usage + exit 2, the way Go's flag.ExitOnError does.
function goCommand(io: CliIO, spec: GoCommandSpec): CommandDef {
  const flags = spec.flags ?? [];
  return defineCommand({
    meta: spec.meta,
    async run({ rawArgs, data }): Promise<number> {
      // Without our dispatch (citty's runMain) there is no `data`; rawArgs is all there is then.
      const at = (data as Invocation | undefined) ?? { path: [spec.meta.name], argv: rawArgs };
      const { argv } = at;
      const usage = () => leafUsage(spec, at);
      try {
        const parsed = parseFlags(flags, argv);
        if (parsed.help) {
          // Go prints help to stderr; stdout lets `sallyport -help | less` work.
          io.stdout.write(usage());
          return EXIT_OK;
        }
        if (spec.args === undefined && parsed.args.length > 0) {
          // Nothing but a word given to the default command is a mistyped command name.
          if (at.asDefaultOf && parsed.args.length === argv.length) {
            throw new FlagError(`unknown command ${quote(argv[0]!)}`);
          }
          throw unexpectedArgs(flags, argv, parsed.args);
        }
        return await spec.run(parsed);
      } catch (error) {
        if (error instanceof FlagError) {
          io.stderr.write(`${error.message}\n${usage()}`);
          return EXIT_USAGE;
        }
        const message = error instanceof Error ? error.message : String(error);
        io.stderr.write(`${spec.failure ?? at.path.join(" ")}: ${message}\n`);
        return EXIT_FAILURE;
      }
    },
  });
}

function leafUsage(spec: GoCommandSpec, at: Invocation): string {
  const flags = spec.flags?.length ? " [flags]" : "";
  const args = spec.args ? ` ${spec.args}` : "";
  if (at.asDefaultOf) {
    const path = at.path.slice(0, -1).join(" ");
    return renderUsage({
      synopsis: [`${path}${flags}${args}`, `${path} <command> [arguments]`],
      description: at.asDefaultOf.description,
      commands: at.asDefaultOf.commands,
      flags: spec.flags,
    });
  }
  return renderUsage({
    synopsis: [`${at.path.join(" ")}${flags}${args}`],
    description: spec.meta.description,
    flags: spec.flags,
  });
}
