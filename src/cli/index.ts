/**
 * @module
 * The command line: `runCli(argv, handlers)` parses Skipper-style flags, validates the
 * config and calls the handler for the chosen command. It never exits the process; the
 * entry point does that with the code it returns.
 *
 *   sallyport [flags]                      serve (the default command)
 *   sallyport check FILE...                validate route files
 *   sallyport eskip parse [-mode MODE]     parse eskip from stdin
 */
import { runCommand, type CommandDef, type SubCommandsDef } from "citty";
import {
  createCommands,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  groupUsage,
  type CliHandlers,
  type CliIO,
  type Invocation,
} from "./commands.ts";
import { quote } from "./_goflag.ts";
import type { CommandLine } from "./_usage.ts";

export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./commands.ts";
export type { CheckRequest, CliHandlers, CliIO, EskipParseMode, Writer } from "./commands.ts";
export { SERVE_FLAGS, startupWarnings } from "./flags.ts";
export type { ServeFlag } from "./flags.ts";
export type { FlagDef, FlagKind } from "./_goflag.ts";
export { VERSION } from "./version.ts";

/**
 * Runs the command line and resolves to the exit code: 0 ok, 2 for a command-line or
 * config error, 1 when a handler throws; `check` and `eskip parse` pass their own code on.
 * `serve` resolves once `handlers.serve` does, to its code or 0.
 *
 * @param argv the arguments after the program name (`process.argv.slice(2)`)
 * @param options output streams; `process.stdout`/`process.stderr` by default
 */
export async function runCli(argv: string[], handlers: CliHandlers, options: Partial<CliIO> = {}): Promise<number> {
  const io: CliIO = { stdout: options.stdout ?? process.stdout, stderr: options.stderr ?? process.stderr };
  const root = createCommands(handlers, io);
  const name = (await meta(root)).name ?? "sallyport";
  try {
    return await dispatch(root, argv, [name], io);
  } catch (error) {
    // Handlers' errors are reported by their command; this is for the machinery itself.
    io.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILURE;
  }
}

/**
 * Walks the citty tree by command names, then runs the leaf through citty's runCommand
 * (setup, run, cleanup). citty's own dispatch is not used because it would take the value
 * in `-address :9090` for a subcommand name; here, a first argument that is not a command
 * name goes to the default command, flags and all.
 *
 * The leaf's arguments travel in `data`, and citty gets no raw args: runCommand would run
 * its own parser over them first, and that parser reads some Go command lines differently
 * or throws on them (`-credentials-paths=/tmp/my_app` ended in `true is not iterable`).
 * Flags are parsed in one place only, _goflag.ts.
 */
async function dispatch(cmd: CommandDef, argv: string[], path: string[], io: CliIO, asDefault?: Invocation["asDefaultOf"]): Promise<number> {
  const subCommands = await resolve(cmd.subCommands);
  if (subCommands === undefined) {
    const data: Invocation = { path, argv, asDefaultOf: asDefault };
    const { result } = await runCommand(cmd, { rawArgs: [], data });
    return result as number;
  }

  const first = argv[0];
  const named = first === undefined ? undefined : await findSubCommand(subCommands, first);
  if (named !== undefined) return dispatch(named, argv.slice(1), [...path, first!], io);
  const { description = "" } = await meta(cmd);
  const commands = await commandLines(subCommands);
  const defaultName = await resolve(cmd.default);
  if (defaultName !== undefined && subCommands[defaultName] !== undefined) {
    return dispatch(await resolve(subCommands[defaultName]), argv, [...path, defaultName], io, { description, commands });
  }

  // A group without a default (`sallyport eskip`): all it can do is name its commands.
  const usage = groupUsage(path, description, commands);
  if (first === "-h" || first === "-help" || first === "--help") {
    io.stdout.write(usage);
    return EXIT_OK;
  }
  io.stderr.write(`${first === undefined ? "missing command" : `unknown command ${quote(first)}`}\n${usage}`);
  return EXIT_USAGE;
}

// By name or by meta.alias, as citty looks them up.
async function findSubCommand(subCommands: SubCommandsDef, name: string): Promise<CommandDef | undefined> {
  if (Object.hasOwn(subCommands, name)) return resolve(subCommands[name]!);
  for (const sub of Object.values(subCommands)) {
    const cmd = await resolve(sub);
    const alias = (await meta(cmd)).alias ?? [];
    if ((typeof alias === "string" ? [alias] : alias).includes(name)) return cmd;
  }
  return undefined;
}

async function commandLines(subCommands: SubCommandsDef): Promise<CommandLine[]> {
  const lines: CommandLine[] = [];
  for (const [name, sub] of Object.entries(subCommands)) {
    const { description = "", hidden } = await meta(await resolve(sub));
    if (!hidden) lines.push({ name, description });
  }
  return lines;
}

const meta = async (cmd: CommandDef) => (await resolve(cmd.meta)) ?? {};

// citty's Resolvable<T>: a value, a promise, or a function returning either.
async function resolve<T>(value: T | Promise<T> | (() => T | Promise<T>)): Promise<T> {
  return typeof value === "function" ? (value as () => T | Promise<T>)() : value;
}
