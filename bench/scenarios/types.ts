/**
 * @module
 * What a scenario gets from the run (the temp dir, the tools, the binary, the mode, the shared
 * upstream) and what it is: an id for `--only`, a title, an estimate of its duration for the
 * line printed at the start, and the run itself, which returns plain results.
 */
import type { Mode } from "../modes.ts";
import type { ScenarioResult } from "../results.ts";
import type { RoundsContext } from "../rounds.ts";
import type { Upstream } from "../servers.ts";

export interface Ctx extends RoundsContext {
  /** the run's temp dir: one folder per server */
  readonly dir: string;
  /** tool name → absolute path, for those installed */
  readonly tools: Record<string, string>;
  /** the sallyport binary under test */
  readonly bin: string;
  readonly mode: Mode;
  readonly upstream: Upstream;
}

export interface Scenario {
  readonly id: string;
  readonly title: string;
  /** seconds this scenario should take in `mode`, measurements and fixed costs (starts, checks) */
  estimateSeconds(mode: Mode): number;
  run(ctx: Ctx): Promise<ScenarioResult>;
}

/** Why a contender that needs `tool` cannot run, or undefined when the tool is installed. */
export function missing(ctx: Ctx, tool: string): string | undefined {
  return ctx.tools[tool] ? undefined : `${tool} not installed (apt-get install ${tool} failed or is not allowed here)`;
}

/** The running contenders' setups, for the report's target list. */
export function targetsOf(...lists: { name: string; target?: { setup: string } }[][]): { name: string; setup: string }[] {
  const seen = new Map<string, string>();
  for (const list of lists) for (const s of list) if (s.target?.setup && !seen.has(s.name)) seen.set(s.name, s.target.setup);
  return [...seen].map(([name, setup]) => ({ name, setup }));
}

/** Seconds of `contenders` × `loads` wrk runs of `rounds` rounds: measurements, warm-ups, checks, starts. */
export function wrkSeconds(mode: Mode, contenders: number, loads: number, rounds = mode.rounds): number {
  return contenders * loads * (rounds * (mode.seconds + 0.3) + mode.warmup) + contenders;
}
