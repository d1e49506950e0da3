/**
 * @module
 * Rounds, round-robin: all contenders of a scenario are started together and stay up, and each
 * round runs every load once on every contender, the contenders' order rotated by one per round.
 * So a slow minute of the machine (another job, a thermal step) is spread over all contenders
 * instead of landing on whichever one ran then, and the tables can show the median round and how
 * far the rounds were apart. Every measurement also records what the proxy's process tree (peak
 * RSS, CPU) and the rest of the machine did meanwhile, and the error lines the servers logged.
 */
import { dirname } from "node:path";
import { LogWatch } from "./logs.ts";
import { ancestors, cpuSnapshot, otherCpu, processTree, resetPeakRss, stop, treeCpuSeconds, treePeakRssKiB } from "./procs.ts";
import type { Target } from "./servers.ts";

export interface Contender {
  readonly name: string;
  /** starts it (or returns a target for direct); a thrown error skips the contender with its first line */
  readonly start: () => Promise<Target>;
  /** why it cannot run at all (a tool that is not installed): skipped without trying */
  readonly unavailable?: string;
}

/** A contender after its start: running, or skipped with the reason. */
export interface Started {
  readonly name: string;
  readonly target?: Target;
  readonly skipped?: string;
}

/** One contender under one load in one round. */
export interface Sample<R> {
  readonly round: number;
  readonly result?: R;
  /** wall seconds of the measured run */
  readonly seconds: number;
  /** summed VmHWM of the proxy's process tree during the run */
  readonly peakRss?: { kib: number; processes: number };
  /** CPU seconds the proxy's tree used during the run */
  readonly cpuSeconds?: number;
  /** CPU seconds used meanwhile by processes that are not part of the benchmark */
  readonly otherCpuSeconds?: number;
  /** command lines of the busiest of those */
  readonly otherBusiest?: string[];
  /** wrong body afterwards, a server that died, a tool that failed */
  readonly problems: string[];
  /** error/warning lines the servers logged during the run */
  readonly logLines: string[];
}

/** All rounds of one contender under one load. */
export interface Series<R> {
  readonly name: string;
  readonly setup: string;
  readonly skipped?: string;
  readonly samples: Sample<R>[];
}

export interface Load<R> {
  /** short, for the progress lines */
  readonly label: string;
  run(t: Target): Promise<R>;
  /** an unrecorded run before a contender's first measurement of this load (JIT, caches, pools) */
  warm?(t: Target): Promise<unknown>;
  /** what is wrong after the run: a body, a counter; the target's own check() is added */
  check(t: Target): Promise<string[]>;
  /** wall seconds the result covers */
  seconds(r: R): number;
  /** one line for the progress output */
  describe(r: R): string;
}

/** What the runner needs from the run around it. */
export interface RoundsContext {
  /**
   * the servers every contender uses (the upstream, the sink): their logged errors count against
   * each measurement, and their CPU is not "other" (the idle contenders' is: they are not measured)
   */
  readonly shared: Target[];
  readonly progress: (line: string) => void;
}

/** Starts the contenders one after the other (a start is not measured); those that fail are skipped. */
export async function startAll(ctx: RoundsContext, scenario: string, contenders: readonly Contender[]): Promise<Started[]> {
  const started: Started[] = [];
  for (const c of contenders) {
    if (c.unavailable) {
      ctx.progress(`[${scenario}] ${c.name}: skipped: ${c.unavailable}`);
      started.push({ name: c.name, skipped: c.unavailable });
      continue;
    }
    try {
      started.push({ name: c.name, target: await c.start() });
    } catch (e) {
      const reason = (e as Error).message.split("\n")[0]!.replace(/; log \S+:$/, "");
      ctx.progress(`[${scenario}] ${c.name}: skipped: ${(e as Error).message}`);
      started.push({ name: c.name, skipped: reason });
    }
  }
  return started;
}

export async function stopStarted(started: readonly Started[]): Promise<void> {
  await Promise.all(started.map((s) => (s.target?.child ? stop(s.target.child) : undefined)));
}

/** `list` rotated left by `by`: round r starts with contender r. */
function rotate<T>(list: readonly T[], by: number): T[] {
  const k = list.length ? by % list.length : 0;
  return [...list.slice(k), ...list.slice(0, k)];
}

/**
 * `rounds` rounds of every load on every started contender, round-robin; returns per load (in the
 * order given) one series per contender (in the order given, skipped ones included).
 */
export async function runRounds<R>(ctx: RoundsContext, scenario: string, started: readonly Started[], loads: readonly Load<R>[], rounds: number): Promise<Series<R>[][]> {
  const samples = loads.map(() => new Map<string, Sample<R>[]>(started.map((s) => [s.name, []])));
  const running = started.filter((s) => s.target);
  for (let round = 1; round <= rounds; round++) {
    for (const [li, load] of loads.entries()) {
      for (const s of rotate(running, round - 1)) {
        const t = s.target!;
        if (round === 1 && load.warm) await load.warm(t).catch(() => undefined);
        const sample = await measureOnce(ctx, t, load, round);
        samples[li]!.get(s.name)!.push(sample);
        const trouble = sample.problems.length || sample.logLines.length ? ` ⚠ ${[...sample.problems, ...(sample.logLines.length ? [`${sample.logLines.length} log lines`] : [])].join("; ").slice(0, 160)}` : "";
        ctx.progress(`[${scenario}] round ${round}/${rounds} · ${load.label} · ${s.name}: ${sample.result ? load.describe(sample.result) : "no result"}${trouble}`);
      }
    }
  }
  return loads.map((_, li) =>
    started.map((s) => ({ name: s.name, setup: s.target?.setup ?? "", skipped: s.skipped, samples: samples[li]!.get(s.name)! })),
  );
}

/** The logs a measurement of `t` is charged with: the shared servers' and its own. */
export function logDirsOf(ctx: RoundsContext, t: Target): string[] {
  return [...ctx.shared, t].flatMap((s) => (s.child ? [dirname(s.child.log)] : []));
}

/**
 * The processes whose CPU is part of measuring `t`: this process and what started it (npm, a
 * shell), the shared servers and `t` itself. wrk and curl start and end within the run, so the
 * snapshots never see them.
 */
function measuredPids(ctx: RoundsContext, t: Target): Set<number> {
  const servers = [...ctx.shared, t].flatMap((s) => (s.child ? processTree(s.child.pid) : []));
  return new Set([process.pid, ...ancestors(process.pid), ...servers]);
}

async function measureOnce<R>(ctx: RoundsContext, t: Target, load: Load<R>, round: number): Promise<Sample<R>> {
  const t0 = performance.now();
  try {
    const m = await observe(t, logDirsOf(ctx, t), measuredPids(ctx, t), () => load.run(t));
    const problems = [...m.problems, ...(await load.check(t).catch((e) => [`check failed: ${(e as Error).message}`])), ...(t.check ? await t.check() : [])];
    return { ...m, round, seconds: load.seconds(m.result!), problems };
  } catch (e) {
    // wrk or curl failed outright: this round has no numbers, and says why
    return { round, seconds: (performance.now() - t0) / 1000, problems: [(e as Error).message.split("\n")[0]!.slice(0, 300)], logLines: [] };
  }
}

/**
 * Runs `run` and records what the proxy's process tree (peak RSS, CPU time) and the rest of the
 * machine (all but `measured`) did meanwhile, and the error lines logged over exactly that span.
 */
export async function observe<R>(target: Target, logDirs: string[], measured: Set<number>, run: () => Promise<R>): Promise<Omit<Sample<R>, "round" | "seconds">> {
  const child = target.child;
  const problems: string[] = [];
  if (child && !resetPeakRss(child.pid)) problems.push("could not reset VmHWM: peak RSS covers the process lifetime");
  const logs = new LogWatch(logDirs);
  const cpu0 = child ? treeCpuSeconds(child.pid) : 0;
  const machine0 = cpuSnapshot();
  const result = await run();
  const cpuSeconds = child ? treeCpuSeconds(child.pid) - cpu0 : undefined;
  const other = otherCpu(machine0, cpuSnapshot(), measured);
  const peakRss = child ? treePeakRssKiB(child.pid) : undefined;
  if (child && (child.proc.exitCode !== null || child.proc.signalCode !== null)) problems.push("the server process died during the run");
  return { result, peakRss, cpuSeconds, otherCpuSeconds: other.seconds, otherBusiest: other.busiest, problems, logLines: logs.newProblemLines() };
}
